"""The federation tests' fixtures: the upstream server, its registration here, the app."""

from tests.federation.broker import inapas, registered, rp  # noqa: F401
