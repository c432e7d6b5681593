"""A readable summary of a User-Agent header: the browser and the operating system ("Chrome"
and "Android", shown as "Chrome di Android"). Only well-known names are recognised; the header
is untrusted text and is never echoed whole."""

from __future__ import annotations

from dataclasses import dataclass

# Order matters: browsers built on Chromium also say "Chrome/" and "Safari/"; Android says
# "Linux"; iPhone browsers say "like Mac OS X".
_BROWSERS = (
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("UCBrowser/", "UC Browser"),
    ("YaBrowser/", "Yandex"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("okhttp/", "okhttp"),
    ("python-requests/", "Python"),
    ("python-httpx/", "Python"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Ubuntu", "Ubuntu"),
    ("Linux", "Linux"),
)


@dataclass(frozen=True)
class Device:
    browser: str | None
    system: str | None

    @property
    def known(self) -> bool:
        return bool(self.browser or self.system)


def summarise(user_agent: str | None) -> Device:
    """The browser and system named in ``user_agent`` (either may be None)."""
    text = (user_agent or "")[:512]
    browser = next((name for mark, name in _BROWSERS if mark in text), None)
    system = next((name for mark, name in _SYSTEMS if mark in text), None)
    return Device(browser, system)
