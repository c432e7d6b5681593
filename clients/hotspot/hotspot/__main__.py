"""``python -m hotspot`` serves the hotspot portal; ``python -m hotspot seed`` adds demo
Wi-Fi points."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

try:
    import tangsel_rp  # noqa: F401
except ModuleNotFoundError:  # run from the repository: the toolkit is in clients/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv: list[str]) -> None:
    # Authlib warns that it prefers the httpx2 package; httpx works and is what we ship.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    import uvicorn

    from hotspot.app import create_app
    from hotspot.settings import HotspotSettings

    # The values come from HOTSPOT_* variables (or .env); a missing credential stops us here.
    settings = HotspotSettings()  # type: ignore[call-arg]
    if argv[:1] == ["seed"]:
        from hotspot.seed import seed

        print(f"hotspot: {seed(settings)} demo locations added")
        return
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, proxy_headers=True)


if __name__ == "__main__":
    main(sys.argv[1:])
