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
from paas.domain.manifest import Manifest, ProcessSpec, Routing
from paas.planner import infra_template as it
from tests.aws.conftest import ACCOUNT
from tests.aws.helpers import manifest, set_moto_stack_status, stack_spec


# ---------------------------------------------------------------- template (pure)
def test_template_shape_and_output_scheme_round_trip():
    m = manifest(extra=True)
    t = it.build_stack_template("shop", "prod", m, vpc_id="vpc-1", listener_arn="arn:l",
                                priority_seed=0)
    res = t["Resources"]
    types = sorted(r["Type"] for r in res.values())
    assert types.count("AWS::ElasticLoadBalancingV2::TargetGroup") == 4  # 2 web processes × 2
    assert types.count("AWS::ElasticLoadBalancingV2::ListenerRule") == 2
    assert {"AWS::Logs::LogGroup", "AWS::IAM::Role", "AWS::EC2::SecurityGroup"} <= set(types)
    assert res["LogGroup"]["Properties"]["LogGroupName"] == "/paas/prod/shop"
    assert res["webBlueTargetGroup"]["Properties"]["Port"] == 8080
    assert res["webGreenTargetGroup"]["Properties"]["Port"] == 8081
    assert res["webBlueTargetGroup"]["Properties"]["HealthCheckPath"] == "/health"
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


def test_process_name_encoding_is_injective():
    names = ["a-1", "a1", "a-b", "ab", "a--b", "a-", "web", "api-v2"]
    encoded = [it.encode_process(n) for n in names]
    assert len(set(encoded)) == len(names)
    assert all(e.isalnum() for e in encoded)
    assert [it.decode_process(e) for e in encoded] == names


def test_priorities_deterministic_banded_and_seedable():
    p1 = it.rule_priority("shop", "prod", "web", catch_all=False)
    assert p1 == it.rule_priority("shop", "prod", "web", catch_all=False)
    assert 1 <= p1 <= 25000
    assert 25001 <= it.rule_priority("shop", "prod", "web", catch_all=True) <= 50000
    assert it.rule_priority("shop", "prod", "web", catch_all=False, seed=1) != p1
    ps = {it.rule_priority(f"app{i}", "prod", "web", catch_all=False) for i in range(200)}
    assert len(ps) >= 195  # spread out


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
