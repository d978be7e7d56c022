"""Rolling deploys end to end: each request converges in the emulator and is recorded."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.e2e.conftest import deployment_id, wait_for


def status(stack, app):
    r = stack.paas("status", app, "--json")
    assert r.code == 0, r.err
    return r.json()


def service(stack, app, process="web", colour="blue"):
    ecs = stack.client("ecs")
    out = ecs.describe_services(cluster=stack.boot["cluster"], services=[f"{app}-{process}-{colour}"])
    return out["services"][0]


def task_definition(stack, arn):
    return stack.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]


def wait_known_good(stack, app, version, timeout=20):
    """Known-good comes after the bake window (1 s in tests)."""
    from paas.db.sql import connect

    db = connect(stack.db_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            db.rollback()
            if db.scalar("SELECT known_good_at FROM releases r JOIN apps a ON a.id = r.app_id "
                         "WHERE a.name = %(a)s AND r.version = %(v)s", a=app, v=version):
                return
            time.sleep(0.2)
    finally:
        db.close()
    pytest.fail(f"{app} v{version} never became known-good")


def test_deploy_converges_and_every_step_is_recorded(stack):
    app = stack.app()
    stack.start_worker()
    r = stack.paas("deploy", app, "--image", "registry.example.com/shop:1.0", "--wait")
    assert r.code == 0, r.err + r.out
    assert "succeeded" in r.out
    st = status(stack, app)
    web = st["processes"]["web"]
    assert web["release"] == 1 and web["desired_count"] == 1
    assert web["running_count"] == 1 and web["healthy_count"] == 1
    assert web["image"] == "registry.example.com/shop:1.0"
    svc = service(stack, app)
    assert svc["runningCount"] == 1 and svc["deployments"][0]["rolloutState"] == "COMPLETED"
    [dep] = [json.loads(stack.paas("history", app, "--json").out)[0]]
    events = stack.events(dep["deployment_id"])
    steps = [e for e in events if e["kind"] == "step"]
    assert {e["step"].split(":")[0] for e in steps} >= {"ApplyStack", "RegisterTaskDefinition", "CreateService"}
    assert all(e["aws_request_id"] for e in steps), "every AWS step carries its request id"
    assert len({e["step"] for e in steps}) == len(steps), "no step applied twice"


def test_config_scale_secret_and_rollback_each_converge(stack):
    app = stack.app()
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    r = stack.paas("config", "set", app, "GREETING=hello", "--wait")
    assert r.code == 0, r.err
    td = task_definition(stack, service(stack, app)["taskDefinition"])
    env = {e["name"]: e["value"] for e in td["containerDefinitions"][0]["environment"]}
    assert env["GREETING"] == "hello"

    assert stack.paas("scale", app, "web=3", "--wait").code == 0
    svc = service(stack, app)
    assert svc["desiredCount"] == 3 and svc["runningCount"] == 3

    r = stack.paas("secrets", "set", app, "DB_PASSWORD", "--wait", input="s3cr3t-value\n")
    assert r.code == 0, r.err
    assert "s3cr3t-value" not in r.out + r.err
    td = task_definition(stack, service(stack, app)["taskDefinition"])
    secrets = {s["name"]: s["valueFrom"] for s in td["containerDefinitions"][0]["secrets"]}
    # pinned: <secret ARN>:<json-key>:<version-stage>:<version-id>
    arn, key, stage, version = secrets["DB_PASSWORD"].rsplit(":", 3)
    assert f":secret:paas/dev/{app}/DB_PASSWORD-" in arn and (key, stage) == ("", "") and version
    value = stack.client("secretsmanager").get_secret_value(SecretId=arn, VersionId=version)
    assert value["SecretString"] == "s3cr3t-value"
    from paas.db.sql import connect

    db = connect(stack.db_url)
    try:
        dump = json.dumps([list(map(str, r.values())) for t in ("config_versions", "releases", "deployments",
                                                                 "deployment_events", "observations")
                           for r in db.all(f"SELECT * FROM {t}")])
    finally:
        db.close()
    assert "s3cr3t-value" not in dump, "a secret value reached the database"

    r = stack.paas("rollback", app, "--to", "v1", "--wait")
    assert r.code == 0, r.err
    td = task_definition(stack, service(stack, app)["taskDefinition"])
    assert "GREETING" not in {e["name"] for e in td["containerDefinitions"][0].get("environment", [])}
    assert service(stack, app)["desiredCount"] == 3  # a rollback keeps today's formation
    assert "--with-formation" in r.err  # and says so

    r = stack.paas("rollback", app, "--to", "v1", "--with-formation", "--wait")
    assert r.code == 0, r.err
    assert service(stack, app)["desiredCount"] == 1  # v1's formation, asked for


def test_crash_looping_image_rolls_back_to_known_good(stack):
    from paas.devstack.profiles import set_profile

    app = stack.app()
    set_profile(stack.emulator.profiles_path, "*:crash*", crash_loop=True)
    stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:good", "--wait").code == 0
    wait_known_good(stack, app, 1)
    r = stack.paas("deploy", app, "--image", "shop:crash-1", "--wait")
    assert r.code == 1, r.out + r.err
    assert "ROLLED BACK" in r.out
    hist = json.loads(stack.paas("history", app, "--json").out)
    latest = hist[0]
    assert latest["state"] == "rolled_back"
    assert latest["rolled_back_to_version"] == 1
    kinds = [e["kind"] for e in stack.events(latest["deployment_id"])]
    assert "rollback_started" in kinds
    assert status(stack, app)["processes"]["web"]["image"] == "shop:good"


def test_permanent_aws_error_fails_the_deployment_with_awss_message(stack):
    app = stack.app()
    r = stack.paas("env", "create", "broken", "--region", "us-east-1", "--cluster", "no-such-cluster",
                   "--listener-arn", stack.boot["listener_arn"], "--vpc-id", stack.boot["vpc_id"],
                   "--subnets", ",".join(stack.boot["subnets"]), "--alb-security-group", stack.boot["security_groups"][0])
    assert r.code == 0, r.err
    stack.start_worker()
    r = stack.paas("deploy", app, "--image", "shop:1", "--env", "broken", "--wait")
    assert r.code == 1
    assert "FAILED" in r.out and "ecs:" in r.out.lower() or "cluster" in r.out.lower()
    hist = json.loads(stack.paas("history", app, "--env", "broken", "--json").out)
    assert hist[0]["state"] == "failed"
    errors = [e for e in stack.events(hist[0]["deployment_id"]) if e["kind"] == "error"]
    assert errors and "cluster" in errors[0]["message"].lower()
    attempts = [e for e in stack.events(hist[0]["deployment_id"]) if e["kind"] == "step"]
    assert len(attempts) < 10, "a permanent error is not retried forever"


def test_every_deployment_converges_with_30_percent_throttling(stack, monkeypatch):
    monkeypatch.setenv("PAAS_AWS_FAULTS", "throttle=0.3,seed=7")
    # convergence is the point, not speed: a loaded machine must not turn slowness into a failure
    monkeypatch.setenv("PAAS_ROLLOUT_DEADLINE", "300")
    from paas.reconciler import drivers

    monkeypatch.setattr(drivers, "_drivers", {})
    apps = [stack.app() for _ in range(3)]
    stack.start_worker(concurrency=3)
    ids = [deployment_id(stack.paas("deploy", a, "--image", "shop:1", "--json")) for a in apps]
    for i in ids:
        d = stack.wait_state(i, timeout=300)
        assert d["state"] == "succeeded", d["error"]
    from paas.aws.accounting import snapshot

    assert sum(snapshot()["throttles"].values()) > 0, "faults were injected"


def test_worker_killed_mid_rollout_another_finishes_without_repeating_steps(stack):
    from paas.devstack.profiles import set_profile

    app = stack.app()
    set_profile(stack.emulator.profiles_path, "*:slow*", start_seconds=4)
    first = stack.spawn_worker()
    dep = deployment_id(stack.paas("deploy", app, "--image", "shop:slow-1", "--json"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(e["step"] and e["step"].startswith("CreateService") for e in stack.events(dep)):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the rollout never started")
    first.send_signal(signal.SIGKILL)
    first.wait()
    t0 = time.monotonic()
    stack.spawn_worker()
    d = stack.wait_state(dep, timeout=60)
    assert d["state"] == "succeeded"
    assert time.monotonic() - t0 < 3 + 0.5 + 4 + 10  # lease TTL + sweep + the slow start + slack
    steps = [e["step"] for e in stack.events(dep) if e["kind"] == "step"]
    assert len(steps) == len(set(steps)), f"a step was applied twice: {steps}"
    tokens = [e["fencing_token"] for e in stack.events(dep) if e["fencing_token"] is not None]
    assert tokens == sorted(tokens), "a worker wrote after its lease was taken over"


def test_workers_never_act_on_the_same_app_at_once(stack):
    apps = [stack.app() for _ in range(4)]
    for _ in range(3):
        stack.start_worker(concurrency=2)
    ids = [deployment_id(stack.paas("deploy", a, "--image", "shop:1", "--json")) for a in apps]
    for i in ids:
        assert stack.wait_state(i, timeout=60)["state"] == "succeeded"
        evs = stack.events(i)
        tokens = [e["fencing_token"] for e in evs if e["fencing_token"] is not None]
        assert tokens == sorted(tokens)
        steps = [e["step"] for e in evs if e["kind"] == "step"]
        assert len(steps) == len(set(steps))


def test_drift_is_recorded_and_reverted(stack):
    app = stack.app()
    w = stack.start_worker()
    assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
    ecs = stack.client("ecs")
    ecs.update_service(cluster=stack.boot["cluster"], service=f"{app}-web-blue", desiredCount=4)
    from paas.db.sql import connect

    db = connect(stack.db_url)
    db.execute("UPDATE environments SET resync_after = now()")  # due now (the worker or we run it)
    db.commit()
    db.close()
    w.run_resync()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if service(stack, app)["desiredCount"] == 1:
            break
        time.sleep(0.2)
    assert service(stack, app)["desiredCount"] == 1
    dep = json.loads(stack.paas("history", app, "--json").out)[0]["deployment_id"]
    drift = [e for e in stack.events(dep) if e["kind"] == "drift"]
    assert drift and any("desired count 4" in e["message"] for e in drift)


@pytest.mark.parametrize("args,input", [
    (["dev", "profile", "set", "*:x*", "--error-rate", "1.5"], None),
    (["secrets", "set", "APPNAME", "GOOD"], "value"),
    (["worker", "--concurrency", "0"], None),
])
def test_bad_input_to_the_new_commands(stack, args, input):
    app = stack.app()
    args = [app if a == "APPNAME" else a for a in args]
    r = stack.paas(*args, input=input)
    if args[0] == "secrets":  # a good name with an empty value, and a bad name
        r = stack.paas("secrets", "set", app, "GOOD", input="\n")
        assert r.code == 2 and "empty" in r.err
        r = stack.paas("secrets", "set", app, "9bad-name", input="x")
    assert r.code == 2, r.out + r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


def test_a_rollback_requested_mid_pass_reuses_the_task_definition_of_its_target(stack, monkeypatch):
    """The rollback to v1 arrives while a worker's pass is marking v3 known-good (requested from
    inside the pass, right before that step). The same pass goes on to the rollback: it must read
    the task definitions of the releases it now serves, find v1's revision and reuse it, not
    register a duplicate because its first look was taken for v3 and v2 alone."""
    import paas.reconciler.worker as worker_module
    from paas.planner import steps as s
    from tests.conftest import run_paas_process

    app = stack.app()
    real = worker_module.reconcile_once
    asked: list[int] = []

    def with_mid_pass_rollback(*args, **kwargs):
        count = kwargs.get("on_step")

        def on_step(step):
            if count:
                count(step)
            if isinstance(step, s.MarkKnownGood) and not asked and step.reason.startswith("v3 "):
                # a separate process, as a user's CLI would be (this thread is the worker's)
                r = run_paas_process("rollback", app, "--to", "v1", "--json", env={"PAAS_DATABASE_URL": stack.db_url})
                assert r.code == 0, r.err
                asked.append(json.loads(r.out)["deployment_id"])

        kwargs["on_step"] = on_step
        return real(*args, **kwargs)

    monkeypatch.setattr(worker_module, "reconcile_once", with_mid_pass_rollback)
    stack.start_worker(concurrency=1)
    for tag in ("1", "2", "3"):
        assert stack.paas("deploy", app, "--image", f"shop:{tag}", "--wait").code == 0
    wait_for("the rollback requested mid-pass", lambda: asked, 60)
    assert stack.wait_state(asked[0], timeout=90)["state"] == "succeeded"
    steps = [e["message"] for e in stack.events(asked[0]) if e["kind"] == "step"]
    assert not any("register the task definition" in m for m in steps), steps
    revisions = stack.client("ecs").list_task_definitions(familyPrefix=f"{app}-dev-web")["taskDefinitionArns"]
    assert len(revisions) == 3, revisions  # v1, v2, v3: the rollback runs v1's own revision
