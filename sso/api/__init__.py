"""The Admin REST API at ``/api/admin/v1`` (issue 16): what the admin console does, for other
systems (the staff register, the helpdesk, the security operations centre).

A separate FastAPI application mounted on the provider, with its own OpenAPI 3.1 description
(``/api/admin/v1/openapi.json``) and errors as RFC 9457 problem details. Callers are machine
clients with a ``client_credentials`` access token from our own /token carrying ``admin:read``
and/or ``admin:write`` (:mod:`sso.web.machine_auth`); a client limited to an agency acts as an
opd-admin of that agency. Routes call the same services as the console
(:mod:`sso.admin.services`, whose :mod:`~sso.admin.services.authority` holds the rules), so a
refusal in one is a refusal in the other.

Modules: :mod:`.app` (the application, error handlers, per-call audit and rate limit),
:mod:`.common` (the call, pages and ``Link`` headers, ETags), one module per resource.
"""
