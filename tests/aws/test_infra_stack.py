"""The infrastructure stack: template (pure) and the driver's CloudFormation calls.

moto 5.2 gaps met here (worked around in paas/aws/cloudformation.py or noted):
* UpdateStack with an unchanged template and no Parameters does not answer "No updates are to
  be performed"; the driver skips the call when the `paas:template` tag already matches.
* moto never puts a stack into ROLLBACK_COMPLETE (a failing resource raises instead); the test
  sets the status through moto's in-process backend to exercise the driver's recovery.
* moto cannot update an AWS::ElasticLoadBalancingV2::TargetGroup in place (no
  update_from_cloudformation_json): a changed TargetGroup property makes the resource vanish from
  the stack (and its outputs). Not worked around in product code (AWS is fine); the update test
  changes the routing and adds a process instead. A devstack moto patch could add it.
* moto's DeleteStack leaves TargetGroups and ListenerRules behind (no
  delete_from_cloudformation_json), so a re-create collides (PriorityInUse).
* moto's CloudFormation ignores TargetGroup Tags/TargetGroupAttributes and IAM Role
  ManagedPolicyArns (inline Policies are created); the resources themselves are created and
  the ListenerRule with its weighted forward action is visible through DescribeRules.
"""

from __future__ import annotations

import pytest

from paas.aws.cloudformation import parse_infra
from paas.domain.errors import TransientError, UserError
from paas.domain.manifest import HealthCheck, Manifest, ProcessSpec, Routing
from paas.planner import infra_template as it
from tests.aws.conftest import ACCOUNT
from paas.domain.specs import StackSpec, stack_name
from tests.aws.helpers import manifest, set_moto_stack_status, stack_spec


# ---------------------------------------------------------------- template (pure)
def test_template_shape_and_output_scheme_round_trip():
    m = manifest(extra=True)
    t = it.build_stack_template("shop", "prod", m, vpc_id="vpc-1", listener_arn="arn:l",
                                priorities={"web": 100, "api-v2": 200}, alb_security_group="sg-0alb")
    res = t["Resources"]
    types = sorted(r["Type"] for r in res.values())
    assert types.count("AWS::ElasticLoadBalancingV2::TargetGroup") == 4  # 2 web processes × 2
    assert types.count("AWS::ElasticLoadBalancingV2::ListenerRule") == 2
    assert {"AWS::Logs::LogGroup", "AWS::IAM::Role", "AWS::EC2::SecurityGroup"} <= set(types)
    assert res["LogGroup"]["Properties"]["LogGroupName"] == "/paas/prod/shop"
    assert res["webBlueTargetGroup"]["Properties"]["Port"] == 8080
    assert res["webGreenTargetGroup"]["Properties"]["Port"] == 8081
    assert res["webBlueTargetGroup"]["Properties"]["HealthCheckPath"] == "/health"
    assert res["webListenerRule"]["Properties"]["Priority"] == 100
    assert res["apiXv2ListenerRule"]["Properties"]["Priority"] == 200
    fwd = res["apiXv2ListenerRule"]["Properties"]["Actions"][0]["ForwardConfig"]["TargetGroups"]
    assert [g["Weight"] for g in fwd] == [100, 0]
    # outputs parse back into the right processes (worker has none)
    fake = {k: f"value-of-{k}" for k in t["Outputs"]}
    infra = parse_infra(fake)
    assert set(infra) == {"web", "api-v2"}
    assert infra["api-v2"].green_target_group == "value-of-apiXv2GreenTargetGroup"
    assert infra["web"].rule_arn == "value-of-webListenerRule"
    # the driver's capability scan sees IAM without names
    from paas.aws.cloudformation import capabilities
    assert capabilities(t) == ["CAPABILITY_IAM"]


def test_health_check_settings_reach_both_target_groups():
    hc = HealthCheck(grace_period=300, interval=30, timeout=10, healthy_threshold=3, unhealthy_threshold=5,
                     healthy_codes="200,302")
    m = Manifest(processes={"web": ProcessSpec("web", port=8080, health_check_path="/ready", health_check=hc)})
    res = it.build_stack_template("a", "e", m, vpc_id="vpc-1", listener_arn="arn:l")["Resources"]
    for key in ("webBlueTargetGroup", "webGreenTargetGroup"):
        p = res[key]["Properties"]
        assert (p["HealthCheckPath"], p["HealthCheckIntervalSeconds"], p["HealthCheckTimeoutSeconds"],
                p["HealthyThresholdCount"], p["UnhealthyThresholdCount"], p["Matcher"]) == (
            "/ready", 30, 10, 3, 5, {"HttpCode": "200,302"})


def test_defaults_keep_the_target_groups_every_stack_had():
    """An app without [health_check] must not see its target groups change (an in-place update)."""
    m = Manifest(processes={"web": ProcessSpec("web", port=8080)})
    p = it.build_stack_template("a", "e", m, vpc_id="vpc-1", listener_arn="arn:l")["Resources"][
        "webBlueTargetGroup"]["Properties"]
    assert (p["HealthCheckIntervalSeconds"], p["HealthCheckTimeoutSeconds"], p["HealthyThresholdCount"],
            p["UnhealthyThresholdCount"], p["Matcher"]) == (10, 5, 2, 3, {"HttpCode": "200-399"})


def test_task_security_group_admits_only_the_alb_on_each_container_port():
    m = manifest(extra=True)
    sg = it.build_stack_template("shop", "prod", m, vpc_id="vpc-1", listener_arn="arn:l",
                                 alb_security_group="sg-0alb")["Resources"]["TaskSecurityGroup"]["Properties"]
    assert sorted((r["FromPort"], r["ToPort"], r["SourceSecurityGroupId"]) for r in sg["SecurityGroupIngress"]) == [
        (8080, 8080, "sg-0alb"), (9000, 9000, "sg-0alb")]
    assert all("CidrIp" not in r for r in sg["SecurityGroupIngress"])
    worker_only = Manifest(processes={"w": ProcessSpec("w")})
    sg = it.build_stack_template("shop", "prod", worker_only, vpc_id="vpc-1", listener_arn="arn:l",
                                 alb_security_group="sg-0alb")["Resources"]["TaskSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in sg


def test_each_web_process_gets_its_own_routing_and_priority():
    m = Manifest(processes={"web": ProcessSpec("web", port=8080),
                            "api": ProcessSpec("api", port=9000, routing=Routing(("/api/*",), "api.example.com"))})
    res = it.build_stack_template("shop", "prod", m, vpc_id="vpc-1", listener_arn="arn:l",
                                  priorities={"web": 40000, "api": 10})["Resources"]
    assert res["apiListenerRule"]["Properties"]["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}},
        {"Field": "host-header", "HostHeaderConfig": {"Values": ["api.example.com"]}}]
    assert res["webListenerRule"]["Properties"]["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}]
    with pytest.raises(UserError, match="same rule priority"):
        it.build_stack_template("shop", "prod", m, vpc_id="vpc-1", listener_arn="arn:l",
                                priorities={"web": 10, "api": 10})
    with pytest.raises(UserError, match="priority for web process web"):
        it.build_stack_template("shop", "prod", m, vpc_id="vpc-1", listener_arn="arn:l", priorities={"api": 10})
    with pytest.raises(UserError, match="priority for web process"):
        it.build_stack_template("shop", "prod", m, vpc_id="vpc-1", listener_arn="arn:l",
                                priorities={"api": 10, "web": 50001})


def test_log_group_policies_and_retention():
    m = manifest()
    lg = it.build_stack_template("a", "e", m, vpc_id="vpc-1", listener_arn="arn:l")["Resources"]["LogGroup"]
    assert (lg["DeletionPolicy"], lg["UpdateReplacePolicy"], lg["Properties"]["RetentionInDays"]) == (
        "Delete", "Delete", 30)
    lg = it.build_stack_template("a", "e", m, vpc_id="vpc-1", listener_arn="arn:l",
                                 log_retention_days=90)["Resources"]["LogGroup"]
    assert lg["Properties"]["RetentionInDays"] == 90
    with pytest.raises(UserError, match="log retention"):
        it.build_stack_template("a", "e", m, vpc_id="vpc-1", listener_arn="arn:l", log_retention_days=31)


def test_process_name_encoding_is_injective():
    names = ["a-1", "a1", "a-b", "ab", "a--b", "a-", "web", "api-v2"]
    encoded = [it.encode_process(n) for n in names]
    assert len(set(encoded)) == len(names)
    assert all(e.isalnum() for e in encoded)
    assert [it.decode_process(e) for e in encoded] == names


def test_legacy_priorities_deterministic_and_banded():
    """Without allocated priorities (tests; until allocation is wired) the old hash is used."""
    p1 = it.rule_priority("shop", "prod", "web", catch_all=False)
    assert p1 == it.rule_priority("shop", "prod", "web", catch_all=False)
    assert 1 <= p1 <= 25000
    assert 25001 <= it.rule_priority("shop", "prod", "web", catch_all=True) <= 50000
    assert it.rule_priority("shop", "prod", "web", catch_all=False, seed=1) != p1


def test_too_many_condition_values_is_a_user_error():
    m = Manifest(processes={"web": ProcessSpec("web", port=80)},
                 routing=Routing(paths=("/a", "/b", "/c", "/d", "/e"), host="x.example.com"))
    with pytest.raises(UserError, match="at most 5"):
        it.build_stack_template("a", "e", m, vpc_id="v", listener_arn="l")


# ---------------------------------------------------------------- against the emulator
def test_create_parse_noop_update(aws_env, driver, uid):
    app = f"st{uid}"
    spec = stack_spec(aws_env, app)
    call = driver.apply_stack(spec, f"dep-{uid}-stack")
    assert call.operation == "cloudformation:CreateStack" and call.request_id

    st = driver.describe_stack(spec.name)
    assert st is not None and st.usable and st.template_hash == spec.template_hash
    assert set(st.infra) == {"web"}
    web = st.infra["web"]
    assert ":targetgroup/" in web.blue_target_group and ":targetgroup/" in web.green_target_group
    assert web.blue_target_group != web.green_target_group
    assert st.outputs["LogGroupName"] == f"/paas/test/{app}"
    assert st.outputs["SecurityGroupId"].startswith("sg-")
    assert st.outputs["ExecutionRoleArn"].startswith(f"arn:aws:iam::{ACCOUNT}:role/")
    # the rule CloudFormation made is a real ELBv2 rule with the initial weights
    assert driver.rule_weights([web.rule_arn]) == {
        web.rule_arn: {web.blue_target_group: 100, web.green_target_group: 0}}

    # same template again: success, no UpdateStack sent
    before = driver.call_counts().get("cloudformation:UpdateStack", 0)
    again = driver.apply_stack(spec, f"dep-{uid}-stack-2")
    assert again.result.get("noop") is True
    assert driver.call_counts().get("cloudformation:UpdateStack", 0) == before

    # changed template: an update, and the new hash is read back
    # (a changed TargetGroup property would hit a moto gap: moto has no in-place update for
    # TargetGroup and drops it from the stack; so change the routing and add a process)
    spec2 = stack_spec(aws_env, app, manifest(extra=True, paths=("/store/*", "/shop/*")))
    assert spec2.template_hash != spec.template_hash
    upd = driver.apply_stack(spec2, f"dep-{uid}-stack-3")
    assert upd.operation == "cloudformation:UpdateStack" and not upd.result.get("noop")
    st2 = driver.describe_stack(spec.name)
    assert st2.template_hash == spec2.template_hash and st2.usable
    assert set(st2.infra) == {"web", "api-v2"}
    assert st2.infra["web"] == web  # same target groups and rule, updated in place
    rule = aws_env.client("elbv2").describe_rules(RuleArns=[web.rule_arn])["Rules"][0]
    assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/store/*", "/shop/*"]


def test_health_checks_and_alb_ingress_as_aws_reports_them(aws_env, driver, uid):
    """The stack's target groups carry the manifest's health check; the task security group
    admits the ALB's group on the container port (read back through EC2 and ELBv2)."""
    app = f"hc{uid}"
    hc = HealthCheck(grace_period=120, interval=20, timeout=4, healthy_threshold=4, unhealthy_threshold=6,
                     healthy_codes="200-299")
    m = Manifest(processes={"web": ProcessSpec("web", port=8080, health_check_path="/ready", health_check=hc)},
                 routing=Routing(paths=(f"/{app}/*",)))
    alb_sg = aws_env.security_groups[0]
    t = it.build_stack_template(app, "test", m, vpc_id=aws_env.vpc_id, listener_arn=aws_env.listener_arn,
                                alb_security_group=alb_sg)
    spec = StackSpec(stack_name(app, "test"), t, {"paas:app": app, "paas:env": "test"})
    driver.apply_stack(spec, f"dep-{uid}-hc")
    st = driver.describe_stack(spec.name)
    web = st.infra["web"]
    tgs = aws_env.client("elbv2").describe_target_groups(
        TargetGroupArns=[web.blue_target_group, web.green_target_group])["TargetGroups"]
    for tg in tgs:
        assert (tg["HealthCheckPath"], tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"],
                tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"], tg["Matcher"]["HttpCode"]) == (
            "/ready", 20, 4, 4, 6, "200-299")
    group = aws_env.client("ec2").describe_security_groups(GroupIds=[st.outputs["SecurityGroupId"]])
    perms = group["SecurityGroups"][0]["IpPermissions"]
    assert [(p["FromPort"], p["ToPort"], [g["GroupId"] for g in p["UserIdGroupPairs"]]) for p in perms] == [
        (8080, 8080, [alb_sg])]


def test_missing_stack_is_none(driver, uid):
    assert driver.describe_stack(f"paas-nope{uid}-test") is None


def _simulate_failed_create(aws_env, driver, name: str) -> None:
    """What a failed create leaves on AWS: a ROLLBACK_COMPLETE stack whose resources were
    rolled back (deleted). moto can do neither, so: delete the resources moto's DeleteStack
    would leak (rules and target groups: no delete_from_cloudformation_json in moto 5.2)
    through the APIs, then set the status in moto's backend."""
    st = driver.describe_stack(name)
    elbv2 = aws_env.client("elbv2")
    for infra in st.infra.values():
        elbv2.delete_rule(RuleArn=infra.rule_arn)
    for infra in st.infra.values():
        elbv2.delete_target_group(TargetGroupArn=infra.blue_target_group)
        elbv2.delete_target_group(TargetGroupArn=infra.green_target_group)
    set_moto_stack_status(aws_env, name, "ROLLBACK_COMPLETE")


def test_rollback_complete_is_deleted_then_recreated(aws_env, driver, uid):
    app = f"rb{uid}"
    spec = stack_spec(aws_env, app)
    driver.apply_stack(spec, f"dep-{uid}-a")
    _simulate_failed_create(aws_env, driver, spec.name)
    assert driver.describe_stack(spec.name).status == "ROLLBACK_COMPLETE"

    with pytest.raises(TransientError, match="ROLLBACK_COMPLETE") as exc:
        driver.apply_stack(spec, f"dep-{uid}-b")
    assert "cloudformation:DeleteStack" in str(exc.value)
    assert driver.call_counts().get("cloudformation:DeleteStack") == 1
    assert driver.describe_stack(spec.name) is None  # gone

    call = driver.apply_stack(spec, f"dep-{uid}-c")  # the next pass creates it again
    assert call.operation == "cloudformation:CreateStack"
    st = driver.describe_stack(spec.name)
    assert st.usable and set(st.infra) == {"web"}


def test_stack_in_progress_is_transient(aws_env, driver, uid):
    spec = stack_spec(aws_env, f"ip{uid}")
    driver.apply_stack(spec, f"dep-{uid}-a")
    set_moto_stack_status(aws_env, spec.name, "UPDATE_IN_PROGRESS")
    with pytest.raises(TransientError, match="UPDATE_IN_PROGRESS"):
        driver.apply_stack(stack_spec(aws_env, f"ip{uid}", manifest(extra=True)), f"dep-{uid}-b")
    set_moto_stack_status(aws_env, spec.name, "UPDATE_COMPLETE")
