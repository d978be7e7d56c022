"""Reading commands (releases, history, deployments show, status) and the ops views.

Deployment states are moved with SQL here, standing in for the reconciler.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from paas.service.history import HISTORY_COLUMNS

SHA = "sha256:" + "b" * 64


def iso(value) -> datetime:
    t = datetime.fromisoformat(value)
    assert t.tzinfo is not None, value
    return t


def finish(db, dep_id: int, state: str = "succeeded", *, known_good: bool = False, at: str = "now()",
           rolled_back_to: int | None = None) -> None:
    db.execute(
        f"""
        UPDATE deployments SET state = %(s)s, started_at = {at} - interval '30 seconds', finished_at = {at},
               rolled_back_from_id = CASE WHEN %(s)s = 'rolled_back' THEN release_id END,
               rolled_back_to_id = (SELECT r.id FROM releases r JOIN deployments d ON d.id = %(i)s
                                     WHERE r.app_id = d.app_id AND r.environment_id = d.environment_id
                                       AND r.version = %(to)s)
         WHERE id = %(i)s
        """,
        s=state, i=dep_id, to=rolled_back_to,
    )
    if known_good:
        db.execute("UPDATE releases SET known_good_at = now() WHERE id = (SELECT release_id FROM deployments "
                   "WHERE id = %(i)s)", i=dep_id)
    db.commit()


def deploy(paas, *args) -> dict:
    r = paas(*args, "--json")
    assert r.code == 0, r.err
    return r.json()


@pytest.fixture
def story(paas, staging, db):
    """v1 deploy (succeeded, known-good), v2 config, v3 scale (failed), v4 rollback (pending)."""
    d1 = deploy(paas, "deploy", "checkout", "--image", f"registry.example.com/checkout:1.0@{SHA}", "--env",
                "staging", "-m", "first")["deployment_id"]
    finish(db, d1, known_good=True)
    d2 = deploy(paas, "config", "set", "checkout", "LOG_LEVEL=debug", "--env", "staging")["deployment_id"]
    finish(db, d2)
    d3 = deploy(paas, "scale", "checkout", "web=3", "--env", "staging", "-m", "more")["deployment_id"]
    finish(db, d3, "failed")
    d4 = deploy(paas, "rollback", "checkout", "--to", "v1", "--env", "staging")["deployment_id"]
    return {"ids": [d1, d2, d3, d4], "db": db}


# --- JSON shapes -------------------------------------------------------------------------------

def test_releases_json(paas, story):
    rows = paas("releases", "checkout", "--env", "staging", "--json").json()
    assert [r["version"] for r in rows] == [4, 3, 2, 1]
    keys = {"app", "environment", "version", "kind", "image", "image_digest", "config_version",
            "formation", "formation_summary", "copied_from_version", "actor", "message", "created_at",
            "known_good", "known_good_at", "deployment_id", "deployment_state"}
    assert all(set(r) == keys for r in rows)
    v4, v3, v2, v1 = rows
    assert [r["kind"] for r in rows] == ["rollback", "scale", "config", "deploy"]
    assert v1["image_digest"] == SHA and v1["known_good"] is True and iso(v1["known_good_at"])
    assert v1["config_version"] == 1 and v2["config_version"] == 2 and v4["config_version"] == 1
    assert v3["formation"]["web"]["count"] == 3 and v3["formation_summary"] == "web=3 (256/512)"
    assert v4["copied_from_version"] == 1 and v4["deployment_state"] == "pending"
    assert v1["message"] == "first" and v1["actor"] == "tester@test"
    iso(v1["created_at"])
    # without --env: every environment
    assert len(paas("releases", "checkout", "--json").json()) == 4


def test_history_json_and_filters(paas, story):
    rows = paas("history", "checkout", "--json").json()
    assert [r["deployment_id"] for r in rows] == story["ids"][::-1]
    expected = set(HISTORY_COLUMNS) - {"duration"} | {"duration_seconds"}
    assert all(set(r) == expected for r in rows)
    newest, failed, config, first = rows
    assert newest["state"] == "pending" and newest["finished_at"] is None and newest["duration_seconds"] is None
    assert failed["state"] == "failed" and failed["duration_seconds"] == pytest.approx(30, abs=1)
    assert first["image_digest"] == SHA and first["release_version"] == 1 and first["message"] == "first"
    iso(first["created_at"]), iso(first["started_at"]), iso(first["finished_at"])

    assert len(paas("history", "checkout", "--limit", "2", "--json").json()) == 2
    assert len(paas("history", "--json").json()) == 4  # org-wide
    assert len(paas("history", "--env", "staging", "--json").json()) == 4
    assert paas("env", "create", "production", "--region", "us-east-1", "--cluster", "p").code == 0
    assert paas("history", "--env", "production", "--json").json() == []

    # back-date a request: history is immutable, so the owner lifts the guard for this fixture only
    story["db"].execute("ALTER TABLE deployments DISABLE TRIGGER deployments_history_guard")
    story["db"].execute("UPDATE deployments SET created_at = now() - interval '10 days' WHERE id = %(i)s",
                        i=story["ids"][0])
    story["db"].execute("ALTER TABLE deployments ENABLE TRIGGER deployments_history_guard")
    story["db"].commit()
    since = paas("history", "--since", "7d", "--json").json()
    assert [r["deployment_id"] for r in since] == story["ids"][:0:-1]
    assert len(paas("history", "--since", "30d", "--json").json()) == 4


def test_history_of_other_app_is_separate(paas, story):
    assert paas("apps", "create", "billing").code == 0
    deploy(paas, "deploy", "billing", "--image", "billing:1", "--env", "staging")
    assert [r["app"] for r in paas("history", "billing", "--json").json()] == ["billing"]
    assert len(paas("history", "checkout", "--json").json()) == 4
    assert len(paas("history", "--json").json()) == 5


def test_deployments_show_json(paas, story):
    d = paas("deployments", "show", str(story["ids"][3]), "--json").json()
    assert set(d) >= set(HISTORY_COLUMNS) - {"duration"} | {"requested", "rollback", "colours", "steering",
                                                            "current_step", "superseded_by_id", "events"}
    assert d["release_kind"] == "rollback" and d["rollback"] is None and d["steering"] == []
    assert d["requested"] == {"canary_steps": None, "pause_at": None, "bake_seconds": None,
                              "step_deadline_seconds": None, "run_release_phase": None}
    assert d["failure"] is None  # nothing failed
    ev = d["events"]
    assert [e["kind"] for e in ev] == ["requested"] and ev[0]["data"]["rollback_to"] == 1
    assert set(ev[0]) == {"id", "at", "kind", "step", "message", "data", "aws_request_id", "fencing_token", "actor"}
    iso(ev[0]["at"])


def test_deployments_show_timeline_in_id_order(paas, story):
    db = story["db"]
    dep = story["ids"][3]
    for i, kind in enumerate(["claimed", "step_started", "aws_call", "step_finished"]):
        # events written out of time order: the timeline follows id, the order they were recorded
        db.execute("INSERT INTO deployment_events (deployment_id, kind, step, message, aws_request_id, at) "
                   "VALUES (%(d)s, %(k)s, 'deploy', %(m)s, %(rid)s, now() - make_interval(secs => %(s)s))",
                   d=dep, k=kind, m=f"{kind} #{i}", rid=f"req-{i}" if kind == "aws_call" else None, s=i)
    db.commit()
    d = paas("deployments", "show", str(dep), "--json").json()
    assert [e["kind"] for e in d["events"]] == ["requested", "claimed", "step_started", "aws_call", "step_finished"]
    ids = [e["id"] for e in d["events"]]
    assert ids == sorted(ids)
    assert d["events"][3]["aws_request_id"] == "req-2"
    text = paas("deployments", "show", str(dep))
    assert text.code == 0 and "req-2" in text.out and "step_finished" in text.out


def test_status_without_observation(paas, story):
    s = paas("status", "checkout", "--env", "staging", "--json").json()
    assert set(s) == {"app", "environment", "observed_at", "current_release", "latest_release_version",
                      "deployment", "processes"}
    assert s["observed_at"] is None and s["processes"] == {}
    assert s["current_release"]["version"] == 2  # v2 succeeded last; v3 failed; v4 pending
    assert s["deployment"]["deployment_id"] == story["ids"][3] and s["deployment"]["state"] == "pending"
    assert s["latest_release_version"] == 4
    text = paas("status", "checkout", "--env", "staging")
    assert text.code == 0 and "not yet" in text.out


def test_status_with_observation(paas, story):
    db = story["db"]
    data = {"processes": {
        "web": {"image": "registry.example.com/checkout:1.0", "release": 2, "desired_count": 3, "running_count": 3,
                "healthy_count": 2, "weights": {"blue": 90, "green": 10}, "active_colour": "blue",
                "rollout_state": "IN_PROGRESS"},
        "worker": {"image": "registry.example.com/checkout:1.0", "release": None, "desired_count": 1,
                   "running_count": 0, "healthy_count": 0, "weights": {"blue": 0, "green": 0},
                   "active_colour": "green", "rollout_state": None, "extra": "kept"},
    }}
    db.execute("INSERT INTO observations (app_id, environment_id, data, observed_at) "
               "SELECT a.id, e.id, %(d)s::jsonb, now() FROM apps a, environments e "
               "WHERE a.name = 'checkout' AND e.name = 'staging'", d=json.dumps(data))
    db.execute("UPDATE deployments SET state = 'in_progress', started_at = now(), current_step = 'shift-10' "
               "WHERE id = %(i)s", i=story["ids"][3])
    db.commit()
    s = paas("status", "checkout", "--env", "staging", "--json").json()
    iso(s["observed_at"])
    assert s["processes"]["web"] == data["processes"]["web"]
    assert s["processes"]["worker"]["extra"] == "kept" and s["processes"]["worker"]["running_count"] == 0
    assert s["deployment"]["state"] == "in_progress" and s["deployment"]["current_step"] == "shift-10"
    text = paas("status", "checkout", "--env", "staging")
    assert text.code == 0 and "blue=90 green=10" in text.out and "shift-10" in text.out


def test_status_needs_an_environment(paas, story):
    r = paas("status", "checkout")
    assert r.code == 2 and "no environment given" in r.err


def test_catalog_and_request_json_shapes(paas, story):
    envs = paas("env", "list", "--json").json()
    assert set(envs[0]) == {"name", "region", "cluster", "listener_arn", "vpc_id", "subnets", "security_groups",
                            "role_arn", "alb_security_group", "assign_public_ip", "app_domain", "require_message", "created_at"}
    apps = paas("apps", "list", "--json").json()
    assert set(apps[0]) == {"name", "type", "team", "created_at", "releases", "last_deploy_at"}
    assert apps[0]["releases"] == 4
    show = paas("apps", "show", "checkout", "--json").json()
    assert set(show) == {"name", "type", "team", "created_at", "gc_policy", "processes", "environments"}
    assert show["environments"][0]["release_version"] == 2
    # the config that runs next: v4 (a rollback to v1, on its way) uses v1's config
    cfg = paas("config", "show", "checkout", "--env", "staging", "--json").json()
    assert cfg == {"app": "checkout", "environment": "staging", "config_version": 1, "vars": {}, "secrets": {}}
    cfg = paas("config", "show", "checkout", "--env", "staging", "--version", "v2", "--json").json()
    assert cfg == {"app": "checkout", "environment": "staging", "config_version": 2,
                   "vars": {"LOG_LEVEL": "debug"}, "secrets": {}}
    req = deploy(paas, "deploy", "checkout", "--image", "nginx:9", "--env", "staging")
    assert set(req) == {"deployment_id", "release_version", "app", "environment", "strategy",
                        "superseded", "notes", "urls"}
    assert req["superseded"] == [story["ids"][3]]
    db_status = paas("db", "status", "--json").json()
    assert set(db_status) == {"current", "head", "up_to_date", "url"} and db_status["up_to_date"]


def test_piped_tables_have_no_colour_codes(paas, story):
    for args in (["history"], ["releases", "checkout"], ["status", "checkout", "--env", "staging"],
                 ["deployments", "show", str(story["ids"][0])], ["apps", "list"], ["env", "list"]):
        r = paas(*args)
        assert r.code == 0 and r.out and "\x1b[" not in r.out, args


# --- views -----------------------------------------------------------------------------------

def test_deploy_history_view_columns(story):
    db = story["db"]
    cols = [r.column_name for r in db.all(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'paas_deploy_history' "
        "ORDER BY ordinal_position")]
    assert cols == list(HISTORY_COLUMNS) + ["app_id", "environment_id"]
    row = db.one("SELECT * FROM paas_deploy_history WHERE deployment_id = %(i)s", i=story["ids"][0])
    assert row.app == "checkout" and row.environment == "staging" and row.release_version == 1
    assert row.image == f"registry.example.com/checkout:1.0@{SHA}" and row.image_digest == SHA
    assert row.duration.total_seconds() == pytest.approx(30, abs=1)


def test_current_releases_view_follows_succeeded_and_rolled_back(paas, story):
    db = story["db"]

    def current():
        return db.one("SELECT * FROM paas_current_releases WHERE app = 'checkout' AND environment = 'staging'")

    assert current().release_version == 2  # v3 failed, v4 pending
    assert set(current()) == {"app", "environment", "release_version", "release_kind", "image", "image_digest",
                              "deployment_id", "actor", "deployed_at", "known_good_at", "app_id", "environment_id"}
    # the rollback succeeds: v4 is current
    finish(db, story["ids"][3])
    assert current().release_version == 4 and current().release_kind == "rollback"
    # a newer deployment is rolled back to v1 by the worker: v1 is current, from that deployment
    d5 = deploy(paas, "deploy", "checkout", "--image", "nginx:5", "--env", "staging")["deployment_id"]
    finish(db, d5, "rolled_back", rolled_back_to=1)
    cur = current()
    assert (cur.release_version, cur.deployment_id) == (1, d5)
    assert cur.known_good_at is not None
    h = db.one("SELECT * FROM paas_deploy_history WHERE deployment_id = %(i)s", i=d5)
    assert (h.rolled_back_from_version, h.rolled_back_to_version) == (5, 1)
    # another environment has its own row
    assert paas("env", "create", "production", "--region", "us-east-1", "--cluster", "p").code == 0
    d6 = deploy(paas, "deploy", "checkout", "--image", "nginx:6", "--env", "production")["deployment_id"]
    finish(db, d6)
    rows = db.all("SELECT environment, release_version FROM paas_current_releases ORDER BY environment")
    assert [(r.environment, r.release_version) for r in rows] == [("production", 1), ("staging", 1)]
