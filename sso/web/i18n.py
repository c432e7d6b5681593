"""Languages of the pages: Bahasa Indonesia (the default) and English.

Catalogues are flat JSON files (``i18n/<locale>.json`` plus one ``i18n/<locale>.<part>.json``
per feature area, e.g. ``id.admin.json``; key → text with ``{name}`` placeholders), merged and
loaded once per process. A key defined in two parts is an error (caught at load). A missing key renders as the key itself, so a text
that is not a catalogue key (a plain message) passes through unchanged.

Which language a request gets (:func:`negotiate_locale`), first match wins:

1. ``?lang=`` in the URL: the person clicked the language switch. This comes before the
   relying party's ``ui_locales`` (the brief had it second) because otherwise the switch could
   not override an RP that asked for the other language: the person's explicit choice wins
   over a hint made on their behalf (OIDC Core §3.1.2.1 calls ``ui_locales`` a preference).
2. ``ui_locales`` of the authorization request (space-separated BCP 47 tags).
3. The ``lang`` cookie (set by :func:`sso.web.templating.render` when ``?lang=`` is used).
4. ``Accept-Language`` by q-value (``id``, ``id-ID`` and the legacy ``in`` are Indonesian).
5. The default (``Settings.default_locale``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import HTTPConnection

from sso.web.security import read_cookie

SUPPORTED: tuple[str, ...] = ("id", "en")
DEFAULT_LOCALE = "id"
LANG_COOKIE = "lang"
LANG_PARAM = "lang"

CATALOGUE_DIR = Path(__file__).resolve().parent / "i18n"

# Primary language subtags we accept, mapped to our locales (`in` is the pre-1989 code for
# Indonesian that some old Android and Java systems still send).
_ALIASES = {"id": "id", "in": "id", "en": "en"}


@cache
def catalogue(locale: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    paths = [CATALOGUE_DIR / f"{locale}.json", *sorted(CATALOGUE_DIR.glob(f"{locale}.*.json"))]
    for path in paths:
        part: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        clash = merged.keys() & part.keys()
        if clash:
            raise ValueError(f"{path.name} redefines {sorted(clash)[:5]}")
        merged.update(part)
    return merged


def match_locale(tag: str | None) -> str | None:
    """Our locale for one BCP 47 tag (``en-GB`` → ``en``, ``id_ID`` → ``id``), else None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return _ALIASES.get(primary)


def parse_accept_language(header: str | None) -> list[str]:
    """Our locales in the order the browser prefers them (highest q first, q=0 dropped)."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        locale = match_locale(tag)
        if locale and q > 0:
            ranked.append((-q, index, locale))
    ranked.sort()
    seen: list[str] = []
    for _q, _i, locale in ranked:
        if locale not in seen:
            seen.append(locale)
    return seen


def negotiate_locale(
    request: HTTPConnection, ui_locales: str | None = None, default: str = DEFAULT_LOCALE
) -> str:
    """The locale for this request; see the module docstring for the order."""
    chosen = match_locale(request.query_params.get(LANG_PARAM))
    if chosen:
        return chosen
    for tag in (ui_locales or "").split()[:16]:
        chosen = match_locale(tag)
        if chosen:
            return chosen
    chosen = match_locale(read_cookie(request, LANG_COOKIE))
    if chosen:
        return chosen
    preferred = parse_accept_language(request.headers.get("accept-language"))
    if preferred:
        return preferred[0]
    return default if default in SUPPORTED else DEFAULT_LOCALE


class _KeepMissing(dict[str, Any]):
    """Leaves an unknown ``{placeholder}`` as it is instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def translate(locale: str, key: str, **params: Any) -> str:
    """The text of ``key`` in ``locale`` with ``params`` filled in; the key itself if unknown."""
    text = catalogue(locale if locale in SUPPORTED else DEFAULT_LOCALE).get(key, key)
    if not params:
        return text
    try:
        return text.format_map(_KeepMissing(params))
    except (ValueError, IndexError, KeyError, AttributeError):  # stray braces in plain text
        return text


def other_locale(locale: str) -> str:
    return "en" if locale == "id" else "id"
