"""Account rules: identifiers (username, email, NIP, NIK), passwords, creating and
authenticating people. No HTTP here."""
