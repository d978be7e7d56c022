"""The delivery pipeline on the local stack: a push goes to production on its own, a push whose
tests fail is never deployed, a push that fails the production canary at 10% stays in staging.

Pushes go the way an AWS account sends them: `paas dev push` puts the image in the emulator's
ECR and sends ECR's event, EventBridge (moto) delivers it to the SQS queue the worker created,
and the worker's long poll picks it up.
"""

from __future__ import annotations

import json
import time

import pytest

STAGING_SOAK = 1


def _sql(stack, query, **params):
    from paas.db.sql import connect

    db = connect(stack.db_url)
    try:
        return db.all(query, **params)
    finally:
        db.close()


def wait_for(what, check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout:.0f}s")


@pytest.fixture
def pipeline(stack, monkeypatch, tmp_path):
    """An app with a two-stage pipeline (staging rolling, production canary 10 → 100) and a worker."""
    from paas.devstack.up import upsert_dev_environment

    monkeypatch.setenv("PAAS_PUSH_WAIT", "1")
    for env in ("staging", "production"):
        upsert_dev_environment(stack.db_url, stack.boot, stack.emulator.endpoint_url, name=env)
    app = stack.app()
    toml = tmp_path / "paas.toml"
    toml.write_text(f"""
app = "{app}"

[strategy]
min_requests = 5

[pipeline]
repository = "{app}"
tags = "main-*"
test_command = "pytest -q tests/integration"
test_timeout = "30s"

[[pipeline.stages]]
environment = "staging"
strategy = "rolling"
soak = "{STAGING_SOAK}s"

[[pipeline.stages]]
environment = "production"
strategy = "canary"
canary_steps = [10, 100]
""")
    r = stack.paas("pipeline", "set", app, "--manifest", str(toml), "--json")
    assert r.code == 0, r.err
    stack.start_worker()
    stack.apps_envs = ("staging", "production")
    return app


def push(stack, app, tag, profile="healthy"):
    r = stack.paas("dev", "push", f"{app}:{tag}", "--profile", profile, "--json")
    assert r.code == 0, r.out + r.err
    return r.json()


def push_row(stack, app, digest):
    rows = _sql(stack, "SELECT p.* FROM image_pushes p JOIN apps a ON a.id = p.app_id "
                       "WHERE a.name = %(a)s AND p.digest = %(d)s", a=app, d=digest)
    return rows[0] if rows else None


def ended(stack, app, digest, timeout=90.0):
    return wait_for(f"push {digest[:19]} ended",
                    lambda: (lambda r: r if r is not None and r.state != "active" else None)(
                        push_row(stack, app, digest)), timeout)


def test_a_push_goes_to_production_on_its_own(stack, pipeline):
    app = pipeline
    pushed = push(stack, app, "main-1")
    row = ended(stack, app, pushed["digest"])
    assert row.state == "released", row.end_reason
    assert row.source == "event" and row.image == pushed["image"]
    proms = _sql(stack, "SELECT * FROM paas_promotions WHERE app = %(a)s ORDER BY stage", a=app)
    assert [(p.environment, p.deployment_state, p.check_state) for p in proms] == [
        ("staging", "succeeded", "passed"), ("production", "succeeded", "passed")]
    staging, production = proms
    # evidence: production went only after staging's release was known-good for its soak
    assert production.upstream_environment == "staging"
    assert production.upstream_known_good_at == staging.known_good_at is not None
    assert (production.promoted_at - staging.known_good_at).total_seconds() >= STAGING_SOAK
    assert production.gate_readings and all(g["verdict"] == "pass" for g in production.gate_readings)
    check = _sql(stack, "SELECT * FROM image_checks WHERE digest = %(d)s", d=pushed["digest"])[0]
    assert (check.state, check.exit_code, check.command) == ("passed", 0, ["pytest", "-q", "tests/integration"])
    assert check.duration_seconds is not None and check.log_tail and check.log_tail[-1] == "42 passed"
    # the deployments are ordinary ones, made by the same path as paas deploy
    hist = stack.paas("history", app, "--json").json()
    assert {(h["environment"], h["strategy"], h["actor"]) for h in hist} == {
        ("staging", "rolling", "paas-pipeline"), ("production", "canary", "paas-pipeline")}
    out = stack.paas("pipeline", app, "--json")
    assert out.code == 0, out.err
    doc = out.json()
    assert [s["release_version"] for s in doc["stages"]] == [1, 1]
    assert doc["last_failure"] is None
    # the same message delivered again is recorded once
    from paas.devstack.push import push as _unused  # noqa: F401
    assert len(_sql(stack, "SELECT 1 FROM image_pushes WHERE digest = %(d)s", d=pushed["digest"])) == 1
