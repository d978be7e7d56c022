"""The work queue: SKIP LOCKED claims, leases, rescue, fencing, no lost wake-ups."""

from __future__ import annotations

import threading

import pytest

from paas.db import queue
from paas.db.sql import connect
from paas.domain.errors import LeaseLost


@pytest.fixture
def item(db, staging):
    app = db.one("SELECT id FROM apps WHERE name = 'checkout'")
    env = db.one("SELECT id FROM environments WHERE name = 'staging'")
    queue.enqueue(db, app.id, env.id)
    db.commit()
    return app.id, env.id


def test_claim_leases_and_increments_the_fence(db, item):
    [c] = queue.claim(db, "w1", ttl=30)
    assert (c.app_id, c.environment_id) == item
    assert c.token == 1 and not c.rescued
    assert queue.claim(db, "w2", ttl=30) == []  # leased: nobody else gets it


def test_expired_lease_is_rescued_and_the_old_holder_is_fenced_out(db, db_url, item):
    [old] = queue.claim(db, "w1", ttl=30)
    db.execute("UPDATE work_queue SET lease_expires_at = now() - interval '1 second'")
    db.commit()
    other = connect(db_url)
    try:
        [new] = queue.claim(other, "w2", ttl=30)
        assert new.rescued and new.token == old.token + 1
        with pytest.raises(LeaseLost):
            with db.transaction():
                queue.fence(db, old)
        with pytest.raises(LeaseLost):
            queue.heartbeat(db, old, "w1", 30)
        assert queue.release(db, old, 5, ok=True) is False  # writes nothing
        with other.transaction():
            queue.fence(other, new)  # the new holder is fine
    finally:
        other.close()


def test_a_request_during_a_pass_is_not_lost(db, db_url, item):
    [c] = queue.claim(db, "w1", ttl=30)
    cli = connect(db_url)
    try:
        queue.enqueue(cli, *item)
        cli.commit()
    finally:
        cli.close()
    queue.release(db, c, after=3600, ok=True)  # the worker thought it could sleep an hour
    [again] = queue.claim(db, "w1", ttl=30)  # but the request made it due at once
    assert again.token == c.token + 1


def test_concurrent_claimers_never_share_an_item(db_url, db, staging):
    for i in range(30):
        db.execute("INSERT INTO apps (name) VALUES (%(n)s)", n=f"app-{i}")
    db.execute("INSERT INTO work_queue (app_id, environment_id) SELECT a.id, e.id FROM apps a, environments e")
    db.commit()
    got: list[tuple[int, int]] = []
    lock = threading.Lock()

    def claimer(n: int) -> None:
        c = connect(db_url)
        try:
            while True:
                claims = queue.claim(c, f"w{n}", ttl=30, limit=2)
                if not claims:
                    return
                with lock:
                    got.extend((x.app_id, x.environment_id) for x in claims)
        finally:
            c.close()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 31 and len(set(got)) == 31


def test_heartbeat_skips_a_row_held_by_our_own_step_instead_of_blocking(db, db_url, item):
    import time

    [c] = queue.claim(db, "w1", ttl=30)
    db.execute("UPDATE work_queue SET lease_expires_at = now() - interval '1 second'")  # a slow step
    db.commit()
    step, other = connect(db_url), connect(db_url)
    try:
        step.execute("BEGIN")
        queue.fence(step, c)  # the step holds the row across its AWS call
        t0 = time.monotonic()
        queue.heartbeat(db, c, "w1", 30)  # neither blocks nor reports a lost lease
        assert time.monotonic() - t0 < 3
        assert queue.claim(other, "w2", ttl=30) == []  # expired, but held: nobody can take it meanwhile
        step.rollback()
        [rescued] = queue.claim(other, "w2", ttl=30)  # released and still expired: rescued
        assert rescued.rescued
        with pytest.raises(LeaseLost):
            queue.heartbeat(db, c, "w1", 30)
    finally:
        step.close()
        other.close()
