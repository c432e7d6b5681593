"""Wi-Fi Tangsel captive portal: a relying party of Tangsel SSO.

The access point sends a joining phone here with its location id and the device's MAC
address; the person logs in with their city account; the portal records an access session for
that device and location within a daily time quota, shows the time left, and answers the
gateway's question "may this device use the internet here?" (``/api/gateway/decision``).
Staff with the ``hotspot-operator`` role see usage per location. Devices without a browser
(smart TVs, kiosks) log in with the OAuth 2.0 Device Authorization Grant (RFC 8628), see
``hotspot.device``.
"""
