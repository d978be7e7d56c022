"""AWS's request limits, kept by the driver although the emulator enforces none of them.

What each call carried is read at the botocore layer (tests/aws/helpers.sent_params).
"""

from __future__ import annotations

import time

import pytest

from paas.aws.cloudwatch import GET_METRIC_DATA_MAX
from paas.aws.driver import MetricQuery
from paas.aws.ecs_services import DESCRIBE_SERVICES_MAX, DESCRIBE_TASKS_MAX
from paas.aws.elbv2 import DESCRIBE_RULES_BATCH, FORWARD_TARGET_GROUPS_MAX
from paas.domain.errors import PermanentError
from tests.aws.conftest import ACCOUNT
from tests.aws.helpers import sent_params, stack_spec


def test_the_documented_numbers():
    assert (DESCRIBE_SERVICES_MAX, DESCRIBE_TASKS_MAX, GET_METRIC_DATA_MAX) == (10, 100, 500)
    assert (DESCRIBE_RULES_BATCH, FORWARD_TARGET_GROUPS_MAX) == (20, 5)


def test_describe_services_sends_at_most_10_names(aws_env, driver, uid):
    names = [f"none{uid}-{i}" for i in range(25)]
    with sent_params(driver.clients.ecs, "ecs", "DescribeServices") as sent:
        assert driver.describe_services(aws_env.cluster, names + names[:3]) == {}
    assert [len(p["services"]) for p in sent] == [10, 10, 5]  # repeats asked once


def test_describe_tasks_sends_at_most_100_tasks(aws_env, driver, uid):
    arns = [f"arn:aws:ecs:{aws_env.region}:{ACCOUNT}:task/{aws_env.cluster}/{uid}{i:04d}" for i in range(250)]
    with sent_params(driver.clients.ecs, "ecs", "DescribeTasks") as sent:
        assert driver.describe_tasks(aws_env.cluster, arns) == []
    assert [len(p["tasks"]) for p in sent] == [100, 100, 50]


def test_describe_rules_sends_at_most_20_rules(aws_env, driver, uid):
    elbv2 = aws_env.client("elbv2")
    spec = stack_spec(aws_env, f"lr{uid}")
    driver.apply_stack(spec, f"lr{uid}")
    web = driver.describe_stack(spec.name).infra["web"]
    # a listener of its own, so these rules collide with no one's priorities
    listener = elbv2.create_listener(
        LoadBalancerArn=aws_env.load_balancer_arn, Protocol="HTTP", Port=20000 + int(uid, 16) % 40000,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": web.blue_target_group}])["Listeners"][0]["ListenerArn"]
    try:
        rules = [elbv2.create_rule(ListenerArn=listener, Priority=i + 1,
                                   Conditions=[{"Field": "path-pattern", "Values": [f"/r{i}/*"]}],
                                   Actions=[{"Type": "forward", "TargetGroupArn": web.blue_target_group}],
                                   )["Rules"][0]["RuleArn"] for i in range(45)]
        with sent_params(driver.clients.elbv2, "elastic-load-balancing-v2", "DescribeRules") as sent:
            got = driver.rule_weights(rules)
        assert [len(p["RuleArns"]) for p in sent] == [20, 20, 5]
        assert len(got) == 45 and got[rules[44]] == {web.blue_target_group: 100}
    finally:
        elbv2.delete_listener(ListenerArn=listener)


def test_get_metric_data_queries_are_checked_before_sending(aws_env, driver, uid):
    """(Batches of 500: test_secrets_ecr_cloudwatch.test_metric_data_batches_of_500_and_sorts.)"""
    tg = f"arn:aws:elasticloadbalancing:{aws_env.region}:{ACCOUNT}:targetgroup/tg{uid}/0123456789abcdef"
    lb = aws_env.load_balancer_arn
    now = time.time()
    before = driver.call_counts().get("cloudwatch:GetMetricData", 0)
    for bad, needle in ((MetricQuery("Q1", "RequestCount", tg, lb, "Sum", 60), "must start with a lower-case"),
                        (MetricQuery("q-1", "RequestCount", tg, lb, "Sum", 60), "must start with a lower-case"),
                        (MetricQuery("q1", "RequestCount", tg, lb, "Sum", 90), "multiple of 60"),
                        (MetricQuery("q0", "RequestCount", tg, lb, "Sum", 60), "used twice")):
        with pytest.raises(PermanentError, match=needle):
            driver.metric_data([MetricQuery("q0", "RequestCount", tg, lb, "Sum", 60), bad], now - 600, now)
    assert driver.call_counts().get("cloudwatch:GetMetricData", 0) == before  # nothing sent
    with sent_params(driver.clients.cloudwatch, "cloudwatch", "GetMetricData") as sent:
        driver.metric_data([MetricQuery("hi_res", "RequestCount", tg, lb, "Sum", 10)], now - 60, now)
    assert [q["Id"] for p in sent for q in p["MetricDataQueries"]] == ["hi_res"]


def test_a_forward_action_takes_at_most_5_target_groups(aws_env, driver, uid):
    spec = stack_spec(aws_env, f"fw{uid}")
    driver.apply_stack(spec, f"fw{uid}")
    web = driver.describe_stack(spec.name).infra["web"]
    six = {f"{web.blue_target_group[:-4]}{i:04d}": 1 for i in range(6)}
    with pytest.raises(PermanentError, match="1 to 5 target groups, got 6"):
        driver.set_weights(web.rule_arn, six)
    with pytest.raises(PermanentError, match="outside 0..999"):
        driver.set_weights(web.rule_arn, {web.blue_target_group: 1000})
    assert driver.call_counts().get("elasticloadbalancing:ModifyRule", 0) == 0
