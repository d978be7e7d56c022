"""ELBv2 through the boto3 driver: the atomic weight shift and target health."""

from __future__ import annotations

from tests.aws.helpers import stack_spec


def _stack(aws_env, driver, app):
    spec = stack_spec(aws_env, app)
    driver.apply_stack(spec, f"{app}-stack")
    return driver.describe_stack(spec.name).infra["web"]


def test_set_weights_is_one_modify_rule_and_reads_back(aws_env, driver, uid):
    web = _stack(aws_env, driver, f"w{uid}")
    before = driver.call_counts().get("elasticloadbalancing:ModifyRule", 0)
    call = driver.set_weights(web.rule_arn, {web.blue_target_group: 10, web.green_target_group: 90})
    assert call.operation == "elasticloadbalancing:ModifyRule" and call.request_id
    assert driver.call_counts()["elasticloadbalancing:ModifyRule"] == before + 1
    assert driver.rule_weights([web.rule_arn]) == {
        web.rule_arn: {web.blue_target_group: 10, web.green_target_group: 90}}
    # and ELBv2 itself says so (conditions untouched)
    rule = aws_env.client("elbv2").describe_rules(RuleArns=[web.rule_arn])["Rules"][0]
    tgs = rule["Actions"][0]["ForwardConfig"]["TargetGroups"]
    assert {t["TargetGroupArn"]: t["Weight"] for t in tgs}[web.green_target_group] == 90
    assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/shop/*"]


def test_rule_weights_skips_missing_rules(aws_env, driver, uid):
    web = _stack(aws_env, driver, f"m{uid}")
    gone = web.rule_arn.rsplit("/", 1)[0] + "/0123456789abcdef"
    got = driver.rule_weights([web.rule_arn, gone])
    assert list(got) == [web.rule_arn]


def test_target_health_one_call_per_target_group(aws_env, driver, uid):
    web = _stack(aws_env, driver, f"h{uid}")
    aws_env.client("elbv2").register_targets(
        TargetGroupArn=web.blue_target_group,
        Targets=[{"Id": "10.42.1.10", "Port": 8080}, {"Id": "10.42.1.11", "Port": 8080}])
    before = driver.call_counts().get("elasticloadbalancing:DescribeTargetHealth", 0)
    got = driver.target_health([web.blue_target_group, web.green_target_group])
    assert driver.call_counts()["elasticloadbalancing:DescribeTargetHealth"] == before + 2
    assert got[web.green_target_group].total == 0
    blue = got[web.blue_target_group]
    assert blue.total == 2 and blue.healthy + blue.unhealthy <= 2
