"""Portal Satu Data Tangsel: the city's open-data catalogue, a relying party of Tangsel SSO.

Datasets (title, agency, description, licence, CSV versions) are public, or restricted to the
staff of the owning agency (from the ``opd`` claim); staff with the ``publisher`` role upload
new CSV versions for their agency. A JSON API (``/api/datasets``) accepts the provider's JWT
access tokens, checked locally with its JWKS (``tangsel_rp.bearer``), with the
``datasets:read`` and ``datasets:write`` scopes; ``push_dataset.py`` next to this package is
the machine-to-machine example (client credentials grant).
"""
