"""Notifications: the outbox written in the caller's transaction, delivered at least once to a
real HTTP receiver, signed, in order per target, retried with backoff, redelivered with the same
Idempotency-Key after a worker dies mid-request, and given up on after the maximum age."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psycopg2
import pytest

from paas.db import notifications as n
from paas.domain import notify as nd
from paas.domain.errors import UserError
from tests.conftest import ROOT
from tests.receiver import Receiver

SECRET = "whsec_test-secret-0123456789"


# --------------------------------------------------------------------------- pure parts

@pytest.mark.parametrize("url", [
    "http://example.com/hook",                      # http off loopback
    "ftp://example.com/x",
    "https://user:pw@example.com/x",                # userinfo
    "https://@example.com/x",
    "https://example.com/x\n",
    "https://exa mple.com/x",
    "https://example.com/\x00",
    "https://example.com/\u202ex",                  # bidi override
    "https://ex\u00e4mple.com/x",                   # IDN not in punycode
    "https://example.com/" + "a" * 3000,
    "https://169.254.169.254/latest/meta-data",     # instance metadata
    "https://[fe80::1]/x",
    "https://0.0.0.0/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://example.com:0/x",
    "https://example.com:99999/x",
    "https://example.com/x#frag",
    "https:\\\\example.com\\x",
    "https:///x",
    "https://-bad-.com/x",
    "",
    "javascript:alert(1)",
])
def test_hostile_urls_are_refused(url):
    with pytest.raises(UserError):
        nd.check_url(url)


@pytest.mark.parametrize("url", [
    "https://hooks.slack.com/services/T000/B000/XXXX",
    "https://example.com:8443/a?b=c%20d",
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://[::1]:9000/x",
    "https://10.0.0.5/internal",
])
def test_good_urls_pass_and_show_only_scheme_and_host(url):
    assert nd.check_url(url) == url
    shown = nd.redact_url(url)
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    assert shown == f"{parts.scheme}://{parts.netloc}/…"  # nothing of the path or query


def test_event_names_are_checked():
    assert nd.events(None) == nd.EVENTS
    assert nd.events(["deploy_failed,rolled_back", "deploy_failed"]) == ("deploy_failed", "rolled_back")
    for bad in (["deploy"], ["deploy_failed,nope"], ["x" * 10_000], ["deploy_failed\n"]):
        with pytest.raises(UserError):
            nd.events(bad)


def test_the_signature_verifies_and_rejects_tampering_and_replay():
    body = b'{"event":"deploy_started"}'
    ts = int(time.time())
    sig = nd.signature(SECRET, ts, body)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert nd.verify(SECRET, str(ts), body, sig, now=time.time())
    assert not nd.verify(SECRET, str(ts), body + b" ", sig, now=time.time())
    assert not nd.verify("another-secret-xxxxxxxx", str(ts), body, sig, now=time.time())
    assert not nd.verify(SECRET, str(ts), body, sig, now=time.time() + 3600)  # replayed an hour later
    assert not nd.verify(SECRET, "soon", body, sig, now=time.time())


def test_backoff_doubles_up_to_the_cap_with_jitter():
    delays = [nd.retry_delay(a, 2.0, 60.0, 0.999) for a in range(1, 10)]
    assert delays[0] == pytest.approx(2.0, rel=0.01) and delays[1] == pytest.approx(4.0, rel=0.01)
    assert max(delays) <= 60.0
    assert nd.retry_delay(3, 2.0, 60.0, 0.0) == 4.0  # jitter keeps the upper half: never 0
    assert nd.retry_delay(10**6, 2.0, 60.0, 0.5) <= 60.0


def test_slack_text_cannot_ping_the_channel():
    body = json.loads(nd.body("slack", {"event": "deploy_failed", "app": "checkout", "environment": "prod",
                                        "release": 7, "reason": "boom <!channel> & <https://evil|click>"}))
    assert set(body) == {"text"}
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt;" in body["text"] and "&amp;" in body["text"]
    assert body["text"].startswith("[paas] checkout v7 in prod: deploy failed")


# --------------------------------------------------------------------------- the outbox

@pytest.fixture
def app_env(paas, staging, db):
    assert paas("env", "create", "production", "--region", "us-east-1", "--cluster", "c2").code == 0
    r = db.one("SELECT a.id AS app_id, e.id AS env_id, p.id AS prod_id FROM apps a, environments e, environments p "
               "WHERE a.name = 'checkout' AND e.name = 'staging' AND p.name = 'production'")
    return r


def _target(db, app_env, *, env_id=None, events=nd.EVENTS, fmt="json", name="t") -> int:
    tid = n.add_target(db, app_id=app_env.app_id, environment_id=env_id, store_environment_id=app_env.env_id,
                       fmt=fmt, events=tuple(events), url_param=f"/paas/notify/checkout/{name}/url",
                       secret_param=f"/paas/notify/checkout/{name}/signing-secret", url_display="http://127.0.0.1/…",
                       actor="tester@test")
    db.commit()
    return tid


def _outbox(db):
    return db.all("SELECT * FROM notify_outbox ORDER BY id")


def test_enqueue_writes_a_row_per_matching_target_in_the_callers_transaction(db, app_env):
    everywhere = _target(db, app_env, name="all")
    staging_only = _target(db, app_env, env_id=app_env.env_id, name="stg")
    _target(db, app_env, env_id=app_env.prod_id, name="prod")
    _target(db, app_env, events=["deploy_failed"], name="failures")

    n.enqueue(db, app_id=app_env.app_id, environment_id=app_env.env_id, event="deploy_started",
              payload={"release": 3, "deployment_id": 9, "image": "shop:1", "check": "smoke"})
    db.rollback()
    assert _outbox(db) == []  # rolled back with the caller's transaction

    n.enqueue(db, app_id=app_env.app_id, environment_id=app_env.env_id, event="deploy_started",
              payload={"release": 3, "deployment_id": 9, "image": "shop:1", "check": "smoke"})
    db.commit()
    rows = _outbox(db)
    assert sorted(r.target_id for r in rows) == [everywhere, staging_only]
    p = rows[0].payload
    assert p["id"] == str(rows[0].key) and p["event"] == "deploy_started" and p["app"] == "checkout"
    assert p["environment"] == "staging" and p["release"] == 3 and p["check"] == "smoke" and p["at"].endswith("Z")
    assert list(nd.json_body(p))[:9] == list(nd.PAYLOAD_KEYS)

    # a psycopg2 cursor works as well (the pipeline's call); an app-wide event reaches every target
    with db.conn.cursor() as cur:
        n.enqueue(cur, app_id=app_env.app_id, environment_id=None, event="deploy_failed", payload={"reason": "x"})
    db.commit()
    assert len([r for r in _outbox(db) if r.event == "deploy_failed"]) == 4


def test_enqueue_refuses_unknown_events_and_huge_payloads(db, app_env):
    _target(db, app_env)
    with pytest.raises(ValueError):
        n.enqueue(db, app_id=app_env.app_id, environment_id=None, event="deployed", payload={})
    with pytest.raises(ValueError):
        n.enqueue(db, app_id=app_env.app_id, environment_id=None, event="deploy_failed", payload={"x": "y" * 20_000})
    n.enqueue(db, app_id=app_env.app_id, environment_id=None, event="deploy_failed", payload={"reason": "r" * 5000})
    db.commit()
    assert len(_outbox(db)[0].payload["reason"]) == nd.REASON_MAX


# --------------------------------------------------------------------------- delivery

@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def _settings(**over):
    from paas.settings import NotifySettings

    s = NotifySettings()
    s.timeout, s.lease, s.backoff, s.backoff_max, s.max_age = 2.0, 10.0, 0.05, 0.2, 3600.0
    for k, v in over.items():
        setattr(s, k, v)
    return s


@pytest.fixture
def deliverer(db_url, receiver):
    from paas.db.engine import make_engine
    from paas.reconciler.notify import Deliverer

    engine = make_engine(db_url, pool_size=2)
    secrets = {}

    def resolve(d):  # stands in for SSM (tested end to end in tests/e2e/test_notify.py)
        return receiver.url, secrets.get(d.target_id, SECRET)

    dl = Deliverer(engine, "test-worker", _settings(), resolve=resolve)
    dl.secrets = secrets
    yield dl
    engine.dispose()


def _drain(dl, until, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError("deliveries did not finish in time")
        if dl.run_once() == 0:
            due = dl.next_due_in()
            time.sleep(min(0.05, due if due is not None else 0.05))


def _states(db):
    db.rollback()
    return [r.state for r in _outbox(db)]


def test_a_delivery_is_signed_and_carries_its_idempotency_key(db, app_env, deliverer, receiver):
    _target(db, app_env)
    n.enqueue(db, app_id=app_env.app_id, environment_id=app_env.env_id, event="deploy_succeeded",
              payload={"release": 4, "deployment_id": 12, "image": "shop:4"})
    db.commit()
    _drain(deliverer, lambda: _states(db) == ["delivered"])
    (req,) = receiver.requests
    row = _outbox(db)[0]
    assert req.headers["Idempotency-Key"] == str(row.key)
    assert req.headers["X-Paas-Event"] == "deploy_succeeded"
    assert req.headers["Content-Type"] == "application/json"
    assert nd.verify(SECRET, req.headers["X-Paas-Timestamp"], req.body, req.headers["X-Paas-Signature"],
                     now=time.time())
    body = req.json()
    assert body == {"id": str(row.key), "event": "deploy_succeeded", "app": "checkout", "environment": "staging",
                    "release": 4, "deployment_id": 12, "image": "shop:4", "reason": None, "at": body["at"]}
    assert row.last_status == 200 and row.attempts == 1 and row.finished_at is not None


def test_slack_targets_get_a_text_summary(db, app_env, deliverer, receiver):
    _target(db, app_env, fmt="slack")
    n.enqueue(db, app_id=app_env.app_id, environment_id=app_env.env_id, event="rolled_back",
              payload={"release": 5, "reason": "5xx over the limit"})
    db.commit()
    _drain(deliverer, lambda: _states(db) == ["delivered"])
    assert receiver.requests[0].json() == {"text": "[paas] checkout v5 in staging: rolled back: 5xx over the limit"}


def test_a_receiver_down_then_up_gets_everything_in_order(db, app_env, deliverer, receiver):
    """Down (connection refused), then answering 503, then up: nothing lost, order kept, each
    notification's key the same on every attempt, and no later row sent before an earlier one."""
    _target(db, app_env)
    port = receiver.port
    receiver.stop()
    for i in range(5):
        n.enqueue(db, app_id=app_env.app_id, environment_id=app_env.env_id, event="deploy_started",
                  payload={"release": i + 1})
    db.commit()
    # while it is down only the oldest row is tried, again and again
    _drain(deliverer, lambda: _outbox(db)[0].attempts >= 3)
    rows = _outbox(db)
    assert [r.attempts for r in rows[1:]] == [0, 0, 0, 0]
    assert rows[0].state == "pending" and "127.0.0.1" in rows[0].last_error and "secret-token" not in rows[0].last_error

    receiver.port = port
    receiver.status = lambda count: 503 if count <= 2 else 200
    receiver.start()
    _drain(deliverer, lambda: _states(db) == ["delivered"] * 5)

    delivered = receiver.requests
    keys = [str(r.key) for r in _outbox(db)]
    # the 503s were for the first row; after them each row once, in order
    assert [r.json()["release"] for r in delivered] == [1, 1, 1, 2, 3, 4, 5]
    assert [r.headers["Idempotency-Key"] for r in delivered] == [keys[0]] * 3 + keys[1:]
    assert [int(r.headers["X-Paas-Attempt"]) for r in delivered][:3] == [rows[0].attempts + 1,
                                                                          rows[0].attempts + 2,
                                                                          rows[0].attempts + 3]


def test_one_receiver_down_does_not_hold_up_another(db, app_env, deliverer, receiver):
    slow = _target(db, app_env, name="down")
    _target(db, app_env, name="up")
    original = deliverer.resolve

    def resolve(d):  # the "down" target points at a closed port
        url, secret = original(d)
        return (("http://127.0.0.1:9/closed") if d.target_id == slow else url), secret

    deliverer.resolve = resolve
    for i in range(3):
        n.enqueue(db, app_id=app_env.app_id, environment_id=None, event="check_failed", payload={"release": i})
    db.commit()
    _drain(deliverer, lambda: [r.state for r in _outbox(db) if r.target_id != slow] == ["delivered"] * 3)
    assert [r.state for r in _outbox(db) if r.target_id == slow] == ["pending"] * 3
    assert len(receiver.requests) == 3


def test_a_worker_killed_mid_delivery_is_redelivered_with_the_same_key(db, db_url, app_env, receiver, deliverer):
    """A real process claims the row and posts; the receiver holds the request; the process is
    killed; once its lease expires another worker sends the row again with the same key."""
    import threading

    _target(db, app_env)
    n.enqueue(db, app_id=app_env.app_id, environment_id=app_env.env_id, event="approval_needed",
              payload={"release": 2})
    db.commit()
    receiver.hang = threading.Event()
    script = (
        "import sys\n"
        "from paas.db.engine import make_engine\n"
        "from paas.reconciler.notify import Deliverer\n"
        "from paas.settings import NotifySettings\n"
        "s = NotifySettings(); s.timeout = 30.0\n"
        "d = Deliverer(make_engine(sys.argv[1], pool_size=1), 'doomed-worker', s,\n"
        "              resolve=lambda row: (sys.argv[2], 'whsec_test-secret-0123456789'))\n"
        # claimed with a 2 s lease, then sent (and held by the receiver until the process is killed)
        "from paas.db import notifications as n\n"
        "from paas.db.engine import pooled\n"
        "with pooled(d.engine) as db:\n"
        "    rows = n.claim(db, 'doomed-worker', 2.0, 1)\n"
        "for r in rows:\n"
        "    d._deliver(r)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", script, db_url, receiver.url], cwd=str(ROOT),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        first = receiver.wait_for(1, timeout=60)[0]
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    receiver.hang.set()
    receiver.hang = None
    row = _outbox(db)[0]
    assert row.state == "pending" and row.lease_owner == "doomed-worker"
    _drain(deliverer, lambda: _states(db) == ["delivered"])
    assert len(receiver.requests) == 2
    second = receiver.requests[1]
    assert second.headers["Idempotency-Key"] == first.headers["Idempotency-Key"] == str(row.key)
    assert second.body == first.body


def test_a_late_worker_records_nothing_after_its_lease_was_taken(db, app_env, deliverer):
    _target(db, app_env)
    n.enqueue(db, app_id=app_env.app_id, environment_id=None, event="deploy_started", payload={})
    db.commit()
    (mine,) = n.claim(db, "slow-worker", 0.01, 4)
    time.sleep(0.05)  # the lease (10 ms) has to run out; nothing else can signal that
    (theirs,) = n.claim(db, "other-worker", 10, 4)
    assert theirs.key == mine.key and theirs.token == mine.token + 1
    assert not n.delivered(db, mine, "slow-worker", 200)
    assert n.failed(db, mine, "slow-worker", status=500, error="x", retry_in=1, max_age=10) is None
    assert n.delivered(db, theirs, "other-worker", 200)


def test_a_notification_past_its_maximum_age_is_dead_and_shown(db, app_env, deliverer, receiver, paas):
    _target(db, app_env)
    receiver.status = 500
    n.enqueue(db, app_id=app_env.app_id, environment_id=None, event="deploy_failed", payload={"reason": "x"})
    n.enqueue(db, app_id=app_env.app_id, environment_id=None, event="rolled_back", payload={})
    db.commit()
    deliverer.settings.max_age = 0.3
    _drain(deliverer, lambda: _states(db) == ["dead", "dead"])
    assert len(receiver.requests) >= 2  # each was tried before it was given up on
    r = paas("notify", "list", "checkout", "--json")
    assert r.code == 0, r.err
    (t,) = r.json()
    assert t["dead"] == 2 and t["pending"] == 0 and "answered 500" in t["last_error"]
    d = paas("notify", "deliveries", "checkout", "--json").json()
    assert [x["state"] for x in d] == ["dead", "dead"]


def test_a_removed_targets_notifications_are_dropped(db, app_env, deliverer, receiver):
    tid = _target(db, app_env)
    n.enqueue(db, app_id=app_env.app_id, environment_id=None, event="deploy_started", payload={})
    db.commit()
    assert n.remove_target(db, app_env.app_id, tid, "tester@test")
    db.commit()
    n.enqueue(db, app_id=app_env.app_id, environment_id=None, event="deploy_started", payload={})
    db.commit()
    _drain(deliverer, lambda: _states(db) == ["dropped"])
    assert receiver.requests == []


# --------------------------------------------------------------------------- the CLI, hostile

@pytest.mark.parametrize("args", [
    ["notify", "add", "checkout", "http://example.com/x", "--store-env", "staging"],
    ["notify", "add", "checkout", "https://u:p@example.com/x", "--store-env", "staging"],
    ["notify", "add", "checkout", "https://169.254.169.254/x", "--store-env", "staging"],
    ["notify", "add", "checkout", "https://example.com/\x1b[31mred", "--store-env", "staging"],
    ["notify", "add", "checkout", "https://example.com/" + "x" * 5000, "--store-env", "staging"],
    ["notify", "add", "checkout", "https://example.com/x", "--events", "deploy_started,deployed"],
    ["notify", "add", "checkout", "https://example.com/x", "--format", "xml"],
    ["notify", "add", "checkout", "https://example.com/x", "--env", "Bad Env"],
    ["notify", "add", "Bad App", "https://example.com/x"],
    ["notify", "add", "checkout", "https://example.com/x"],  # every environment, no --store-env
    ["notify", "add", "nosuchapp", "https://example.com/x", "--store-env", "staging"],
    ["notify", "add", "checkout", "https://example.com/x", "--env", "nosuchenv"],
    ["notify", "remove", "checkout", "1; DROP TABLE apps"],
    ["notify", "remove", "checkout", "99999999999999999999"],
    ["notify", "remove", "checkout", "7"],
    ["notify", "deliveries", "checkout", "--limit", "-1"],
    ["notify", "list", "checkout\u202e"],
])
def test_hostile_notify_input_is_one_line_exit_2_and_writes_nothing(paas, staging, db, args):
    r = paas(*args)
    assert r.code == 2, (r.code, r.out, r.err)
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert "secret-token" not in r.err and "u:p@" not in r.err
    assert db.scalar("SELECT count(*) FROM notify_targets") == 0


def test_a_hostile_url_from_stdin_is_refused_too(paas, staging, db):
    r = paas("notify", "add", "checkout", "-", "--store-env", "staging", input="https://example.com/a\x00b\n")
    assert r.code == 2 and "printable ASCII" in r.err
    r = paas("notify", "add", "checkout", "-", "--store-env", "staging", input="\xff")
    assert r.code == 2
    assert db.scalar("SELECT count(*) FROM notify_targets") == 0


# --------------------------------------------------------------------------- roles

def test_the_worker_role_enqueues_and_delivers_and_the_cli_role_does_not(db, db_url, app_env, paas):
    assert paas("db", "roles").code == 0
    tid = _target(db, app_env)

    def as_role(role):
        conn = psycopg2.connect(db_url)
        conn.cursor().execute(f"SET ROLE {role}")
        conn.commit()  # a rollback later must not undo the SET
        from paas.db.sql import Db

        return Db(conn)

    w = as_role("paas_worker")
    n.enqueue(w, app_id=app_env.app_id, environment_id=None, event="deploy_started", payload={})
    w.commit()
    (d,) = n.claim(w, "w", 10, 4)
    assert n.delivered(w, d, "w", 200)
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        w.execute("UPDATE notify_targets SET format = 'slack'")
    w.rollback()
    # a delivered row is final, for the worker too: no row is there to change
    assert w.execute("UPDATE notify_outbox SET state = 'pending', finished_at = NULL WHERE id = %(i)s", i=d.id) == 0
    w.rollback()
    w.close()

    c = as_role("paas_cli")
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        n.enqueue(c, app_id=app_env.app_id, environment_id=None, event="deploy_started", payload={})
    c.rollback()
    assert c.scalar("SELECT current_user") == "paas_cli"
    assert n.remove_target(c, app_env.app_id, tid, "someone")
    c.commit()
    # a removed target stays removed
    assert c.execute("UPDATE notify_targets SET removed_at = NULL, removed_by = NULL WHERE id = %(i)s", i=tid) == 0
    c.rollback()
    c.close()


# --------------------------------------------------------------------------- deployment transitions

def test_deployment_starts_and_ends_write_their_notifications_in_the_same_transaction(paas, db, app_env):
    from paas.db import deployment_writes as w

    _target(db, app_env, env_id=app_env.env_id)
    r = paas("deploy", "checkout", "--image", "shop:1", "--env", "staging", "--json")
    assert r.code == 0, r.err
    first = r.json()["deployment_id"]
    assert w.start(db, first, "w1", 1)
    db.rollback()  # the state change rolled back: so did its notification
    assert _outbox(db) == []

    assert w.start(db, first, "w1", 1)
    assert w.finish(db, first, "rolled_back", "turned back", 1, error="5xx over 2%", rolled_back=True)
    db.commit()
    second = paas("deploy", "checkout", "--image", "shop:2", "--env", "staging", "--json").json()["deployment_id"]
    assert w.start(db, second, "w1", 1)
    assert w.fail(db, second, "image not found", 1)
    db.commit()
    third = paas("deploy", "checkout", "--image", "shop:3", "--env", "staging", "--json").json()["deployment_id"]
    assert w.start(db, third, "w1", 1)
    assert w.finish(db, third, "succeeded", "done", 1, error=None, rolled_back=False)
    db.commit()
    fourth = paas("deploy", "checkout", "--image", "shop:4", "--env", "staging", "--json").json()["deployment_id"]
    assert w.start(db, fourth, "w1", 1)
    w.supersede(db, fourth, third, "newer request", 1)  # superseded: nothing to say
    db.commit()

    got = [(r.event, r.payload["deployment_id"], r.payload["release"], r.payload["image"], r.payload["reason"])
           for r in _outbox(db)]
    assert got == [
        ("deploy_started", first, 1, "shop:1", None), ("rolled_back", first, 1, "shop:1", "5xx over 2%"),
        ("deploy_started", second, 2, "shop:2", None), ("deploy_failed", second, 2, "shop:2", "image not found"),
        ("deploy_started", third, 3, "shop:3", None), ("deploy_succeeded", third, 3, "shop:3", None),
        ("deploy_started", fourth, 4, "shop:4", None),
    ]
    assert _outbox(db)[0].payload["release_kind"] == "deploy"


def test_list_and_deliveries_print_tables_without_secrets(paas, db, app_env):
    tid = _target(db, app_env, env_id=app_env.env_id, events=["deploy_failed", "rolled_back"])
    n.enqueue(db, app_id=app_env.app_id, environment_id=app_env.env_id, event="rolled_back", payload={})
    db.commit()
    r = paas("notify", "list", "checkout")
    assert r.code == 0, r.err
    assert "http://127.0.0.1/…" in r.out and "deploy_failed,rolled_back" in r.out and "staging" in r.out
    assert "/paas/notify/" not in r.out
    r = paas("notify", "deliveries", "checkout", "--target", str(tid))
    assert r.code == 0 and "rolled_back" in r.out and "pending" in r.out
    assert paas("notify", "list", "checkout", "--json").json()[0]["pending"] == 1


def test_a_name_resolving_to_a_link_local_address_is_not_posted_to():
    from paas.reconciler.notify import post

    # the address a host resolves to is checked when sent (a literal here: the tests control no DNS name)
    a = post("http://169.254.169.254/latest/meta-data", b"{}", {}, 1.0)
    assert not a.ok and a.status is None and "link-local" in a.error


def test_two_workers_at_once_keep_each_targets_order(db, db_url, app_env, receiver):
    import threading

    from paas.db.engine import make_engine
    from paas.reconciler.notify import Deliverer

    targets = [_target(db, app_env, name="one"), _target(db, app_env, name="two")]
    for i in range(12):
        n.enqueue(db, app_id=app_env.app_id, environment_id=None, event="deploy_started", payload={"release": i})
    db.commit()
    engine = make_engine(db_url, pool_size=4)
    workers = [Deliverer(engine, f"w{k}", _settings(), resolve=lambda d: (f"{receiver.url}?t={d.target_id}", SECRET))
               for k in range(2)]
    done = threading.Event()

    def loop(dl):
        while not done.is_set():
            if dl.run_once() == 0:
                done.wait(0.01)

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    try:
        receiver.wait_for(24, timeout=60)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=30)
        engine.dispose()
    for tid in targets:
        seen = [r.json()["release"] for r in receiver.requests if r.path.endswith(f"?t={tid}")]
        assert seen == list(range(12)), (tid, seen)
    assert len({r.headers["Idempotency-Key"] for r in receiver.requests}) == 24
