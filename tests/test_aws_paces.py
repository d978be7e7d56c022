"""The AWS request paces workers share through the database (paas/db/paces.py, paas/aws/budget.py).

Two `DbPaces` on their own connections stand for two worker processes (or hosts): one pace row
per account and operation, slots spaced 1/rate apart whoever takes them, one AIMD loop.
"""

from __future__ import annotations

import time

import psycopg2
import pytest

from paas.aws.budget import TokenBucket
from paas.db.paces import BETA, HORIZON, SLOW_START, DbPaces

OP = "ecs:RegisterTaskDefinition"


@pytest.fixture
def stores(db_url):
    a, b = DbPaces(db_url), DbPaces(db_url)
    yield a, b
    a.close()
    b.close()


def _older(db_url: str, column: str, seconds: float) -> None:
    """Move a recorded time back instead of sleeping."""
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    conn.cursor().execute(f"UPDATE aws_paces SET {column} = {column} - make_interval(secs => %s)", (seconds,))
    conn.close()


def test_two_workers_take_turns_from_one_pace(stores):
    a, b = stores
    assert a.slot("acct", OP) is None and a.paced("acct") == {}  # not paced: no turn to wait for
    assert a.throttled("acct", OP, start=4.0, ceiling=20.0, floor=0.5) == 2.0  # half the rate it was sent at
    assert b.paced("acct") == {OP: 2.0} and b.paced("other-account") == {}
    slots = []
    for store in (a, b, a, b, a, b):
        while True:  # as the budget does: take a slot once it is within the horizon
            taken, wait = store.slot("acct", OP)
            if taken:
                slots.append(time.monotonic() + wait)
                break
            assert wait > HORIZON
            time.sleep(wait - HORIZON)
    gaps = [round(y - x, 2) for x, y in zip(slots, slots[1:])]
    assert all(0.4 <= g <= 0.6 for g in gaps), gaps  # one schedule at 2/s, whichever worker asks


def test_one_control_loop_for_the_account(stores, db_url):
    a, b = stores
    kw = dict(ceiling=20.0, floor=0.5)
    assert a.throttled("acct", OP, start=2.0, **kw) == 1.0  # half what that worker was sending
    # slow start: until the first cut each success multiplies the rate
    assert a.succeeded("acct", OP, step=0.02) == pytest.approx(SLOW_START)
    assert b.succeeded("acct", OP, step=0.02) == pytest.approx(SLOW_START ** 2)
    # another worker's throttle within the second reports the same excess: no cut
    assert b.throttled("acct", OP, start=8.0, **kw) == pytest.approx(SLOW_START ** 2)
    assert a.succeeded("acct", OP, step=0.02) == pytest.approx(SLOW_START ** 3)
    _older(db_url, "last_cut", 2.0)
    _older(db_url, "ok_since", 3.0)  # three successes over (just over) three seconds: AWS took ~1/s
    cut = b.throttled("acct", OP, start=8.0, **kw)
    assert 0.9 < cut <= 1.0
    # after the cut: additive increase, and the window of what AWS accepted starts again
    assert a.succeeded("acct", OP, step=0.02) == pytest.approx(cut + 0.02)
    _older(db_url, "last_cut", 2.0)  # a throttle with no measurement yet: cut by BETA
    assert a.throttled("acct", OP, start=8.0, **kw) == pytest.approx((cut + 0.02) * BETA)
    for _ in range(20):  # each cut at most halves the rate, and never below the floor
        _older(db_url, "last_cut", 2.0)
        before = a.paced("acct")[OP]
        assert a.throttled("acct", OP, start=8.0, **kw) >= min(before, max(0.5, before / 2)) - 1e-9
    assert a.paced("acct") == {OP: 0.5}  # never below the floor
    assert a.succeeded("acct", OP, step=5.0) == 5.5 and b.succeeded("acct", OP, step=5.0) == 10.5
    assert a.succeeded("acct", OP, step=5.0) == 15.5
    assert b.succeeded("acct", OP, step=5.0) is None  # at the ceiling: the pace is dropped
    assert a.paced("acct") == {} and b.slot("acct", OP) is None  # not paced: no turn to wait for
    assert a.succeeded("acct", OP, step=5.0) is None


class FakeSleep:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, s: float) -> None:
        self.slept.append(s)


def _bucket(store, sleep) -> TokenBucket:
    b = TokenBucket(20, 20, sleep=sleep)
    b.account, b.shared = "acct", store
    return b


def test_a_far_slot_is_not_reserved_at_the_rate_of_the_moment(stores, db_url):
    """A slot further away than the horizon is not taken: the caller asks again, and a rate that
    rose meanwhile serves it sooner than a reservation made at the old rate would have."""
    a, b = stores
    a.throttled("acct", OP, start=0.4, ceiling=20.0, floor=0.1)  # 0.2/s: the next slot 5 s away
    taken, wait = b.slot("acct", OP)
    assert not taken and wait > HORIZON
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    conn.cursor().execute("UPDATE aws_paces SET rate = 10, next_slot = clock_timestamp()")  # the rate rose
    conn.close()
    got = [b.slot("acct", OP) for _ in range(4)]
    assert all(t for t, _ in got) and got[-1][1] < 0.5  # four turns within 0.4 s, not 20 s


def test_a_throttle_one_worker_met_paces_the_others(stores):
    """Worker 2 never got a throttling answer: it still waits its turn for RegisterTaskDefinition,
    and leaves other operations alone."""
    s1, s2 = FakeSleep(), FakeSleep()
    w1, w2 = _bucket(stores[0], s1), _bucket(stores[1], s2)
    w1._sends[OP] = (w1._clock(), 0.05)  # worker 1 was sending 20/s: the pace starts at 10/s
    w1.throttled(OP)
    assert set(stores[1].paced("acct")) == {OP}
    w2._on_before_send(event_name="before-send.ecs.DescribeServices")
    assert w2.shared_slots == 0 and not s2.slept
    for _ in range(3):  # 10/s: each slot within the horizon, taken at once
        w2._on_before_send(event_name="before-send.ecs.RegisterTaskDefinition")
    assert w2.shared_slots == 3 and len(s2.slept) == 3 and s2.slept == sorted(s2.slept) and s2.slept[0] > 0
    assert w2.paces() == {}  # no pace of its own: the shared one served


def test_without_the_database_each_worker_paces_on_its_own():
    unreachable = DbPaces("postgresql://nobody@127.0.0.1:9/none")
    sleep = FakeSleep()
    w = _bucket(unreachable, sleep)
    w.throttled(OP)  # the store fails: the local pace is learned all the same, nothing raised
    assert OP in w.paces()
    w._on_before_send(event_name="before-send.ecs.RegisterTaskDefinition")
    w._on_before_send(event_name="before-send.ecs.RegisterTaskDefinition")
    assert w.shared_slots == 0 and sum(sleep.slept) > 0  # spaced by its own pace


def test_only_workers_see_the_paces(paas, staging, db_url):
    assert paas("db", "roles").code == 0
    admin = psycopg2.connect(db_url)
    admin.autocommit = True
    for role, allowed in (("paas_worker", True), ("paas_cli", False), ("paas_pipeline", False),
                          ("paas_readonly", False)):
        cur = admin.cursor()
        cur.execute(f"SET ROLE {role}")
        try:
            cur.execute("SELECT count(*) FROM aws_paces")
            assert allowed, role
        except psycopg2.errors.InsufficientPrivilege:
            assert not allowed, role
        cur.execute("RESET ROLE")
    admin.close()


def test_a_caller_whose_lease_ran_out_stops_asking_for_a_slot(stores):
    """A far-off slot is asked for again and again; a thread whose lease expired meanwhile gets
    LeaseLost instead of a slot it could never use."""
    from paas.aws import guard
    from paas.domain.errors import LeaseLost

    a, b = stores
    a.throttled("acct", OP, start=0.2, ceiling=20.0, floor=0.05)  # 0.1/s: the next slot 10 s away
    w = _bucket(b, FakeSleep())
    w.shared = b
    with guard.lease(lambda: guard.now() - 1.0):  # already past its deadline
        with pytest.raises(LeaseLost):
            w._on_before_send(event_name="before-send.ecs.RegisterTaskDefinition")
    assert w.shared_slots == 0 and b.slot("acct", OP)[0] is False  # no slot was taken
