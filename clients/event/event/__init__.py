"""Tangsel IT festival and e-sport registrations: a relying party of Tangsel SSO.

Public list of events (festival talks, e-sport tournaments with a team size); people log in
with their city account and register themselves or a team, see and cancel their
registrations; staff with the ``organizer`` app role create and edit events and export the
registrants as CSV. Capacity holds under concurrent registrations (see ``service.register``).
"""
