"""Names collide across apps; the driver refuses to change a resource another owner tagged.

Each test asks for a change in another app's name (or on an untagged resource), expects
`OwnershipConflict` as one line, and reads AWS back to see that nothing changed.
"""

from __future__ import annotations

import dataclasses

import pytest

from paas.aws.errors import OwnershipConflict
from paas.domain.errors import PermanentError
from paas.domain.specs import StackSpec
from tests.aws.helpers import owner, service, stack_spec, taskdef


def _raw_service(aws_env, name):
    return aws_env.client("ecs").describe_services(cluster=aws_env.cluster, services=[name],
                                                   include=["TAGS"])["services"][0]


def _one_line(e: BaseException) -> str:
    msg = str(e)
    assert "\n" not in msg and isinstance(e, PermanentError)
    return msg


def test_a_service_of_app_a_is_not_created_over_updated_or_scaled_for_app_b(aws_env, driver, uid):
    a, b = f"oa{uid}", f"ob{uid}"
    td_a = driver.register_task_definition(taskdef(a, 1)).result["arn"]
    td_b = driver.register_task_definition(taskdef(b, 1)).result["arn"]
    name = f"shared{uid}-web-blue"
    driver.create_service(service(aws_env, name, td_a, count=1, app=a), token=f"{a}-create")
    before = _raw_service(aws_env, name)

    with pytest.raises(OwnershipConflict) as exc:
        driver.create_service(service(aws_env, name, td_b, count=3, app=b), token=f"{b}-create")
    msg = _one_line(exc.value)
    assert msg.startswith("ecs:CreateService: refusing to change ECS service " + name)
    assert f"belongs to app {a}, env test, process web, not to app {b}, env test, process web" in msg

    with pytest.raises(OwnershipConflict, match=f"^ecs:UpdateService: .* app {a}.* app {b}"):
        driver.update_service(service(aws_env, name, td_b, count=3, app=b))
    with pytest.raises(OwnershipConflict):
        driver.scale_service(aws_env.cluster, name, 0, owner=owner(b))

    after = _raw_service(aws_env, name)
    assert after["taskDefinition"] == before["taskDefinition"] == td_a
    assert after["desiredCount"] == before["desiredCount"] == 1
    assert after["tags"] == before["tags"]
    assert driver.call_counts().get("ecs:UpdateService", 0) == 0  # nothing was sent

    # the owner itself is served
    driver.scale_service(aws_env.cluster, name, 2, owner=owner(a))
    driver.update_service(service(aws_env, name, td_a, count=2, app=a))
    assert _raw_service(aws_env, name)["desiredCount"] == 2


def test_an_unmanaged_service_is_never_adopted(aws_env, driver, uid):
    app = f"un{uid}"
    td = driver.register_task_definition(taskdef(app, 1)).result["arn"]
    name = f"{app}-web-blue"
    aws_env.client("ecs").create_service(cluster=aws_env.cluster, serviceName=name,
                                         taskDefinition=td, desiredCount=1)
    with pytest.raises(OwnershipConflict, match="it has no paas tags, so paas does not manage it"):
        driver.create_service(service(aws_env, name, td, count=2, app=app), token=f"{app}-c")
    with pytest.raises(OwnershipConflict, match="no paas tags"):
        driver.update_service(service(aws_env, name, td, count=2, app=app))
    assert _raw_service(aws_env, name)["desiredCount"] == 1


def test_a_task_definition_family_of_another_app_gets_no_revision(aws_env, driver, uid):
    a, b = f"fa{uid}", f"fb{uid}"
    first = driver.register_task_definition(taskdef(a, 1)).result["arn"]
    intruder = dataclasses.replace(taskdef(b, 1), family=f"{a}-test-web")
    with pytest.raises(OwnershipConflict) as exc:
        driver.register_task_definition(intruder)
    assert _one_line(exc.value).startswith(
        f"ecs:RegisterTaskDefinition: refusing to change task-definition family {a}-test-web: "
        f"it belongs to app {a}")
    assert driver.list_task_definitions(f"{a}-test-web") == [first]
    with pytest.raises(OwnershipConflict):
        driver.deregister_task_definition(first, owner=owner(b))
    assert driver.list_task_definitions(f"{a}-test-web") == [first]
    # its owner registers the next release
    second = driver.register_task_definition(taskdef(a, 2)).result["arn"]
    assert driver.list_task_definitions(f"{a}-test-web") == [first, second]


def test_a_stack_of_another_app_or_nobody_is_not_updated(aws_env, driver, uid):
    a, b = f"sa{uid}", f"sb{uid}"
    spec = stack_spec(aws_env, a)
    driver.apply_stack(spec, f"{a}-1")
    cfn = aws_env.client("cloudformation")
    before = cfn.describe_stacks(StackName=spec.name)["Stacks"][0]

    theirs = StackSpec(spec.name, stack_spec(aws_env, b).template, {"paas:app": b, "paas:env": "test"})
    with pytest.raises(OwnershipConflict) as exc:
        driver.apply_stack(theirs, f"{b}-1")
    assert _one_line(exc.value) == (f"cloudformation:UpdateStack: refusing to change stack {spec.name}: "
                                    f"it belongs to app {a}, env test, not to app {b}, env test")
    after = cfn.describe_stacks(StackName=spec.name)["Stacks"][0]
    assert after["Tags"] == before["Tags"] and after.get("LastUpdatedTime") == before.get("LastUpdatedTime")
    with pytest.raises(OwnershipConflict):
        driver.delete_stack(spec.name, f"{b}-del", owner={"paas:app": b, "paas:env": "test"})
    assert cfn.describe_stacks(StackName=spec.name)["Stacks"][0]["StackStatus"] == before["StackStatus"]

    # a stack paas did not create, under a name paas would use
    c = f"sc{uid}"
    foreign = stack_spec(aws_env, c)
    cfn.create_stack(StackName=foreign.name, TemplateBody='{"Resources": {}}')
    with pytest.raises(OwnershipConflict, match=f"stack {foreign.name}: it has no paas tags"):
        driver.apply_stack(foreign, f"{c}-1")


def test_a_listener_rule_moves_only_for_its_owner(aws_env, driver, uid):
    a, b = f"ra{uid}", f"rb{uid}"
    spec = stack_spec(aws_env, a)
    driver.apply_stack(spec, f"{a}-1")
    web = driver.describe_stack(spec.name).infra["web"]
    split = {web.blue_target_group: 50, web.green_target_group: 50}

    with pytest.raises(OwnershipConflict) as exc:
        driver.set_weights(web.rule_arn, split, owner=owner(b))
    assert _one_line(exc.value).startswith("elasticloadbalancing:ModifyRule: refusing to change listener rule")
    assert driver.rule_weights([web.rule_arn])[web.rule_arn] == {web.blue_target_group: 100,
                                                                  web.green_target_group: 0}
    assert driver.call_counts().get("elasticloadbalancing:ModifyRule", 0) == 0

    # its owner's stack created it (CloudFormation put no tags on it here): allowed, also for a
    # fresh driver that has not read the stack yet
    from paas.aws.session import make_driver

    fresh = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url)
    fresh.set_weights(web.rule_arn, split, owner=owner(a))
    assert driver.rule_weights([web.rule_arn])[web.rule_arn] == split


def test_rules_paas_did_not_create_are_refused_and_tagged_ones_are_checked(aws_env, driver, uid):
    a, b = f"ta{uid}", f"tb{uid}"
    spec = stack_spec(aws_env, a)
    driver.apply_stack(spec, f"{a}-1")
    web = driver.describe_stack(spec.name).infra["web"]
    elbv2 = aws_env.client("elbv2")
    action = [{"Type": "forward", "TargetGroupArn": web.blue_target_group}]
    cond = [{"Field": "path-pattern", "Values": [f"/{uid}/*"]}]
    prio = 40000 + int(uid, 16) % 9000
    bare = elbv2.create_rule(ListenerArn=aws_env.listener_arn, Priority=prio, Conditions=cond,
                             Actions=action)["Rules"][0]["RuleArn"]
    tagged = elbv2.create_rule(ListenerArn=aws_env.listener_arn, Priority=prio + 1, Conditions=cond,
                               Actions=action, Tags=[{"Key": "paas:app", "Value": b},
                                                     {"Key": "paas:env", "Value": "test"}])["Rules"][0]["RuleArn"]
    try:
        with pytest.raises(OwnershipConflict, match="no paas tags"):
            driver.set_weights(bare, {web.blue_target_group: 1}, owner=owner(a))
        with pytest.raises(OwnershipConflict, match=f"belongs to app {b}, env test, not to app {a}"):
            driver.set_weights(tagged, {web.blue_target_group: 1}, owner=owner(a, process=None))
        driver.set_weights(tagged, {web.blue_target_group: 7}, owner=owner(b, process=None))
        assert driver.rule_weights([tagged])[tagged] == {web.blue_target_group: 7}
    finally:
        for r in (bare, tagged):
            elbv2.delete_rule(RuleArn=r)


def test_inside_a_pass_the_owner_check_uses_the_tags_the_pass_read_and_still_refuses(aws_env, driver, uid):
    """seen_tags.py: the pass's DescribeServices brings the tags along; the check before
    UpdateService and before registering a revision costs no second call, and a foreign owner
    is refused exactly as outside a pass."""
    from paas.aws import seen_tags

    a, b = f"sa{uid}", f"sb{uid}"
    td_a = driver.register_task_definition(taskdef(a, 1)).result["arn"]
    name = f"seen{uid}-web-blue"
    driver.create_service(service(aws_env, name, td_a, count=1, app=a), token=f"{a}-create")

    with seen_tags.scope():
        before = driver.call_counts()
        assert driver.describe_services(aws_env.cluster, [name])[name].desired == 1
        assert driver.find_task_definition(f"{a}-test-web", 2) is None  # the family's newest is v1
        call = driver.update_service(service(aws_env, name, td_a, count=2, app=a))
        td2 = driver.register_task_definition(taskdef(a, 2)).result["arn"]
        with pytest.raises(OwnershipConflict, match=f"app {a}.* app {b}"):
            driver.update_service(service(aws_env, name, td_a, count=3, app=b))
        after = driver.call_counts()
    sent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert sent.get("ecs:DescribeServices") == 1 and sent.get("ecs:DescribeTaskDefinition") == 1, sent
    assert sent.get("ecs:UpdateService") == 1 and sent.get("ecs:RegisterTaskDefinition") == 1, sent
    # UpdateService's answer describes the service: the reconciler plans on from it
    assert call.observed is not None and call.observed.desired == 2 and call.observed.task_definition == td_a
    assert _raw_service(aws_env, name)["desiredCount"] == 2 and td2.endswith(":2")
