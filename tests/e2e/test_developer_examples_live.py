"""The portal's machine-to-machine examples, run as a developer would run them against a live
provider: curl (bash) and Python (Authlib) always; Node.js with openid-client v6 when its
packages are at hand (``SSO_TEST_NODE_MODULES`` names a ``node_modules`` holding openid-client,
oauth4webapi and jose: the tests download nothing). Each gets an access token that /introspect
says is active, with the secret from the environment only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from sso.developers import examples
from sso.oauth import app_review, developer_apps
from sso.oidc import discovery
from tests.factories import create_user

NODE_MODULES = os.environ.get("SSO_TEST_NODE_MODULES")


def machine_app(live_server) -> tuple[str, str, dict[str, str]]:
    """An approved m2m app: (client_id, secret, {example key: code})."""
    rt = live_server.runtime
    with rt.sessions() as db:
        dewi = create_user(rt, db, username="dewi")
        created = developer_apps.create_app(
            db, rt.settings, dewi, developer_apps.AppDetails(name='Sinkron "Data" ñ', kind="m2m")
        )
        app_review.approve(db, created.client, dewi.id)
        db.commit()
        found = examples.examples(created.client, discovery.metadata(rt.settings))
        code = {e.key: e.files[0].code for e in found}
        assert created.client_secret
        return created.client.client_id, created.client_secret, code


def active(live_server, client_id: str, secret: str, token: str) -> bool:
    r = httpx.post(f"{live_server.url}/introspect", data={"token": token}, auth=(client_id, secret))
    return bool(r.json()["active"])


def run(command: list[str], cwd: Path, secret: str) -> str:
    env = {**os.environ, "TANGSEL_CLIENT_SECRET": secret}
    done = subprocess.run(  # noqa: S603
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def test_curl_and_python_examples_get_a_token(live_server, tmp_path: Path, monkeypatch) -> None:
    client_id, secret, code = machine_app(live_server)
    bash, curl = shutil.which("bash"), shutil.which("curl")
    if bash and curl:
        (tmp_path / "token.sh").write_text(code["curl"])
        out = json.loads(run([bash, "token.sh"], tmp_path, secret))
        assert active(live_server, client_id, secret, out["access_token"])
    monkeypatch.setenv("TANGSEL_CLIENT_SECRET", secret)
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the live server is http://127.0.0.1
    namespace: dict[str, object] = {"__name__": "developer_example"}
    exec(compile(code["python"], "example.py", "exec"), namespace)  # noqa: S102
    token = namespace["access_token"]()  # type: ignore[operator]
    assert active(live_server, client_id, secret, str(token))


@pytest.mark.skipif(not NODE_MODULES, reason="SSO_TEST_NODE_MODULES is not set (openid-client v6)")
def test_the_node_example_gets_a_token(live_server, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    client_id, secret, code = machine_app(live_server)
    assert NODE_MODULES
    (tmp_path / "node_modules").symlink_to(Path(NODE_MODULES).resolve())
    (tmp_path / "token.mjs").write_text(code["node"])
    token = run([node, "token.mjs"], tmp_path, secret).split()[0]
    assert active(live_server, client_id, secret, token)
