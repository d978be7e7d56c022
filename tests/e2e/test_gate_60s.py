"""The canary gate at AWS's 60 s metric period, with metrics arriving late.

An emulator and a worker in processes of their own share a clock that runs 30 times faster
(`PAAS_CLOCK_EPOCH` / `PAAS_CLOCK_RATE`), so a 120 s bake over 60 s periods takes seconds
while every duration keeps its production value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, run_cli

RATE = 30.0
SETTINGS = dict(tick_seconds=0.05, requests_per_second=20.0, metric_period_seconds=60.0,
                metric_delay_seconds=30.0, latency_samples_per_period=10, metric_retention_seconds=36000.0,
                crash_seconds=3.0, steady_state_seconds=3.0)


@pytest.fixture
def warped_stack(db_url, tmp_path, monkeypatch):
    epoch = repr(time.time())
    clock_env = {"PAAS_CLOCK_EPOCH": epoch, "PAAS_CLOCK_RATE": repr(RATE)}
    emu = subprocess.Popen(
        [sys.executable, "-m", "paas.devstack.serve", "--profiles", str(tmp_path / "profiles.json"),
         "--settings", json.dumps(SETTINGS), "--bootstrap", "dev"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, **clock_env}, cwd=str(ROOT))
    info = json.loads(emu.stdout.readline())
    from paas.devstack.up import upsert_dev_environment

    upsert_dev_environment(db_url, info["env"])
    monkeypatch.setenv("PAAS_ENV", "dev")
    monkeypatch.setenv("AWS_ENDPOINT_URL", info["endpoint_url"])
    worker_env = {**os.environ, **clock_env, "PAAS_DATABASE_URL": db_url, "AWS_ENDPOINT_URL": info["endpoint_url"],
                  "PAAS_METRIC_PERIOD": "60", "PAAS_BAKE": "120", "PAAS_POLL_INTERVAL": "5", "PAAS_STACK_POLL": "5",
                  "PAAS_ROLLOUT_DEADLINE": "1800", "PAAS_LEASE_TTL": "15", "PAAS_HEARTBEAT": "2",
                  "PAAS_SWEEP_INTERVAL": "0.5", "PAAS_RESYNC_INTERVAL": "36000", "PAAS_AWS_RPS": "200"}
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "paas.cli.main", "worker", "--concurrency", "2"],
                              env=worker_env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))
    yield {"info": info, "profiles": tmp_path / "profiles.json", "log": tmp_path / "worker.log"}
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
    emu.stdin.close()
    try:
        emu.wait(timeout=20)
    except subprocess.TimeoutExpired:
        emu.kill()


def _gates(dep: int) -> list[dict]:
    return [e for e in run_cli("deployments", "show", str(dep), "--json").json()["events"] if e["kind"] == "gate"]


def test_the_gate_decides_on_60_second_periods_that_arrive_late(warped_stack):
    from paas.devstack.profiles import set_profile

    set_profile(warped_stack["profiles"], "*:bad*", error_rate=0.5)
    assert run_cli("apps", "create", "gate").code == 0
    r = run_cli("deploy", "gate", "--image", "shop:1", "--wait")
    assert r.code == 0, r.out + r.err + warped_stack["log"].read_text()[-3000:]

    good = run_cli("deploy", "gate", "--image", "shop:2", "--strategy", "canary", "--wait", "--json")
    assert good.code == 0, good.out + good.err
    dep = good.json()["deployment_id"]
    shifts = [e for e in good.json()["events"] if e["kind"] == "traffic"]
    assert [e["data"]["percent"] for e in shifts] == [10, 100]
    evidence = shifts[1]["data"]["evidence"]
    canary = evidence["gate"]["canary"]
    # the step passed only once a 60 s datapoint reaching the end of its 120 s bake had been read
    window_start = canary["start"]
    assert canary["datapoints"] >= 2 and canary["last_datapoint"] % 60 == 0
    assert canary["last_datapoint"] + 60 >= window_start + 120
    topics = {g["data"].get("topic") or "" for g in _gates(dep)}
    assert any("late metrics" in t or "inconclusive" in t for t in topics), topics

    bad = run_cli("deploy", "gate", "--image", "shop:bad-3", "--strategy", "canary", "--wait", "--json")
    assert bad.code == 1, bad.out + bad.err
    out = bad.json()
    assert out["state"] == "rolled_back"
    back = [e for e in out["events"] if e["kind"] == "rollback_started"]
    assert back and "5xx rate" in back[0]["message"]
    assert back[0]["data"]["evidence"]["gate"]["canary"]["last_datapoint"] % 60 == 0
