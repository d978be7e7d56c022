"""End to end: `paas notify add` keeps the URL in SSM only, and a real deploy on the local stack
is announced to a real receiver: deploy_started then deploy_succeeded, signed."""

from __future__ import annotations

import json
import time

from paas.domain import notify as nd
from tests.e2e.conftest import deployment_id
from tests.receiver import Receiver


def _wait(cond, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_deploy_is_announced_to_a_signed_webhook_whose_url_stays_in_ssm(stack):
    from paas.db.sql import connect

    rx = Receiver()
    try:
        app = stack.app()
        r = stack.paas("notify", "add", app, "-", "--env", "dev", "--json", input=rx.url + "\n")
        assert r.code == 0, r.err
        added = r.json()
        secret = added["signing_secret"]
        assert added["url"] == f"http://127.0.0.1:{rx.port}/…" and "secret-token" not in r.out
        assert added["events"] == list(nd.EVENTS) and added["environment"] == "dev"

        # the database holds the parameters' names, never the URL or the secret
        db = connect(stack.db_url)
        try:
            dump = json.dumps([dict(x) for x in db.all("SELECT * FROM notify_targets")], default=str)
            target = db.one("SELECT url_param, secret_param FROM notify_targets WHERE id = %(i)s", i=added["id"])
        finally:
            db.close()
        assert "secret-token" not in dump and secret not in dump
        ssm = stack.client("ssm")
        p = ssm.get_parameter(Name=target.url_param, WithDecryption=True)["Parameter"]
        assert p["Type"] == "SecureString" and p["Value"] == rx.url
        assert ssm.get_parameter(Name=target.secret_param, WithDecryption=True)["Parameter"]["Value"] == secret

        stack.start_worker()
        r = stack.paas("deploy", app, "--image", "shop:1", "--json", "--wait")
        assert r.code == 0, r.err
        dep = deployment_id(r)
        got = rx.wait_for(2, timeout=60)
        assert [g.json()["event"] for g in got] == ["deploy_started", "deploy_succeeded"]
        for g in got:
            assert nd.verify(secret, g.headers["X-Paas-Timestamp"], g.body, g.headers["X-Paas-Signature"],
                             now=time.time())
            body = g.json()
            assert (body["app"], body["environment"], body["release"], body["deployment_id"]) == (app, "dev", 1, dep)
            assert body["image"] == "shop:1" and g.headers["Idempotency-Key"] == body["id"]
        assert got[0].headers["Idempotency-Key"] != got[1].headers["Idempotency-Key"]

        listed = _wait(lambda: [t for t in stack.paas("notify", "list", app, "--json").json() if t["delivered"] == 2],
                       what="both recorded as delivered")
        assert listed[0]["url"] == added["url"] and listed[0]["dead"] == 0 and listed[0]["pending"] == 0

        r = stack.paas("notify", "remove", app, str(added["id"]), "--json")
        assert r.code == 0, r.err
        assert r.json()["parameters_deleted"] is True
        names = ssm.get_parameters(Names=[target.url_param, target.secret_param])
        assert names["Parameters"] == [] and len(names["InvalidParameters"]) == 2
        assert stack.paas("notify", "list", app, "--json").json() == []
    finally:
        rx.stop()


def test_a_rotated_secret_signs_the_next_notification(stack):
    rx = Receiver()
    try:
        app = stack.app()
        r = stack.paas("notify", "add", app, rx.url, "--env", "dev", "--events", "deploy_started", "--json")
        assert r.code == 0, r.err
        tid = r.json()["id"]
        r = stack.paas("notify", "secret", app, str(tid), "--json")
        assert r.code == 0, r.err
        rotated = r.json()["signing_secret"]
        stack.start_worker()
        assert stack.paas("deploy", app, "--image", "shop:1", "--wait").code == 0
        (g,) = rx.wait_for(1, timeout=60)
        assert nd.verify(rotated, g.headers["X-Paas-Timestamp"], g.body, g.headers["X-Paas-Signature"],
                         now=time.time())
    finally:
        rx.stop()
