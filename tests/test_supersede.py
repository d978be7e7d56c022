"""Newer requests supersede pending ones; the database allows one in_progress per app+env."""

from __future__ import annotations

import psycopg2
import psycopg2.errors
import pytest


def _deploy(paas, tag: str, env: str = "staging") -> int:
    r = paas("deploy", "checkout", "--image", f"nginx:{tag}", "--env", env, "--json")
    assert r.code == 0, r.err
    return r.json()["deployment_id"]


def _start(db, dep_id: int) -> None:
    db.execute("UPDATE deployments SET state = 'in_progress', started_at = now() WHERE id = %(i)s", i=dep_id)
    db.commit()


def test_newer_deploy_supersedes_pending_one_and_records_it(paas, staging, db):
    first = _deploy(paas, "1")
    r = paas("deploy", "checkout", "--image", "nginx:2", "--env", "staging", "--json")
    assert r.code == 0
    second = r.json()["deployment_id"]
    assert r.json()["superseded"] == [first]

    rows = {d.id: d for d in db.all("SELECT * FROM deployments")}
    assert rows[first].state == "superseded"
    assert rows[first].superseded_by_id == second
    assert rows[first].finished_at is not None
    assert rows[second].state == "pending"

    shown = paas("deployments", "show", str(first), "--json").json()
    assert [e["kind"] for e in shown["events"]] == ["requested", "superseded"]
    assert shown["events"][1]["data"] == {"superseded_by": second}
    assert shown["superseded_by_id"] == second
    assert shown["state"] == "superseded"


def test_in_progress_deployment_is_not_superseded(paas, staging, db):
    first = _deploy(paas, "1")
    _start(db, first)
    second = _deploy(paas, "2")
    third = _deploy(paas, "3")
    states = {d.id: d.state for d in db.all("SELECT id, state FROM deployments")}
    # the one in flight is finished or rolled back by its worker, never silently superseded
    assert states == {first: "in_progress", second: "superseded", third: "pending"}
    events = db.all("SELECT kind FROM deployment_events WHERE deployment_id = %(i)s ORDER BY id", i=first)
    assert [e.kind for e in events] == ["requested"]


def test_other_environment_is_untouched(paas, staging, db):
    assert paas("env", "create", "production", "--region", "us-east-1", "--cluster", "p").code == 0
    prod = _deploy(paas, "1", env="production")
    _deploy(paas, "2", env="staging")
    assert db.scalar("SELECT state FROM deployments WHERE id = %(i)s", i=prod) == "pending"


def test_database_allows_only_one_in_progress_per_app_env(paas, staging, db, db_url):
    first = _deploy(paas, "1")
    # a second pending deployment for the same app+env, written behind the CLI's back (as a
    # buggy or racing worker might), so that two candidates exist
    second = db.scalar(
        """
        INSERT INTO deployments (app_id, environment_id, release_id, strategy, actor)
        SELECT app_id, environment_id, release_id, strategy, 'racer' FROM deployments WHERE id = %(i)s
        RETURNING id
        """,
        i=first,
    )
    db.commit()
    _start(db, first)
    with pytest.raises(psycopg2.errors.UniqueViolation) as exc:
        _start(db, second)
    assert "uq_deployments_one_in_progress" in str(exc.value)
    db.rollback()

    # the same from two worker connections: once the first commits, the second is refused
    db.execute("UPDATE deployments SET state = 'failed', finished_at = now() WHERE id = %(i)s", i=first)
    db.commit()
    a, b = psycopg2.connect(db_url), psycopg2.connect(db_url)
    try:
        a.cursor().execute("UPDATE deployments SET state = 'in_progress', started_at = now() WHERE id = %s",
                           (second,))
        third = db.scalar(
            """
            INSERT INTO deployments (app_id, environment_id, release_id, strategy, actor)
            SELECT app_id, environment_id, release_id, strategy, 'racer' FROM deployments WHERE id = %(i)s
            RETURNING id
            """,
            i=first,
        )
        db.commit()
        b.cursor().execute("SET lock_timeout = '5s'")
        a.commit()
        with pytest.raises(psycopg2.errors.UniqueViolation):
            b.cursor().execute("UPDATE deployments SET state = 'in_progress', started_at = now() WHERE id = %s",
                               (third,))
    finally:
        a.close()
        b.close()
    assert db.scalar("SELECT count(*) FROM deployments WHERE state = 'in_progress'") == 1


def test_cancel_pending_and_in_progress(paas, staging, db):
    first = _deploy(paas, "1")
    r = paas("deployments", "cancel", str(first), "--json")
    assert r.code == 0, r.err
    assert r.json() == {"deployment_id": first, "state": "cancelled", "cancel_requested": False}
    again = paas("deployments", "cancel", str(first))
    assert again.code == 1 and "already cancelled" in again.err

    second = _deploy(paas, "2")
    _start(db, second)
    r = paas("deployments", "cancel", str(second), "--json")
    assert r.json() == {"deployment_id": second, "state": "in_progress", "cancel_requested": True}
    kinds = [e["kind"] for e in paas("deployments", "show", str(second), "--json").json()["events"]]
    assert kinds == ["requested", "cancel_requested"]

    missing = paas("deployments", "cancel", "999999")
    assert missing.code == 2 and "no deployment 999999" in missing.err
