"""The application's runtime: the base :class:`~sso.runtime.Runtime` (settings, engine, session
factory, encryptor) plus the process-wide services, as typed fields.

``sso.runtime`` sits just above the data layer and cannot name the services built on it, so the
typed runtime lives here, at the top of the service layers, and is built once by the
composition root (:func:`build_app_runtime`, called by ``sso.app.create_app``; tests build it
the same way). Everything is made when the runtime is built (threads start on first use); the
application's lifespan closes it (:meth:`AppRuntime.close`: thread pools shut down, engine
disposed). Routes reach it through the one accessor, :func:`sso.web.deps.runtime_of`.

Services below the web layer take what they need as parameters, or a small Protocol of the
fields they use, declared where it is used (``sso.oidc.backchannel.DeliveryRuntime``,
``sso.oidc.provider.ProviderRuntime``, ``sso.web.load_shedding.LineRuntime``): this class
satisfies them structurally.

Nothing here is state another worker needs: the key cache, client cache and upstream metadata
are short-lived copies every worker revalidates against the database (or the upstream); the
throttle and rate counters count in the database or Redis when one is configured.
"""

from __future__ import annotations

from dataclasses import dataclass

from sso.accounts.mail import Mailer
from sso.accounts.passwords import PasswordHasher
from sso.accounts.throttle import Throttle
from sso.config import Settings
from sso.core.pools import ThreadPool
from sso.federation.metadata import MetadataCache
from sso.oauth.server import TokenServer
from sso.oidc.discovery import documents
from sso.oidc.keys import KeyService
from sso.oidc.provider import build_server
from sso.runtime import Runtime, build_runtime
from sso.web.load_shedding import WindowCounters
from sso.web.metrics import Metrics, build_metrics

BACKCHANNEL_THREADS = 4


@dataclass(eq=False)
class AppRuntime(Runtime):
    keys: KeyService  # the signing key set and its per-process cache
    token_server: TokenServer  # /token, /introspect, /revoke, /device_authorization, /userinfo
    throttle: Throttle  # guessing protection of logins and one-time codes
    password_hasher: PasswordHasher
    mailer: Mailer
    metrics: Metrics
    upstream_metadata: MetadataCache  # discovery documents and JWKS of upstream providers
    discovery: tuple[bytes, bytes]  # openid-configuration, oauth-authorization-server
    api_rate: WindowCounters  # the Admin API's per-client budget
    token_pool: ThreadPool  # the token endpoints' own threads (sso.web.routes.token)
    backchannel_pool: ThreadPool  # back-channel logout sends (sso.oidc.backchannel)

    def close(self) -> None:
        """End of the application's lifespan: the token threads finish what is in flight
        (uvicorn has answered every request by then); queued back-channel sends are dropped,
        to be retried by the delivery worker of any process; the engine's connections close.
        A lifespan that starts again in this process gets fresh threads on first use."""
        self.token_pool.shutdown(wait=True)
        self.backchannel_pool.shutdown(wait=False, cancel_futures=True)
        self.password_hasher.close()
        self.dispose()


def build_app_runtime(settings: Settings) -> AppRuntime:
    """The engine, sessions and every service, built once (by ``create_app``)."""
    base = build_runtime(settings)
    keys = KeyService(base)
    return AppRuntime(
        settings=base.settings,
        engine=base.engine,
        sessions=base.sessions,
        encryptor=base.encryptor,
        keys=keys,
        token_server=build_server(base, keys),
        throttle=Throttle(base.settings, base.sessions),
        password_hasher=PasswordHasher(base.settings),
        mailer=Mailer(base.settings),
        metrics=build_metrics(base.settings, base.engine),
        upstream_metadata=MetadataCache(base.settings),
        discovery=documents(base.settings),
        api_rate=WindowCounters(base.settings.redis_url),
        # As many token threads as the database pool keeps connections. Not twice as many (the
        # pool's overflow too): a busy worker then opened and closed overflow connections all
        # the time, a tenth of a token's CPU spent connecting (bench/README.md, fourth round).
        token_pool=ThreadPool(max(4, base.settings.database_pool_size), "sso-token"),
        backchannel_pool=ThreadPool(BACKCHANNEL_THREADS, "backchannel-logout"),
    )
