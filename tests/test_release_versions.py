"""Release versions per app+environment stay consecutive when 20 `paas deploy` processes race.

The race is forced, not hoped for: the test holds a lock on `images` (which every deploy writes
*after* it has chosen its release version), starts 20 real `paas deploy` processes, waits until
all 20 are blocked inside the database, and only then lets them go. Were release numbering not
serialised per app+environment, several processes would have read the same max(version) by then
and the releases' unique constraint would reject all but one of them (or versions would skip).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2

from tests.conftest import run_cli, run_paas_process

N = 20


def _waiting(conn, dbname: str) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'paas-cli' "
            "AND wait_event_type = 'Lock'",
            (dbname,),
        )
        return cur.fetchone()[0]


def test_twenty_concurrent_deploys_get_consecutive_versions(staging, db, db_url, monkeypatch):
    from urllib.parse import urlsplit

    # the test holds them all back until the last process has started, however slow the machine
    monkeypatch.setenv("PAAS_LOCK_TIMEOUT", "120")
    dbname = urlsplit(db_url).path.lstrip("/")
    blocker = psycopg2.connect(db_url)
    watcher = psycopg2.connect(db_url)
    watcher.autocommit = True
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE images IN SHARE ROW EXCLUSIVE MODE")
        with ThreadPoolExecutor(N) as pool:
            futures = [
                pool.submit(run_paas_process, "deploy", "checkout", "--image", f"registry.example.com/checkout:1.{i}",
                            "--env", "staging", "-m", f"race {i}", "--json", timeout=120)
                for i in range(N)
            ]
            deadline = time.monotonic() + 60
            while _waiting(watcher, dbname) < N and time.monotonic() < deadline:
                time.sleep(0.05)
            all_blocked = _waiting(watcher, dbname)
            blocker.rollback()  # release the lock: all 20 proceed at once
            results = [f.result() for f in futures]
    finally:
        blocker.close()
        watcher.close()

    assert all_blocked == N, f"only {all_blocked} of {N} deploys were waiting in the database at once"
    failures = [r for r in results if r.code != 0]
    assert not failures, failures[0].err
    got = sorted(r.json()["release_version"] for r in results)
    assert got == list(range(1, N + 1))

    rows = db.all(
        """
        SELECT r.version, d.state, i.reference FROM releases r
          JOIN deployments d ON d.release_id = r.id JOIN images i ON i.id = r.image_id
          JOIN apps a ON a.id = r.app_id WHERE a.name = 'checkout' ORDER BY r.version
        """
    )
    assert [r.version for r in rows] == list(range(1, N + 1))  # no duplicates, no gaps
    assert len({r.reference for r in rows}) == N  # each process's own image became one release
    # every deploy but the newest was superseded before it started; exactly one is pending
    assert [r.state for r in rows].count("pending") == 1
    assert rows[-1].state == "pending"
    assert {r.state for r in rows[:-1]} == {"superseded"}
    # time and order agree with versions: created in version order, never finished before created
    times = db.all(
        """
        SELECT r.version, d.id, d.created_at, d.finished_at, r.created_at AS release_created
          FROM releases r JOIN deployments d ON d.release_id = r.id ORDER BY r.version
        """
    )
    assert [t.id for t in times] == sorted(t.id for t in times)
    assert all(a.created_at < b.created_at for a, b in zip(times, times[1:]))
    assert all(a.release_created < b.release_created for a, b in zip(times, times[1:]))
    assert all(t.finished_at is None or t.finished_at >= t.created_at for t in times)
    hist = [h["release_version"] for h in run_cli("history", "checkout", "--limit", "0", "--json").json()]
    assert hist == list(range(N, 0, -1))
