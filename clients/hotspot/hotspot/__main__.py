"""``python -m hotspot`` serves the hotspot portal; ``python -m hotspot seed`` adds demo
Wi-Fi points."""

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

    from hotspot.app import create_app
    from hotspot.settings import HotspotSettings

    # The values come from HOTSPOT_* variables (or .env); a missing credential stops us here.
    settings = HotspotSettings()
    if argv[:1] == ["seed"]:
        from hotspot.seed import seed

        print(f"hotspot: {seed(settings)} demo locations added")
        return
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, proxy_headers=True)


if __name__ == "__main__":
    main(sys.argv[1:])
