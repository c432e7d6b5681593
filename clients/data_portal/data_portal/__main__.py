"""``python -m data_portal`` serves the portal; ``python -m data_portal seed`` adds demo data."""

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

    from data_portal.app import create_app
    from data_portal.settings import PortalSettings

    # The values come from PORTAL_* variables (or .env); a missing credential stops us here.
    settings = PortalSettings()
    if argv[:1] == ["seed"]:
        from data_portal.seed import seed

        print(f"data_portal: {seed(settings)} demo datasets added")
        return
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, proxy_headers=True)


if __name__ == "__main__":
    main(sys.argv[1:])
