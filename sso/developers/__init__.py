"""The developer portal (``/developers``) and Dynamic Client Registration (RFC 7591/7592)."""
