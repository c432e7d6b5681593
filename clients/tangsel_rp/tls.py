"""One TLS context for every call to the provider.

httpx builds a new SSL context (loading the whole CA bundle) for each client it makes, and
Authlib makes a client per request: about 0.2 s of CPU before every token or userinfo call.
Sharing one context (it is safe to share between threads) removes that cost.
"""

from __future__ import annotations

import ssl

import certifi

SSL_CONTEXT = ssl.create_default_context(cafile=certifi.where())
