"""Fault injection at the botocore layer, error mapping, accounting and the request budget."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

from paas.aws import accounting
from paas.aws.budget import TokenBucket
from paas.aws.driver import MetricQuery
from paas.aws.errors import map_error
from paas.aws.faults import FaultSpec
from paas.aws.session import make_driver
from paas.domain.errors import PermanentError, TransientError, UserError
from tests.aws.helpers import stack_spec, taskdef


def _client_error(code: str, message: str = "boom", status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"RequestId": "rid-1", "HTTPStatusCode": status}},
                       "AnyOp")


@pytest.mark.parametrize("code,status,kind", [
    ("ThrottlingException", 400, TransientError),
    ("Throttling", 400, TransientError),
    ("TooManyRequestsException", 429, TransientError),
    ("RequestLimitExceeded", 400, TransientError),
    ("ServiceUnavailable", 503, TransientError),
    ("InternalFailure", 500, TransientError),
    ("SomethingNew", 502, TransientError),
    ("RequestTimeout", 408, TransientError),
    ("AccessDenied", 403, PermanentError),
    ("AccessDeniedException", 400, PermanentError),
    ("UnauthorizedOperation", 403, PermanentError),
    ("ClientException", 400, PermanentError),
    ("InvalidParameterException", 400, PermanentError),
    ("ClusterNotFoundException", 400, PermanentError),
    ("ServiceNotFoundException", 400, PermanentError),
    ("ValidationError", 400, PermanentError),
    ("SomethingElse", 400, PermanentError),
])
def test_error_mapping_table(code, status, kind):
    err = map_error(_client_error(code, "it said no\nreally", status), "ecs:RegisterTaskDefinition")
    assert type(err) is kind
    assert str(err).startswith("ecs:RegisterTaskDefinition: ")
    assert str(err).endswith("(request id rid-1)") and "\n" not in str(err)


def test_stack_busy_is_transient_and_network_errors_are_transient():
    busy = _client_error("ValidationError", "Stack:arn is in UPDATE_IN_PROGRESS state and can not be updated.")
    assert isinstance(map_error(busy, "cloudformation:UpdateStack"), TransientError)
    assert isinstance(map_error(ConnectTimeoutError(endpoint_url="http://x"), "ecs:X"), TransientError)
    assert isinstance(map_error(EndpointConnectionError(endpoint_url="http://x"), "ecs:X"), TransientError)
    assert map_error(ValueError("not aws"), "ecs:X") is None
    from botocore.parsers import ResponseParserError

    html = map_error(ResponseParserError("invalid XML received: b'<html>502</html>'"), "ecs:X")
    assert isinstance(html, TransientError) and str(html).startswith("ecs:X: unreadable response")


def test_fault_spec_parsing():
    s = FaultSpec.parse("throttle=0.3, 5xx=0.1,timeout=0.05,seed=1,ops=ecs:CreateService|ecs:UpdateService")
    assert (s.throttle, s.server_error, s.timeout, s.seed) == (0.3, 0.1, 0.05, 1)
    assert s.ops == {"ecs:CreateService", "ecs:UpdateService"}
    with pytest.raises(UserError):
        FaultSpec.parse("throttle=2")
    with pytest.raises(UserError):
        FaultSpec.parse("explode=0.1")


def test_access_denied_is_permanent_and_not_retried(aws_env, uid):
    drv = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url,
                      faults="denied=1,ops=ecs:RegisterTaskDefinition")
    with pytest.raises(PermanentError) as exc:
        drv.register_task_definition(taskdef(f"ad{uid}", 1))
    msg = str(exc.value)
    assert msg.startswith("ecs:RegisterTaskDefinition: ") and "AccessDeniedException" in msg
    assert exc.value.request_id.startswith("paas-fault-")
    assert drv.clients.faults.injected["denied"] == 1  # one attempt: not retried
    # other operations are untouched by the ops= filter
    assert drv.find_task_definition(f"ad{uid}-test-web", 1) is None


def test_throttling_is_retried_and_counted(aws_env, uid):
    """30% of attempts throttled, across the JSON (ECS), query (ELBv2, CloudFormation) and
    CBOR (CloudWatch) protocols: every call still succeeds through botocore's standard retries,
    and every throttle is counted per driver and process-wide."""
    setup = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url)
    spec = stack_spec(aws_env, f"th{uid}")
    setup.apply_stack(spec, f"th{uid}")
    web = setup.describe_stack(spec.name).infra["web"]

    before = accounting.snapshot()["throttles"]
    drv = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url, faults="throttle=0.3,seed=1")
    for _ in range(4):
        assert drv.describe_services(aws_env.cluster, ["nope"]) == {}
        assert web.rule_arn in drv.rule_weights([web.rule_arn])
        assert drv.describe_stack(spec.name).usable
        q = MetricQuery("rq", "RequestCount", web.blue_target_group, aws_env.load_balancer_arn, "Sum", 60)
        assert drv.metric_data([q], time.time() - 600, time.time()) == {"rq": []}  # CBOR protocol
    injected = drv.clients.faults.injected["throttle"]
    throttles = drv.throttle_counts()
    assert injected > 0
    assert sum(throttles.values()) == injected
    assert set(throttles) == {"ecs:DescribeServices", "elasticloadbalancing:DescribeRules",
                              "cloudformation:DescribeStacks", "cloudwatch:GetMetricData"}
    after = accounting.snapshot()["throttles"]
    assert sum(after.values()) - sum(before.values()) >= injected
    assert drv.call_counts()["ecs:DescribeServices"] == 4  # calls are counted once, not per attempt


def test_timeouts_and_5xx_are_retried(aws_env):
    drv = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url,
                      faults="timeout=0.2,5xx=0.2,seed=7")
    for _ in range(6):
        assert drv.describe_services(aws_env.cluster, ["nope"]) == {}
    assert drv.clients.faults.injected["timeout"] + drv.clients.faults.injected["5xx"] > 0


def test_env_var_installs_faults(aws_env, monkeypatch):
    monkeypatch.setenv("PAAS_AWS_FAULTS", "denied=1,seed=3")
    drv = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url)
    with pytest.raises(PermanentError, match="AccessDeniedException"):
        drv.list_services(aws_env.cluster)


def test_budget_blocks_when_empty(aws_env):
    slow = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url, budget=TokenBucket(5, 5))
    t0 = time.monotonic()
    for _ in range(15):
        slow.list_services(aws_env.cluster)
    assert time.monotonic() - t0 >= 1.9  # 5 from the burst, then 10 at 5/s
    assert slow.clients.budget.acquired == 15
    assert slow.clients.budget.waited_seconds >= 1.5  # the callers were the ones held back

    fast = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url, budget=TokenBucket(1000, 1000))
    for _ in range(15):
        fast.list_services(aws_env.cluster)
    assert fast.clients.budget.acquired == 15
    assert fast.clients.budget.waited_seconds == 0  # never blocked (wall time depends on load)


def test_token_bucket_shared_across_threads():
    import threading

    b = TokenBucket(20, 5)
    t0 = time.monotonic()
    threads = [threading.Thread(target=lambda: [b.acquire() for _ in range(5)]) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b.acquired == 25
    assert time.monotonic() - t0 >= (25 - 5) / 20 - 0.05
    b.set(0)  # unlimited
    assert b.try_acquire()
