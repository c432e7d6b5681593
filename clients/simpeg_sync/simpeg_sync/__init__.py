"""A staff-register sync: SIMPEG's export in, SCIM 2.0 calls to Tangsel SSO out."""
