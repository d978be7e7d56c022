"""Poison requests end: any error counts against the deployment with growing backoff, and after a
bounded number of attempts it fails with the error recorded; a cancel always wins at the next pass."""

from __future__ import annotations

import json

from tests.e2e.conftest import deployment_id


def _poison_env(stack, name: str) -> None:
    """An environment row no CLI would accept (validation refuses it at `env create`): an
    older row, or one written by hand. The worker must survive it all the same."""
    from paas.db.sql import connect

    db = connect(stack.db_url)
    try:
        with db.transaction():
            db.execute(
                "INSERT INTO environments (name, region, cluster, listener_arn, vpc_id, subnets, security_groups) "
                "SELECT %(n)s, 'eu west 1; drop', cluster, listener_arn, vpc_id, subnets, security_groups "
                "FROM environments WHERE name = 'dev'", n=name)
    finally:
        db.close()


def test_a_poison_request_fails_after_bounded_attempts_with_the_error_recorded(stack):
    app = stack.app()
    _poison_env(stack, "poison")
    stack.start_worker()
    r = stack.paas("deploy", app, "--image", "shop:1", "-e", "poison", "--wait", "--json")
    assert r.code == 1, r.out + r.err
    out = json.loads(r.out)
    assert out["state"] == "failed"
    assert "region" in out["error"].lower() and "times in a row" in out["error"], out["error"]
    errors = [e for e in stack.events(out["deployment_id"]) if e["kind"] == "error"]
    assert len(errors) == 1, [e["message"] for e in errors]


def test_a_cancel_wins_over_a_failing_request_at_the_next_pass(stack, monkeypatch):
    from paas.reconciler import outcome

    monkeypatch.setattr(outcome, "MAX_UNEXPECTED", 1000)  # it would retry for a long time
    app = stack.app()
    _poison_env(stack, "poison")
    stack.start_worker()
    dep = deployment_id(stack.paas("deploy", app, "--image", "shop:1", "-e", "poison", "--json"))
    stack.wait_state(dep, states=("in_progress",), timeout=30)
    r = stack.paas("deployments", "cancel", str(dep))
    assert r.code == 0, r.err
    d = stack.wait_state(dep, timeout=60)
    assert d["state"] == "cancelled"
    assert "cancelled while its AWS steps failed" in d["error"]
