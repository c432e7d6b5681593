"""``python -m event`` serves the event site; ``python -m event seed`` adds demo events."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tangsel_rp  # noqa: F401
except ModuleNotFoundError:  # run from the repository: the toolkit is in clients/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv: list[str]) -> None:
    from tangsel_rp import quiet_httpx_fallback_warning

    quiet_httpx_fallback_warning()  # Authlib prefers httpx2; httpx is what we ship
    import uvicorn

    from event.app import create_app
    from event.settings import EventSettings

    # The values come from EVENT_* variables (or .env); a missing credential stops us here.
    settings = EventSettings()
    if argv[:1] == ["seed"]:
        from event.seed import seed

        print(f"event: {seed(settings)} demo events added")
        return
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, proxy_headers=True)


if __name__ == "__main__":
    main(sys.argv[1:])
