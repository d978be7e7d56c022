"""The send guard: once a lease's deadline has passed, no request reaches AWS.

What the server received is counted on the wire, by a proxy between the driver and the
emulator (tests/aws/proxy.py), not by the code under test.
"""

from __future__ import annotations

import math
import threading
import time

import pytest

from paas.aws import accounting, guard
from paas.aws.budget import TokenBucket
from paas.aws.session import make_driver
from paas.domain.errors import LeaseLost, UserError
from tests.aws.helpers import stack_spec
from tests.aws.proxy import CountingProxy


@pytest.fixture
def proxy(aws_env):
    p = CountingProxy(aws_env.endpoint_url)
    yield p
    p.stop()


@pytest.fixture
def drv(aws_env, proxy):
    return make_driver(aws_env.region, endpoint_url=proxy.endpoint_url, budget=TokenBucket(0))


def test_the_proxy_sees_what_the_driver_sends(aws_env, drv, proxy):
    drv.list_services(aws_env.cluster)
    drv.describe_stack("paas-nothing-here")
    assert proxy.operations() == ["ListServices", "DescribeStacks"]


def test_a_deadline_in_the_past_sends_nothing(aws_env, drv, proxy, uid):
    before = accounting.snapshot()["refusals"].get("ecs:ListServices", 0)
    with guard.lease(lambda: guard.now() - 1.0):
        with pytest.raises(LeaseLost) as exc:
            drv.list_services(aws_env.cluster)
        assert type(exc.value) is LeaseLost  # not wrapped by botocore or the error mapping
        assert str(exc.value).startswith("ecs:ListServices: not sent: ")
        with pytest.raises(LeaseLost):
            drv.scale_service(aws_env.cluster, f"svc{uid}", 3)  # a mutating call, JSON protocol
        with pytest.raises(LeaseLost):
            drv.apply_stack(stack_spec(aws_env, f"g{uid}"), f"t{uid}")  # query protocol
    assert proxy.operations() == []
    assert drv.stale_refusals() == {"ecs:ListServices": 1, "ecs:UpdateService": 1,
                                    "cloudformation:DescribeStacks": 1}
    assert accounting.snapshot()["refusals"]["ecs:ListServices"] == before + 1
    # no lease, no check
    drv.list_services(aws_env.cluster)
    assert proxy.operations() == ["ListServices"]


def test_a_deadline_passing_between_a_throttled_attempt_and_its_retry_stops_the_retry(aws_env, drv, proxy):
    # control: without a lease the throttled attempt is retried and the call succeeds
    proxy.throttle["ListServices"] = 1
    drv.list_services(aws_env.cluster)
    assert proxy.operations() == ["ListServices", "ListServices"]
    assert drv.throttle_counts() == {"ecs:ListServices": 1}

    # the lease ends the moment the first attempt reaches the server
    proxy.reset()
    proxy.throttle["ListServices"] = 1
    with guard.lease(lambda: proxy.first("ListServices") or math.inf):
        with pytest.raises(LeaseLost):
            drv.list_services(aws_env.cluster)
    assert proxy.operations() == ["ListServices"]  # the retry never left
    assert drv.throttle_counts() == {"ecs:ListServices": 2}
    assert drv.stale_refusals() == {"ecs:ListServices": 1}


def test_a_deadline_in_the_future_lets_requests_through_and_is_read_before_each_attempt(aws_env, drv, proxy):
    state = {"deadline": guard.now() + 600}
    with guard.lease(lambda: state["deadline"]):
        drv.list_services(aws_env.cluster)
        assert proxy.operations() == ["ListServices"]
        state["deadline"] = guard.now() - 0.001  # the heartbeat could not renew
        with pytest.raises(LeaseLost):
            drv.list_services(aws_env.cluster)
        state["deadline"] = guard.now() + 600  # renewed
        drv.list_services(aws_env.cluster)
    assert proxy.operations() == ["ListServices", "ListServices"]
    assert drv.stale_refusals() == {"ecs:ListServices": 1}


def test_nested_leases_all_apply_and_leases_are_per_thread(aws_env, drv, proxy):
    with guard.lease(lambda: guard.now() + 600):
        with guard.lease(lambda: guard.now() - 1):
            with pytest.raises(LeaseLost):
                drv.list_services(aws_env.cluster)
            # another thread holds no lease: its requests go out
            other: list[BaseException | None] = []

            def call():
                try:
                    drv.list_services(aws_env.cluster)
                    other.append(None)
                except BaseException as e:  # noqa: BLE001
                    other.append(e)

            t = threading.Thread(target=call)
            t.start()
            t.join(60)
            assert other == [None]
        assert guard.active()
        drv.list_services(aws_env.cluster)  # the inner lease is gone
    assert not guard.active()
    assert proxy.operations() == ["ListServices", "ListServices"]


def test_client_timeouts_are_parameters(aws_env):
    d = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url, connect_timeout=1.5,
                    read_timeout=4)
    cfg = d.clients.ecs.meta.config
    assert (cfg.connect_timeout, cfg.read_timeout) == (1.5, 4)
    assert cfg.retries == {"mode": "standard", "total_max_attempts": 5}
    default = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url)
    assert default.clients is not d.clients
    assert default.clients.ecs.meta.config.read_timeout == 30
    with pytest.raises(UserError, match="read timeout must be a positive"):
        make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url, read_timeout=0)
