"""What requests build on, and which release is live: one definition, used everywhere.

The worker's side is played by the storage functions the reconciler itself uses
(`paas.db.deployment_writes`), so these tests need no AWS: a deployment is started, finished,
or rolled back exactly as a worker records it.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from paas.db import deployment_writes as w


# --- the worker's side -----------------------------------------------------------------------

def _version_of(db, dep_id: int) -> int:
    return db.scalar("SELECT r.version FROM deployments d JOIN releases r ON r.id = d.release_id "
                     "WHERE d.id = %(i)s", i=dep_id)


def start(db, dep_id: int) -> None:
    with db.transaction():
        assert w.start(db, dep_id, "test-worker", 0)


def succeed(db, dep_id: int) -> None:
    with db.transaction():
        assert w.finish(db, dep_id, "succeeded", "stable", 0, error=None, rolled_back=False)


def roll_back(db, dep_id: int, to_version: int | None, state: str = "rolled_back", why: str = "breaker") -> None:
    with db.transaction():
        if to_version is not None:
            w.begin_rollback(db, dep_id, to_version, why, 0)
        assert w.finish(db, dep_id, state, why, 0, error=why, rolled_back=to_version is not None)


def fail(db, dep_id: int) -> None:
    with db.transaction():
        assert w.fail(db, dep_id, "AccessDenied", 0)


def ok(r):
    assert r.code == 0, r.err
    return r.json() if r.out.strip().startswith("{") else r


def image_of(db, app: str, version: int) -> str:
    return db.scalar("SELECT i.reference FROM releases r JOIN images i ON i.id = r.image_id "
                     "JOIN apps a ON a.id = r.app_id WHERE a.name = %(a)s AND r.version = %(v)s", a=app, v=version)


def formation_of(db, app: str, version: int) -> dict:
    return db.scalar("SELECT r.formation FROM releases r JOIN apps a ON a.id = r.app_id "
                     "WHERE a.name = %(a)s AND r.version = %(v)s", a=app, v=version)


# --- the cases seen ----------------------------------------------------------------------------

def test_config_and_scale_after_a_rolled_back_deploy_build_on_the_live_release(paas, staging, db):
    """A crash-looping image rolled back by the breaker never comes back through config or scale."""
    d1 = ok(paas("deploy", "checkout", "--image", "shop:good", "-e", "staging", "--json"))["deployment_id"]
    start(db, d1), succeed(db, d1)
    d2 = ok(paas("deploy", "checkout", "--image", "shop:crash", "-e", "staging", "--json"))["deployment_id"]
    start(db, d2), roll_back(db, d2, 1)

    cfg = ok(paas("config", "set", "checkout", "FOO=1", "-e", "staging", "--json"))
    assert image_of(db, "checkout", cfg["release_version"]) == "shop:good"
    assert cfg["strategy"] == "rolling"
    scale = ok(paas("scale", "checkout", "web=2", "-e", "staging", "--json"))
    # the config request (v3) is on its way: the scale builds on it, still the good image
    assert image_of(db, "checkout", scale["release_version"]) == "shop:good"
    assert formation_of(db, "checkout", scale["release_version"])["web"]["count"] == 2


def test_config_after_an_aborted_canary_does_not_ship_the_aborted_image(paas, staging, db):
    d1 = ok(paas("deploy", "checkout", "--image", "shop:1", "-e", "staging", "--json"))["deployment_id"]
    start(db, d1), succeed(db, d1)
    d2 = ok(paas("deploy", "checkout", "--image", "shop:bad", "-e", "staging", "--strategy", "canary",
                 "--json"))["deployment_id"]
    start(db, d2)
    assert paas("abort", "checkout", "-e", "staging").code == 0
    # the abort is recorded; before the worker acts on it, a config change must not build on v2
    ok(paas("config", "set", "checkout", "A=1", "-e", "staging", "--json"))
    assert image_of(db, "checkout", 3) == "shop:1"
    roll_back(db, d2, 1)
    r = ok(paas("config", "unset", "checkout", "A", "-e", "staging", "--json"))
    assert image_of(db, "checkout", r["release_version"]) == "shop:1"


def test_a_config_change_on_a_canary_in_flight_keeps_the_gate(paas, staging, db):
    d1 = ok(paas("deploy", "checkout", "--image", "shop:1", "-e", "staging", "--json"))["deployment_id"]
    start(db, d1), succeed(db, d1)
    d2 = ok(paas("deploy", "checkout", "--image", "shop:2", "-e", "staging", "--strategy", "canary",
                 "--json"))["deployment_id"]
    start(db, d2)
    cfg = ok(paas("config", "set", "checkout", "A=1", "-e", "staging", "--json"))
    assert image_of(db, "checkout", cfg["release_version"]) == "shop:2"  # on its way: built on
    assert cfg["strategy"] == "canary"  # and still gated


def test_rollback_keeps_todays_formation_unless_asked(paas, staging, db):
    d1 = ok(paas("deploy", "checkout", "--image", "shop:1", "-e", "staging", "--json"))["deployment_id"]
    start(db, d1), succeed(db, d1)
    d2 = ok(paas("deploy", "checkout", "--image", "shop:2", "-e", "staging", "--json"))["deployment_id"]
    start(db, d2), succeed(db, d2)
    d3 = ok(paas("scale", "checkout", "web=3", "-e", "staging", "--json"))["deployment_id"]
    start(db, d3), succeed(db, d3)

    r = paas("rollback", "checkout", "-e", "staging", "--to", "v1", "--json")
    back = ok(r)
    assert image_of(db, "checkout", back["release_version"]) == "shop:1"
    assert formation_of(db, "checkout", back["release_version"])["web"]["count"] == 3
    assert any("formation kept" in n and "--with-formation" in n for n in back["notes"])

    r = ok(paas("rollback", "checkout", "-e", "staging", "--to", "v1", "--with-formation", "--json"))
    assert formation_of(db, "checkout", r["release_version"])["web"]["count"] == 1
    assert any("formation changes" in n for n in r["notes"])


def test_rollback_without_to_returns_to_the_release_live_before_the_current_one(paas, staging, db):
    for tag in ("1", "2", "3"):
        d = ok(paas("deploy", "checkout", "--image", f"shop:{tag}", "-e", "staging", "--json"))["deployment_id"]
        start(db, d)
        (succeed if tag != "3" else (lambda db, i: roll_back(db, i, 2)))(db, d)
    # v3 was rolled back: v2 is live, so the rollback goes to v1, the one live before v2
    r = ok(paas("rollback", "checkout", "-e", "staging", "--json"))
    assert image_of(db, "checkout", r["release_version"]) == "shop:1"


def test_rollback_to_a_rejected_release_warns(paas, staging, db):
    d1 = ok(paas("deploy", "checkout", "--image", "shop:1", "-e", "staging", "--json"))["deployment_id"]
    start(db, d1), succeed(db, d1)
    d2 = ok(paas("deploy", "checkout", "--image", "shop:crash", "-e", "staging", "--json"))["deployment_id"]
    start(db, d2), roll_back(db, d2, 1)
    r = ok(paas("rollback", "checkout", "-e", "staging", "--to", "v2", "--json"))
    assert image_of(db, "checkout", r["release_version"]) == "shop:crash"  # asked for explicitly
    assert any("v2 was rolled back" in n for n in r["notes"])


# --- the property: one definition of live, and no request builds on a rejected release ---------

OPS = ("deploy", "config", "scale", "rollback", "cancel", "abort",  # requests (the CLI)
       "start", "succeed", "fail", "breaker")  # outcomes (the worker)
# Histories that matter need several steps in order; these macros make them common enough.
MACROS = {"ship": ("deploy", "start", "succeed"), "crash": ("deploy", "start", "breaker"),
          "broken": ("deploy", "start", "fail"), "aborted": ("deploy", "start", "abort")}
_apps = itertools.count()


def _desired_current(db, app_id: int, env_id: int):
    from paas.reconciler.load import load_desired

    loaded = load_desired(db, app_id, env_id)
    db.commit()
    d = loaded.desired
    return d.current.version if d.current else None


class Model:
    """What the rules say, computed from the sequence of operations alone."""

    def __init__(self):
        self.image: dict[int, str] = {}  # release version → image
        self.deps: dict[int, dict] = {}  # deployment id → {version, state, to, steered}
        self.live: int | None = None

    def in_flight(self) -> list[int]:
        return sorted(i for i, d in self.deps.items() if d["state"] in ("pending", "in_progress"))

    def base(self) -> int | None:
        for i in reversed(self.in_flight()):
            d = self.deps[i]
            if not d["steered"]:
                return d["to"] or d["version"]
        return self.live


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(st.sampled_from(OPS + tuple(MACROS)), min_size=3, max_size=14))
@example(script=["ship", "crash", "config", "scale"])  # the cases seen, always among the examples
@example(script=["ship", "aborted", "config", "succeed", "config"])
@example(script=["ship", "broken", "scale", "rollback", "start", "succeed", "config"])
def test_random_histories_agree_on_live_and_never_build_on_rejected(paas, staging, db, script):
    ops = [op for item in script for op in MACROS.get(item, (item,))]
    app = f"p{next(_apps)}"
    ok(paas("apps", "create", app))
    app_id = db.scalar("SELECT id FROM apps WHERE name = %(n)s", n=app)
    env_id = db.scalar("SELECT id FROM environments WHERE name = 'staging'")
    db.commit()
    m = Model()
    images = itertools.count(1)

    def request(args: list[str], expect_base: bool):
        r = paas(*args, "-e", "staging", "--json")
        if r.code != 0:
            return None
        out = r.json()
        if out["deployment_id"] is None:  # config saved before the first deploy: no release yet
            return out
        dep, version = out["deployment_id"], out["release_version"]
        got = image_of(db, app, version)
        if expect_base:
            base = m.base()
            assert base is not None and got == m.image[base], (ops, "built on the wrong release")
        m.image[version] = got
        for i in m.in_flight():
            if m.deps[i]["state"] == "pending":
                m.deps[i]["state"] = "superseded"
        m.deps[dep] = {"version": version, "state": "pending", "to": None, "steered": False}
        return out

    for op in ops:
        flight = m.in_flight()
        active = next((i for i in flight if m.deps[i]["state"] == "in_progress"), None)
        pending = [i for i in flight if m.deps[i]["state"] == "pending"]
        if op == "deploy":
            request(["deploy", app, "--image", f"shop:{next(images)}"], expect_base=False)
        elif op == "config":
            request(["config", "set", app, f"K{next(images)}=v"], expect_base=m.base() is not None)
        elif op == "scale" and m.base() is not None:
            request(["scale", app, "web=2"], expect_base=True)
        elif op == "rollback":
            request(["rollback", app], expect_base=False)
        elif op in ("cancel", "abort") and flight:
            target = active or pending[-1]
            verb = ["deployments", "cancel", str(target)] if op == "cancel" else ["abort", app]
            r = paas(*verb, *([] if op == "cancel" else ["-e", "staging"]))
            if r.code == 0:
                d = m.deps[target]
                if d["state"] == "pending":
                    d["state"] = "cancelled"
                else:
                    d["steered"] = op
        elif op == "start" and active is None and pending:
            start(db, pending[-1])
            m.deps[pending[-1]]["state"] = "in_progress"
        elif op == "succeed" and active is not None:
            d = m.deps[active]
            if d["steered"] and m.live is not None:  # the worker honours a cancel or abort first
                state = "cancelled" if d["steered"] == "cancel" else "rolled_back"
                roll_back(db, active, m.live, state)
                d["state"], d["to"] = state, m.live
            elif d["steered"]:  # nothing to go back to
                fail(db, active)
                d["state"] = "failed"
            else:
                succeed(db, active)
                d["state"], m.live = "succeeded", d["version"]
        elif op == "fail" and active is not None:
            fail(db, active)
            m.deps[active]["state"] = "failed"
        elif op == "breaker" and active is not None and m.live is not None:
            roll_back(db, active, m.live)
            m.deps[active].update(state="rolled_back", to=m.live)

        # one definition of live: the view, `paas status` and the reconciler agree with the rules
        view = db.scalar("SELECT release_version FROM paas_current_releases WHERE app_id = %(a)s "
                         "AND environment_id = %(e)s", a=app_id, e=env_id)
        db.commit()
        status = ok(paas("status", app, "-e", "staging", "--json"))["current_release"]
        planned = _desired_current(db, app_id, env_id)
        assert view == planned == (status["version"] if status else None) == m.live, (ops, op)
