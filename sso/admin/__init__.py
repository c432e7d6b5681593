"""The admin UI (``/admin``): users, agencies, roles, clients, sessions, keys and the audit log,
with access by role (admin, opd-admin, helpdesk, auditor) enforced on the server."""
