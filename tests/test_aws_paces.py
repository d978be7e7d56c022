"""The AWS request paces workers share through the database (paas/db/paces.py, paas/aws/budget.py).

Two `DbPaces` on their own connections stand for two worker processes (or hosts): one pace row
per account and operation, slots spaced 1/rate apart whoever takes them, one AIMD loop.
"""

from __future__ import annotations

import time

import psycopg2
import pytest

from paas.aws.budget import TokenBucket
from paas.db.paces import BETA, JOIN_SECONDS, DbPaces

OP = "ecs:RegisterTaskDefinition"


@pytest.fixture
def stores(db_url):
    a, b = DbPaces(db_url), DbPaces(db_url)
    yield a, b
    a.close()
    b.close()


def _older_cut(db_url: str, seconds: float) -> None:
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    conn.cursor().execute("UPDATE aws_paces SET last_cut = last_cut - make_interval(secs => %s), "
                          "started_at = started_at - make_interval(secs => %s)", (seconds, seconds))
    conn.close()


def test_two_workers_take_turns_from_one_pace(stores):
    a, b = stores
    assert a.slot("acct", OP) is None and a.paced("acct") == {}  # not paced: no turn to wait for
    assert a.throttled("acct", OP, start=4.0, ceiling=20.0, floor=0.5, reporter="w1") == 2.0  # half the rate it was sent at
    assert b.paced("acct") == {OP: 2.0} and b.paced("other-account") == {}
    slots = []
    for store in (a, b, a, b, a, b):
        wait = store.slot("acct", OP)
        slots.append(time.monotonic() + wait)
    gaps = [round(y - x, 2) for x, y in zip(slots, slots[1:])]
    assert all(0.4 <= g <= 0.6 for g in gaps), gaps  # one schedule at 2/s, whichever worker asks
    assert slots[0] - time.monotonic() > 0.2  # the throttle pushed the first turn out by 1/rate


def test_one_cut_a_second_for_the_whole_account_then_back_to_the_ceiling(stores, db_url):
    a, b = stores
    kw = dict(ceiling=20.0, floor=0.5)
    assert a.throttled("acct", OP, start=8.0, reporter="w1", **kw) == 4.0  # half what worker 1 sent
    # worker 2's first throttle while the pace is new: it was sending too, half its rate is added
    assert b.throttled("acct", OP, start=4.0, reporter="w2", **kw) == 6.0
    # the same workers again within the second: the same excess reported, no change
    assert a.throttled("acct", OP, start=8.0, reporter="w1", **kw) == 6.0
    assert b.throttled("acct", OP, start=4.0, reporter="w2", **kw) == 6.0
    _older_cut(db_url, JOIN_SECONDS + 1)  # past the join window and a second after the last cut: one cut
    assert b.throttled("acct", OP, start=8.0, reporter="w3", **kw) == pytest.approx(6.0 * BETA)
    assert a.throttled("acct", OP, start=8.0, reporter="w1", **kw) == pytest.approx(6.0 * BETA)
    for _ in range(20):
        _older_cut(db_url, 2.0)
        a.throttled("acct", OP, start=8.0, reporter="w1", **kw)
    assert a.paced("acct") == {OP: 0.5}  # never below the floor
    assert a.succeeded("acct", OP, step=5.0) == 5.5 and b.succeeded("acct", OP, step=5.0) == 10.5
    assert a.succeeded("acct", OP, step=5.0) == 15.5
    assert b.succeeded("acct", OP, step=5.0) is None  # at the ceiling: the pace is dropped
    assert a.paced("acct") == {} and b.slot("acct", OP) is None
    assert a.succeeded("acct", OP, step=5.0) is None


class FakeSleep:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, s: float) -> None:
        self.slept.append(s)


def _bucket(store, sleep, reporter: str = "w") -> TokenBucket:
    b = TokenBucket(20, 20, sleep=sleep)
    b.account, b.shared, b.reporter = "acct", store, reporter
    return b


def test_a_throttle_one_worker_met_paces_the_others(stores):
    """Worker 2 never got a throttling answer: it still waits its turn for RegisterTaskDefinition,
    and leaves other operations alone."""
    s1, s2 = FakeSleep(), FakeSleep()
    w1, w2 = _bucket(stores[0], s1, "w1"), _bucket(stores[1], s2, "w2")
    w1.throttled(OP)
    assert set(stores[1].paced("acct")) == {OP}
    w2._on_before_send(event_name="before-send.ecs.DescribeServices")
    assert w2.shared_slots == 0 and not s2.slept
    for _ in range(3):
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


def test_a_worker_that_was_sending_too_joins_a_new_pace(stores, db_url):
    """Worker 1 met the throttle; worker 2 was sending as well (no throttle of its own): when it
    finds the new pace, half its rate is added, once; a worker that was not sending adds nothing."""
    a, b = stores
    s1, s2, s3 = FakeSleep(), FakeSleep(), FakeSleep()
    w1, w2, w3 = _bucket(a, s1, "w1"), _bucket(b, s2, "w2"), _bucket(b, s3, "w3")
    w2._sends[OP] = (w2._clock(), 0.25)  # worker 2 was sending 4 requests/s
    w1._sends[OP] = (w1._clock(), 0.5)  # worker 1 was sending 2 requests/s
    w1.throttled(OP)
    assert a.paced("acct") == {OP: 1.0}
    w3._on_before_send(event_name="before-send.ecs.RegisterTaskDefinition")  # never sent it: no share
    assert a.paced("acct") == {OP: 1.0}
    w2._on_before_send(event_name="before-send.ecs.RegisterTaskDefinition")
    assert a.paced("acct") == {OP: 3.0} and w2.shared_slots == 1
    assert b.join("acct", OP, sent_rate=4.0, reporter="someone-else") == 5.0
    _older_cut(db_url, JOIN_SECONDS + 1)  # the pace is no longer new: too late to join
    assert b.join("acct", OP, sent_rate=4.0, reporter="late") is None
