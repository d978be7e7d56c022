"""Secret versions are pinned: each release runs the value it was made with, rollbacks included."""

from __future__ import annotations

import json

from tests.e2e.test_rolling import service, task_definition


def _resolved(stack, app: str, name: str) -> str:
    """What the running task definition's `valueFrom` resolves to (Secrets Manager, by version id)."""
    td = task_definition(stack, service(stack, app)["taskDefinition"])
    value_from = {s["name"]: s["valueFrom"] for s in td["containerDefinitions"][0]["secrets"]}[name]
    arn, _key, _stage, version = value_from.rsplit(":", 3)
    assert version, f"not pinned: {value_from}"
    return stack.client("secretsmanager").get_secret_value(SecretId=arn, VersionId=version)["SecretString"]


def test_a_rollback_across_a_secret_change_runs_the_old_value(stack):
    app = stack.app()
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    r = stack.paas("secrets", "set", app, "S", "--wait", input="a\n")
    assert r.code == 0, r.out + r.err
    assert _resolved(stack, app, "S") == "a"
    assert stack.paas("deploy", app, "--image", "shop:2", "--wait").code == 0
    with_a = json.loads(stack.paas("status", app, "--json").out)["current_release"]["version"]

    r = stack.paas("secrets", "set", app, "S", "--wait", input="b\n")
    assert r.code == 0, r.out + r.err
    assert stack.paas("deploy", app, "--image", "shop:3", "--wait").code == 0
    assert _resolved(stack, app, "S") == "b"

    r = stack.paas("rollback", app, "--to", f"v{with_a}", "--wait")
    assert r.code == 0, r.out + r.err
    assert "changes config" in r.err  # it says the config (the secret version) changes back
    assert _resolved(stack, app, "S") == "a"
