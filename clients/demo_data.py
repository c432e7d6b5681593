"""What the demo (``clients/demo.py``) sets up: the agencies, the people and their password,
the three relying parties (where each lives, its port, name and scopes; the grants beyond the
usual ones) and the app roles each app grants in its own settings."""

from __future__ import annotations

import os

DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "Tangsel-Demo-2024!")

AGENCIES = [
    ("DISKOMINFO", "Dinas Komunikasi dan Informatika"),
    ("DINKES", "Dinas Kesehatan"),
    ("DISDUKCAPIL", "Dinas Kependudukan dan Pencatatan Sipil"),
]
# username, kind, display name, agency, NIP, what to try with them
PEOPLE = [
    ("siti", "citizen", "Siti Rahayu", None, None, "a citizen: register for events, Wi-Fi"),
    ("andi", "citizen", "Andi Pratama", None, None, "another citizen (e-sport team captain)"),
    (
        "rina",
        "staff",
        "Rina Wulandari",
        "DISKOMINFO",
        "198503122010012001",
        "event organizer and hotspot operator",
    ),
    (
        "budi",
        "staff",
        "Budi Santoso",
        "DINKES",
        "198001012005011001",
        "data publisher for Dinas Kesehatan (sees its restricted datasets)",
    ),
]
APPS = {
    # key: (directory, module, env prefix, port, name, scope)
    "event": (
        "event",
        "event",
        "EVENT_",
        8101,
        "Festival TI & E-Sport Tangsel",
        "openid profile email roles offline_access",
    ),
    "portal": (
        "data_portal",
        "data_portal",
        "PORTAL_",
        8102,
        "Portal Satu Data Tangsel",
        "openid profile email opd roles offline_access",
    ),
    "hotspot": (
        "hotspot",
        "hotspot",
        "HOTSPOT_",
        8103,
        "Wi-Fi Tangsel",
        "openid profile email roles offline_access",
    ),
}
# The hotspot also serves smart TVs and kiosks with the Device Authorization Grant (RFC 8628).
APP_GRANTS: dict[str, tuple[str, ...]] = {
    "hotspot": (
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
    ),
}
GRANT_ROLES = {
    "event": {"rina": ["organizer"]},
    "portal": {"budi": ["publisher"]},
    "hotspot": {"rina": ["hotspot-operator"]},
}
