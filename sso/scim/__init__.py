"""SCIM 2.0 provisioning at /scim/v2 (RFC 7643 schemas, RFC 7644 protocol): staff as Users
(with the enterprise extension: NIP, agency), agencies as Groups. Changes go through the admin
console's service functions; searches are SQL (:mod:`sso.storage.scim`)."""
