"""Configuration as code: ``sso config export`` writes the provider's configuration (agencies,
roles, role assignments to agencies, clients, and what later kinds add) as one YAML document in
a stable order; ``sso config apply`` reads such a document, reports every problem at once,
prints a plan (create / change / delete per object, with the changed fields) and carries it out
in one transaction through the same service functions as the admin console
(:mod:`sso.admin.services`), so the console's rules hold and its audit events are written, with
the actor ``config-apply``.

One module per kind of object (:mod:`.agencies`, :mod:`.roles`, :mod:`.clients` …), each a
:class:`~sso.config_code.model.Handler`: rows to dicts for the export, the file's entries to
the same dicts, and the service calls that turn one into the other. :mod:`.engine` diffs and
applies; adding a kind is one module and one line in :data:`sso.config_code.engine.HANDLERS`.

Secrets never appear in the file: a field that holds one is a ``${ENV_NAME}`` reference,
read from the environment when the file is applied."""
