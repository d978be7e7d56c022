"""The delivery pipeline on the local stack: a push goes to production on its own, a push whose
tests fail is never deployed, a push that fails the production canary at 10% stays in staging.

Pushes go the way an AWS account sends them: `paas dev push` puts the image in the emulator's
ECR and sends ECR's event, EventBridge (moto) delivers it to the SQS queue the worker created,
and the worker's long poll picks it up.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.e2e.conftest import wait_for

STAGING_SOAK = 1




@pytest.fixture
def pipeline(stack, monkeypatch, tmp_path):
    """An app with a two-stage pipeline (staging rolling, production canary 10 → 100) and a worker."""
    from paas.devstack.up import add_environment

    monkeypatch.setenv("PAAS_PUSH_WAIT", "1")
    for env in ("staging", "production"):
        add_environment(stack.db_url, stack.boot, stack.emulator.endpoint_url, env)
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
    stack.toml = toml
    w = stack.start_worker()
    # the worker creates the push route (queue, rule, target) when it first polls: pushes before
    # that reach no queue (only the resync would find them)
    wait_for("the push queue", lambda: w.consumers and all(c.queue_url for c in w.consumers.values()), 30)
    yield app
    stack.stop_workers()
    ecs = stack.client("ecs")
    for env in ("staging", "production"):  # keep the shared emulator light (conftest cleans `dev` only)
        try:
            for arn in ecs.list_services(cluster=f"paas-{env}")["serviceArns"]:
                if arn.rsplit("/", 1)[-1].startswith(f"{app}-"):
                    ecs.delete_service(cluster=f"paas-{env}", service=arn, force=True)
        except Exception:
            pass


def push(stack, app, tag, profile="healthy"):
    r = stack.paas("dev", "push", f"{app}:{tag}", "--profile", profile, "--json")
    assert r.code == 0, r.out + r.err
    return r.json()


def push_row(stack, app, digest):
    rows = stack.sql("SELECT p.* FROM image_pushes p JOIN apps a ON a.id = p.app_id "
                       "WHERE a.name = %(a)s AND p.digest = %(d)s", a=app, d=digest)
    return rows[0] if rows else None


def ended(stack, app, digest, timeout=90.0):
    return wait_for(f"push {digest[:19]} ended",
                    lambda: (lambda r: r if r is not None and r.state != "active" else None)(
                        push_row(stack, app, digest)), timeout)


def released(stack, app, tag):
    """Push, and wait until the push is live in production."""
    pushed = push(stack, app, tag)
    row = ended(stack, app, pushed["digest"])
    assert row.state == "released", row.end_reason
    return pushed, row


def timeline(stack, digest):
    [r] = stack.sql("""
        SELECT i.queued_at, i.seen_at, c.created_at AS check_at, c.finished_at AS checked_at,
               (SELECT min(p.created_at) FROM promotions p WHERE p.push_id = i.id AND p.stage = 0) AS staging_at,
               (SELECT min(p.created_at) FROM promotions p WHERE p.push_id = i.id AND p.stage = 1) AS production_at,
               i.ended_at
          FROM image_pushes i JOIN image_checks c ON c.push_id = i.id WHERE i.digest = %(d)s""", d=digest)
    return r


def baseline(stack, app, envs=("staging", "production")):
    """What runs before the pipeline's first push (a canary needs a stable release to compare
    with; a check's logs go to the first stage's log group): deployed by hand, stages at once."""
    ids = []
    for env in envs:
        r = stack.paas("deploy", app, "--image", f"registry.example.com/{app}:base", "-e", env,
                       "--manifest", str(stack.toml), "--json")
        assert r.code == 0, r.err
        ids.append(r.json()["deployment_id"])
    for i in ids:
        assert stack.wait_state(i, timeout=90)["state"] == "succeeded"


def live(stack, app):
    rows = stack.sql("SELECT environment, release_version, image FROM paas_current_releases WHERE app = %(a)s",
                a=app)
    return {r.environment: (r.release_version, r.image) for r in rows}


def test_a_push_goes_to_production_on_its_own(stack, pipeline):
    app = pipeline
    baseline(stack, app)
    t0 = time.monotonic()
    pushed, row = released(stack, app, "main-2")
    print(f"push to production: {time.monotonic() - t0:.1f}s", dict(timeline(stack, pushed["digest"])))
    assert row.source == "event" and row.image == pushed["image"]
    proms = stack.sql("SELECT * FROM paas_promotions WHERE app = %(a)s AND digest = %(d)s ORDER BY stage",
                 a=app, d=pushed["digest"])
    assert [(p.environment, p.release_version, p.deployment_state, p.check_state) for p in proms] == [
        ("staging", 2, "succeeded", "passed"), ("production", 2, "succeeded", "passed")]
    staging, production = proms
    # evidence: production went only after staging's release was known-good for its soak
    assert production.upstream_environment == "staging" and production.upstream_release_version == 2
    assert production.upstream_known_good_at == staging.known_good_at is not None
    assert (production.promoted_at - staging.known_good_at).total_seconds() >= STAGING_SOAK
    # the canary's gate readings, 10 % then 100 %
    verdicts = [g["verdict"] for g in production.gate_readings]
    assert "pass" in verdicts and "fail" not in verdicts, verdicts
    check = stack.sql("SELECT * FROM image_checks WHERE digest = %(d)s", d=pushed["digest"])[0]
    assert (check.state, check.exit_code, check.command) == ("passed", 0, ["pytest", "-q", "tests/integration"])
    assert check.duration_seconds is not None and check.log_tail and check.log_tail[-1] == "42 passed"
    # the deployments are ordinary ones, made by the same path as paas deploy
    hist = stack.sql("SELECT environment, strategy, actor FROM paas_deploy_history WHERE app = %(a)s "
                       "AND actor = 'paas-pipeline'", a=app)
    assert sorted((h.environment, h.strategy) for h in hist) == [("production", "canary"), ("staging", "rolling")]
    assert live(stack, app) == {"staging": (2, pushed["image"]), "production": (2, pushed["image"])}
    out = stack.paas("pipeline", app, "--json")
    assert out.code == 0, out.err
    doc = out.json()
    assert [s["release_version"] for s in doc["stages"]] == [2, 2]
    assert doc["last_failure"] is None and doc["pushes"][0]["state"] == "released"
    assert stack.paas("pipeline", app).code == 0


def test_a_push_whose_tests_fail_is_never_deployed(stack, pipeline):
    from tests.receiver import Receiver

    app = pipeline
    baseline(stack, app, envs=("staging",))
    rx = Receiver()
    try:
        r = stack.paas("notify", "add", app, rx.url, "--events", "pipeline_started,check_failed", "--json")
        assert r.code == 0, r.err
        pushed = push(stack, app, "main-7", profile="failing-tests")
        row = ended(stack, app, pushed["digest"])
        assert (row.state, row.end_reason) == ("failed", "integration tests failed (exit 1)")
        # the push and its failed check are announced, in that order, from the pipeline's own transactions
        got = [g.json() for g in rx.wait_for(2, timeout=60)]
        assert [g["event"] for g in got] == ["pipeline_started", "check_failed"], got
        assert got[1]["app"] == app and "exit 1" in (got[1]["reason"] or ""), got[1]
    finally:
        rx.stop()
    [check] = stack.sql("SELECT * FROM image_checks WHERE digest = %(d)s", d=pushed["digest"])
    assert (check.state, check.exit_code, check.stop_code) == ("failed", 1, "EssentialContainerExited")
    assert check.log_tail[-2:] == ["FAILED tests/test_basket.py::test_total - AssertionError: 10 != 12",
                                   "1 failed, 41 passed"]
    assert stack.sql("SELECT * FROM promotions") == []
    assert [h.actor for h in stack.sql("SELECT * FROM paas_deploy_history WHERE app = %(a)s", a=app)] == [
        "tester@test"]  # the baseline only: nothing deployed by the pipeline
    assert live(stack, app) == {"staging": (1, f"registry.example.com/{app}:base")}
    doc = stack.paas("pipeline", app, "--json").json()
    assert doc["last_failure"]["tag"] == "main-7" and "exit 1" in doc["last_failure"]["reason"]
    shown = stack.paas("pipeline", app).out
    assert "last failure: main-7: integration tests failed (exit 1)" in shown and "| 1 failed, 41 passed" in shown
    # a tag the pipeline does not watch is not even recorded
    other = push(stack, app, "feature-x")
    wait_for("the other push's message consumed", lambda: stack.workers[0][0].consumers and all(
        c.received >= 2 for c in stack.workers[0][0].consumers.values()), 30)
    assert push_row(stack, app, other["digest"]) is None


def test_a_push_that_fails_the_production_canary_stays_in_staging(stack, pipeline):
    app = pipeline
    baseline(stack, app)
    pushed = push(stack, app, "main-3", profile="errors")
    row = ended(stack, app, pushed["digest"])
    assert row.state == "failed" and "production rolled back" in row.end_reason, row.end_reason
    staging, production = stack.sql("SELECT * FROM paas_promotions WHERE app = %(a)s ORDER BY stage", a=app)
    assert (staging.deployment_state, production.deployment_state) == ("succeeded", "rolled_back")
    verdicts = [g["verdict"] for g in production.gate_readings]
    assert verdicts[-1] == "breach" and all(g["percent"] in (10, None) for g in production.gate_readings)
    # production is back on the release before; staging keeps the pushed image
    assert live(stack, app) == {"staging": (2, pushed["image"]), "production": (1, f"registry.example.com/{app}:base")}
    doc = stack.paas("pipeline", app, "--json").json()
    assert doc["last_failure"]["tag"] == "main-3"


def test_a_stage_that_asks_for_approval_waits_for_paas_approve(stack, pipeline):
    app = pipeline
    toml = stack.toml
    toml.write_text(toml.read_text().replace('canary_steps = [10, 100]', 'canary_steps = [10, 100]\napproval = true'))
    assert stack.paas("pipeline", "set", app, "--manifest", str(toml)).code == 0
    pushed = push(stack, app, "main-5")
    waiting = wait_for("the approval wait", lambda: [
        p for p in stack.paas("pipeline", app, "--json").json()["pushes"]
        if p["tag"] == "main-5" and (p["waiting_for"] or "").startswith("waiting for approval")], 90)
    assert waiting[0]["waiting_for"] == f"waiting for approval to production (paas approve {app} --env production v1)"
    assert stack.sql("SELECT count(*) AS n FROM promotions")[0].n == 1  # staging only
    r = stack.paas("approve", app, "--env", "production", "v1", "--json")
    assert r.code == 0, r.err
    assert r.json()["tag"] == "main-5" and r.json()["approver"] == "tester@test"
    row = ended(stack, app, pushed["digest"])
    assert row.state == "released", row.end_reason
    [prod] = stack.sql("SELECT * FROM paas_promotions WHERE app = %(a)s AND environment = 'production'", a=app)
    assert prod.approver == "tester@test" and prod.approved_at is not None
    assert stack.paas("approve", app, "--env", "production", "v1").code == 2  # nothing waits any more


def test_a_lost_push_event_is_found_by_the_resync_and_a_duplicate_is_recorded_once(stack, monkeypatch, tmp_path):
    import json as _json

    from paas.devstack.up import add_environment

    monkeypatch.setenv("PAAS_PUSH_WAIT", "1")
    monkeypatch.setenv("PAAS_PIPELINE_RESYNC", "1")
    add_environment(stack.db_url, stack.boot, stack.emulator.endpoint_url, "staging")
    app = stack.app()
    toml = tmp_path / "paas.toml"
    toml.write_text(f'[pipeline]\nrepository = "{app}"\ntags = "semver"\ntest_command = "true"\n'
                    '[[pipeline.stages]]\nenvironment = "staging"\n')
    assert stack.paas("pipeline", "set", app, "--manifest", str(toml)).code == 0
    w = stack.start_worker()
    wait_for("the push queue", lambda: w.consumers and all(c.queue_url for c in w.consumers.values()), 30)
    # an image put into ECR whose event never arrives (moto's PutImage sends none)
    ecr = stack.client("ecr")
    from paas.devstack.push import MEDIA_TYPE

    digest_layer = "sha256:" + "c" * 64
    manifest = _json.dumps({"schemaVersion": 2, "mediaType": MEDIA_TYPE, "config": {"digest": digest_layer},
                            "layers": [{"digest": digest_layer, "size": 1}]})
    put = ecr.put_image(repositoryName=app, imageManifest=manifest, imageTag="1.4.0",
                        imageManifestMediaType=MEDIA_TYPE) if _repo(ecr, app) else None
    digest = put["image"]["imageId"]["imageDigest"]
    row = wait_for("the resync's push", lambda: push_row(stack, app, digest), 30)
    assert (row.source, row.tag) == ("resync", "1.4.0")
    # the same event delivered twice: one push
    events = stack.client("events")
    detail = {"result": "SUCCESS", "repository-name": app, "image-digest": digest, "action-type": "PUSH",
              "image-tag": "1.4.0"}
    for _ in range(2):
        events.put_events(Entries=[{"Source": "aws.ecr", "DetailType": "ECR Image Action",
                                    "Detail": _json.dumps(detail)}])
    wait_for("both messages consumed", lambda: all(c.received >= 2 for c in w.consumers.values()), 30)
    assert len(stack.sql("SELECT 1 FROM image_pushes WHERE digest = %(d)s", d=digest)) == 1
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName="paas-image-pushes")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    policy = _json.loads(attrs["Policy"])["Statement"][0]
    assert policy["Principal"] == {"Service": "events.amazonaws.com"} and "aws:SourceArn" in str(policy)
    # a stopped worker's push consumer has finished its poll: it takes no later push with it
    stack.stop_workers()
    assert not [t for t in threading.enumerate() if t.name == "push-events"]


def _repo(ecr, name):
    try:
        ecr.create_repository(repositoryName=name)
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass
    return True


def test_a_check_past_its_timeout_is_stopped_and_fails(stack, pipeline):
    app = pipeline
    toml = stack.toml
    toml.write_text(toml.read_text().replace('test_timeout = "30s"', 'test_timeout = "2s"'))
    assert stack.paas("pipeline", "set", app, "--manifest", str(toml)).code == 0
    pushed = push(stack, app, "main-9", profile="hanging-tests")
    row = ended(stack, app, pushed["digest"])
    assert (row.state, row.end_reason) == ("failed", "integration tests timed out after 2s")
    [check] = stack.sql("SELECT * FROM image_checks WHERE digest = %(d)s", d=pushed["digest"])
    assert (check.state, check.stop_code) == ("failed", "Timeout") and check.task_arn
    ecs = stack.client("ecs")
    wait_for("the check's task stopped", lambda: ecs.describe_tasks(cluster="paas-staging", tasks=[check.task_arn])[
        "tasks"][0]["lastStatus"] == "STOPPED", 60)
    assert stack.sql("SELECT * FROM promotions") == []


def test_a_push_message_that_cannot_be_recorded_comes_back_soon_and_holds_up_no_other(stack, tmp_path):
    """The database refuses one message (a trigger on its tag): the others of the batch are
    recorded and deleted, the refused one is received again after the consumer's retry delay
    (not the queue's 60 s visibility timeout) and recorded once the database takes it; a message
    whose repository was deleted meanwhile is dropped, not retried for the queue's 4 days."""
    from contextlib import closing

    from paas.db import pipeline as pdb
    from paas.db.sql import connect
    from paas.devstack.push import push as put_image
    from paas.devstack.up import add_environment
    from paas.reconciler.drivers import push_driver_for
    from paas.reconciler.pipeline import PushConsumer

    add_environment(stack.db_url, stack.boot, stack.emulator.endpoint_url, "staging")
    app, other = stack.app(), stack.app()
    for name in (app, other):
        toml = tmp_path / f"{name}.toml"
        toml.write_text(f'[pipeline]\nrepository = "{name}"\ntags = "main-*"\ntest_command = "true"\n'
                        '[[pipeline.stages]]\nenvironment = "staging"\n')
        assert stack.paas("pipeline", "set", name, "--manifest", str(toml)).code == 0
    with closing(connect(stack.db_url)) as db:
        db.execute("""CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$
                      BEGIN RAISE EXCEPTION 'refused for the test'; END $$""")
        db.execute("CREATE TRIGGER refuse_bad BEFORE INSERT ON image_pushes FOR EACH ROW "
                   "WHEN (NEW.tag = 'main-bad') EXECUTE FUNCTION refuse_bad()")
        db.commit()
        watched = pdb.watched(db)
        db.commit()
    consumer = PushConsumer(push_driver_for(watched[0][3], 1), wait_seconds=1, retry_seconds=1)
    consumer.ensure()
    ecr, events = stack.client("ecr"), stack.client("events")
    good = put_image(ecr, events, app, "main-1")
    bad = put_image(ecr, events, app, "main-bad")
    put_image(ecr, events, other, "main-1")
    ecr.delete_repository(repositoryName=other, force=True)

    def poll():
        try:
            consumer.poll_once(lambda: closing(connect(stack.db_url)), pdb.watched)
        except Exception as e:
            assert "refused for the test" in str(e)

    def recorded(digest):
        return bool(stack.sql("SELECT 1 FROM image_pushes WHERE digest = %(d)s", d=digest))

    wait_for("the good push recorded", lambda: poll() or recorded(good["digest"]), 30)
    assert not recorded(bad["digest"]) and not stack.sql("SELECT 1 FROM image_pushes p JOIN apps a "
                                                         "ON a.id = p.app_id WHERE a.name = %(o)s", o=other)
    received = consumer.received
    # within 30 s: the queue's visibility timeout (60 s) would bring it back later
    wait_for("the refused message again", lambda: poll() or consumer.received > received, 30)
    with closing(connect(stack.db_url)) as db:
        db.execute("DROP TRIGGER refuse_bad ON image_pushes")
        db.commit()
    wait_for("the refused push recorded", lambda: poll() or recorded(bad["digest"]), 30)
    sqs = stack.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=consumer.queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
