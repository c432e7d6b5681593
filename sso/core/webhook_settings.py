"""Settings of webhook delivery (issue 16): the receiver's timeout, the retry window and
back-off, and how often each worker's sender looks at the outbox. A part of
:class:`sso.config.Settings` (which inherits it), kept apart like the phone-code settings; every
field is still an ``SSO_`` variable in the README's table.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class WebhookSettings(BaseSettings):
    webhook_timeout: float = Field(
        10.0, description="Seconds to wait for a webhook receiver's answer."
    )
    webhook_retry_window: int = Field(
        86400,
        description=(
            "Seconds a webhook delivery is retried (exponential back-off) from its first attempt "
            "before it fails; a subscription whose deliveries have all failed this long is paused."
        ),
    )
    webhook_retry_base: float = Field(
        5.0,
        description="Seconds before the first retry of a webhook; each retry waits twice as long.",
    )
    webhook_retry_cap: float = Field(
        3600.0, description="Longest wait between two attempts of a webhook delivery (s)."
    )
    webhook_worker_interval: float = Field(
        2.0,
        description=(
            "Seconds between two looks of each worker's webhook sender at the outbox (it is also "
            "woken at once when its own process queues an event)."
        ),
    )
