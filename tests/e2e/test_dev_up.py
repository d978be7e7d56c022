"""`paas dev up` / `paas dev down` as a user runs them: separate processes, a state file between."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.conftest import ROOT


def test_dev_up_is_picked_up_by_other_commands_and_dev_down_stops_it(db_url, tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAAS_", "AWS_"))}
    env.update({"PAAS_HOME": str(home), "PAAS_DATABASE_URL": db_url, "PAAS_ACTOR": "dev@test"})
    log = open(tmp_path / "up.log", "w")
    up = subprocess.Popen([sys.executable, "-m", "paas.cli.main", "dev", "up", "--port", "0", "--workers", "1"],
                          cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        state_file = home / "dev-state.json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not state_file.exists():
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            time.sleep(0.2)
        state = json.loads(state_file.read_text())
        exports = up.stdout.readline() + up.stdout.readline()
        assert "export PAAS_DATABASE_URL=" in exports or "export AWS_ENDPOINT_URL=" in exports

        # another terminal: no PAAS_DATABASE_URL, no AWS_ENDPOINT_URL; the state file says where
        other = {k: v for k, v in env.items() if k != "PAAS_DATABASE_URL"}
        def paas(*args, input=None):
            return subprocess.run([sys.executable, "-m", "paas.cli.main", *args], cwd=str(ROOT), env=other,
                                  capture_output=True, text=True, timeout=120, input=input)

        r = paas("env", "list", "--json")
        assert r.returncode == 0, r.stderr
        dev = [e for e in json.loads(r.stdout) if e["name"] == "dev"][0]
        assert "endpoint_url" not in dev  # the endpoint is the worker's configuration (the state file)
        assert state["aws_endpoint_url"].startswith("http://127.0.0.1:")
        assert paas("apps", "create", "tour").returncode == 0
        # no --env and no PAAS_ENV: the running stack's environment is the default
        r = paas("deploy", "tour", "--image", "shop:1", "--wait")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "tour release v1 to dev" in r.stdout
        assert r.stdout.splitlines()[-1] == ("https://tour.dev.localhost/ (simulated by paas dev: no DNS name, "
                                             "nothing answers there)")
        log_text = (tmp_path / "up.log").read_text()
        assert "bringing the database schema up to date …" in log_text and "done in" in log_text

        # bootstrap is idempotent: a second stack on the same database reuses the environment row
        r = paas("dev", "profile", "set", "*:bad*", "--error-rate", "0.5", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["error_rate"] == 0.5
        assert json.loads(paas("dev", "profile", "list", "--json").stdout)[0]["image"] == "*:bad*"

        r = paas("dev", "down")
        assert r.returncode == 0 and "stopped" in r.stdout
        assert up.wait(timeout=30) == 0
        assert not state_file.exists()
    finally:
        if up.poll() is None:
            up.kill()
