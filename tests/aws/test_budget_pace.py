"""The request budget learns a per-operation pace from AWS's throttling answers.

The emulator side is `paas.devstack.throttle` (AWS's per-account token buckets per API family);
the driver under test is the real boto3 driver with its real budget.
"""

from __future__ import annotations

import pytest

from paas.aws.budget import Pace, TokenBucket
from paas.aws.session import make_driver
from tests.aws.helpers import taskdef


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_a_throttle_paces_that_operation_only():
    ft = FakeTime()
    b = TokenBucket(20, 20, clock=ft.clock, sleep=ft.sleep)
    b.throttled("ecs:RegisterTaskDefinition")  # never seen sent: from the account rate, halved
    assert b.paces() == {"ecs:RegisterTaskDefinition": 10.0}
    b.throttled("ecs:RegisterTaskDefinition")  # same second: the same news, not halved again
    assert b.paces()["ecs:RegisterTaskDefinition"] == 10.0
    ft.t += 1.0
    b.throttled("ecs:RegisterTaskDefinition")
    assert b.paces()["ecs:RegisterTaskDefinition"] == 5.0
    assert "ecs:DescribeServices" not in b.paces()


def test_a_pace_spaces_callers_and_recovers_to_the_account_rate():
    ft = FakeTime()
    p = Pace(4.0, clock=ft.clock, sleep=ft.sleep)
    p.throttled()  # 2/s, and the next slot half a second out
    t0 = ft.t
    for _ in range(4):
        p.acquire()
    assert ft.t - t0 == pytest.approx(0.5 + 3 * 0.5)
    done = False
    n = 0
    while not done:
        done = p.succeeded()
        n += 1
    assert n == pytest.approx((4.0 - 2.0) / Pace.STEP, abs=1)


def test_pace_never_drops_below_the_floor():
    ft = FakeTime()
    p = Pace(1.0, clock=ft.clock, sleep=ft.sleep)
    for _ in range(20):
        ft.t += 1.0
        p.throttled()
    assert p.rate == Pace.MIN_RATE
    fast = Pace(20.0, clock=ft.clock, sleep=ft.sleep)  # a 20 req/s account: no slower than 0.5/s
    for _ in range(20):
        ft.t += 1.0
        fast.throttled()
    assert fast.rate == 0.5


def test_driver_learns_the_emulators_register_rate(aws_env):
    """RegisterTaskDefinition at 2 burst / 2 per second on the emulator: the driver's budget paces
    it after the first throttles, so far fewer of its requests are refused than a naive client's."""
    if aws_env.kind != "devstack":
        pytest.skip("needs the devstack emulator's rate limits")
    from paas.devstack.emulator import running_emulator
    from paas.devstack.throttle import RateLimits, ThrottledApp

    emu = running_emulator()
    limits = RateLimits({"ecs-taskdef-write": (2.0, 2.0)})
    server = emu._server
    saved = server.app
    ThrottledApp.install(emu, limits)
    try:
        drv = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url, budget=TokenBucket(50, 50))
        for i in range(12):
            drv.register_task_definition(taskdef(f"pace{i}", 1))
        allowed, throttled = limits.take_counts()
        assert allowed.get("ecs:RegisterTaskDefinition") == 12  # every one registered in the end
        assert "ecs:RegisterTaskDefinition" in drv.clients.budget.paces()  # and the pace was learned
        refused = throttled.get("ecs:RegisterTaskDefinition", 0)
        assert refused <= 8, refused  # a client without a pace: ~2 refusals per request after the burst
    finally:
        server.app = saved
