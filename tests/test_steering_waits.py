"""Steering commands are recorded at once whatever a worker holds; a request that would wait on a
stuck session says what it waits for and writes nothing."""

from __future__ import annotations

import time

import psycopg2


def _deploy(paas, tag: str) -> int:
    r = paas("deploy", "checkout", "--image", f"nginx:{tag}", "--env", "staging", "--json")
    assert r.code == 0, r.err
    return r.json()["deployment_id"]


def _hold_queue_row(db_url: str):
    """A session stuck inside a fenced write: it holds the app+environment's queue row."""
    conn = psycopg2.connect(db_url)
    cur = conn.cursor()
    cur.execute("SELECT fencing_token FROM work_queue FOR SHARE")
    return conn


def test_abort_and_cancel_are_recorded_at_once_while_a_session_holds_the_row(paas, staging, db, db_url):
    running = _deploy(paas, "1")
    db.execute("UPDATE deployments SET state = 'in_progress', started_at = now() WHERE id = %(i)s", i=running)
    db.commit()
    held = _hold_queue_row(db_url)
    try:
        t0 = time.monotonic()
        r = paas("abort", "checkout", "-e", "staging")
        assert r.code == 0, r.err
        assert time.monotonic() - t0 < 1.5
        kinds = [x.kind for x in db.all("SELECT kind FROM deployment_requests WHERE deployment_id = %(i)s",
                                        i=running)]
        assert kinds == ["abort"]
    finally:
        held.close()


def test_a_request_waiting_on_a_stuck_session_says_so_and_writes_nothing(paas, staging, db, db_url, monkeypatch):
    monkeypatch.setenv("PAAS_LOCK_TIMEOUT", "0.5")
    _deploy(paas, "1")
    before = db.scalar("SELECT count(*) FROM releases")
    held = _hold_queue_row(db_url)
    try:
        t0 = time.monotonic()
        r = paas("deploy", "checkout", "--image", "nginx:2", "--env", "staging")
        took = time.monotonic() - t0
    finally:
        held.close()
    assert r.code == 1 and "another session has held this app+environment" in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert took < 10
    assert db.scalar("SELECT count(*) FROM releases") == before
