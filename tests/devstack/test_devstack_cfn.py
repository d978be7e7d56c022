"""CloudFormation stacks fail the way they do on AWS: the call succeeds, the stack fails."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def cfn(emulator):
    return emulator.client("cloudformation")


def _tg(env, **props):
    return {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
            "Properties": {"Protocol": "HTTP", "Port": 80, "VpcId": env["vpc_id"], "TargetType": "ip", **props}}


def _rule(env, priority, path, tg_ref="TG"):
    return {"Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
            "Properties": {"ListenerArn": env["listener_arn"], "Priority": priority,
                           "Conditions": [{"Field": "path-pattern", "Values": [path]}],
                           "Actions": [{"Type": "forward", "TargetGroupArn": {"Ref": tg_ref}}]}}


def _stack(cfn, name):
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def _events(cfn, name):
    """Oldest first."""
    return cfn.describe_stack_events(StackName=name)["StackEvents"][::-1]


def _rules(elbv2, env):
    return {r["Priority"]: r for r in elbv2.describe_rules(ListenerArn=env["listener_arn"])["Rules"]}


def test_a_rule_whose_priority_is_in_use_fails_the_create_and_rolls_back(cfn, elbv2, env, name):
    taken = elbv2.create_target_group(Name=f"{name}-t", Protocol="HTTP", Port=80, VpcId=env["vpc_id"],
                                      TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_rule(ListenerArn=env["listener_arn"], Priority=700, Actions=[{"Type": "forward", "TargetGroupArn": taken}],
                      Conditions=[{"Field": "path-pattern", "Values": [f"/{name}-taken/*"]}])
    tgs_before = {t["TargetGroupArn"] for t in elbv2.describe_target_groups()["TargetGroups"]}
    template = {"Resources": {"TG": _tg(env), "Rule": _rule(env, 700, f"/{name}/*")},
                "Outputs": {"Group": {"Value": {"Ref": "TG"}}}}

    stack_id = cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))["StackId"]  # accepted

    stack = _stack(cfn, name)
    assert stack["StackId"] == stack_id
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert stack["StackStatusReason"] == "The following resource(s) failed to create: [Rule]. Rollback requested by user."
    assert "Outputs" not in stack
    events = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in _events(cfn, name)]
    assert events[0] == (name, "CREATE_IN_PROGRESS")
    assert ("TG", "CREATE_COMPLETE") in events and ("Rule", "CREATE_FAILED") in events
    assert events.index(("TG", "DELETE_COMPLETE")) > events.index((name, "ROLLBACK_IN_PROGRESS"))
    assert events[-1] == (name, "ROLLBACK_COMPLETE")
    failed = next(e for e in _events(cfn, name) if e["ResourceStatus"] == "CREATE_FAILED")
    assert failed["ResourceType"] == "AWS::ElasticLoadBalancingV2::ListenerRule"
    assert "Error Code: PriorityInUse" in failed["ResourceStatusReason"]
    # what the stack created is gone again; the rule that held the priority is untouched
    assert {t["TargetGroupArn"] for t in elbv2.describe_target_groups()["TargetGroups"]} == tgs_before
    assert _rules(elbv2, env)["700"]["Actions"][0]["TargetGroupArn"] == taken

    cfn.delete_stack(StackName=stack_id)  # the only way on from ROLLBACK_COMPLETE
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


def test_a_target_group_name_over_32_characters_fails_the_create(cfn, env, name):
    long_name = (name + "-" + "x" * 40)[:40]
    cfn.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {"TG": _tg(env, Name=long_name)}}))
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = next(e for e in _events(cfn, name) if e["ResourceStatus"] == "CREATE_FAILED")
    assert failed["LogicalResourceId"] == "TG"
    assert "cannot be longer than '32' characters" in failed["ResourceStatusReason"]
    assert "Error Code: ValidationError" in failed["ResourceStatusReason"]


@pytest.mark.parametrize(("on_failure", "status"), [("DO_NOTHING", "CREATE_FAILED"), ("DELETE", "DELETE_COMPLETE")])
def test_on_failure_is_honoured(cfn, env, name, on_failure, status):
    long_name = "y" * 33
    cfn.create_stack(StackName=name, OnFailure=on_failure,
                     TemplateBody=json.dumps({"Resources": {"TG": _tg(env, Name=long_name)}}))
    stacks = cfn.list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in stacks if s["StackName"] == name] == [status]


def test_a_failed_update_rolls_back_to_the_previous_template_and_keeps_its_resources(cfn, elbv2, env, name):
    elbv2.create_rule(ListenerArn=env["listener_arn"], Priority=711,
                      Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
                      Conditions=[{"Field": "path-pattern", "Values": [f"/{name}-other/*"]}])
    v1 = {"Resources": {"TG": _tg(env), "Rule": _rule(env, 710, f"/{name}/*")},
          "Outputs": {"Group": {"Value": {"Ref": "TG"}}}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(v1))
    assert _stack(cfn, name)["StackStatus"] == "CREATE_COMPLETE"
    rule_before = _rules(elbv2, env)["710"]
    outputs_before = _stack(cfn, name)["Outputs"]

    # v2 replaces Rule (removed) by Rule2 at a priority that is taken: Rule2 fails to create
    v2 = {"Resources": {"TG": _tg(env), "Rule2": _rule(env, 711, f"/{name}/v2/*")},
          "Outputs": {"Group": {"Value": {"Ref": "TG"}}}}
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(v2))  # accepted

    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert stack["StackStatusReason"] == "The following resource(s) failed to create: [Rule2]. "
    statuses = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in _events(cfn, name)]
    assert ("Rule2", "CREATE_FAILED") in statuses
    assert statuses[-3:] == [(name, "UPDATE_ROLLBACK_IN_PROGRESS"),
                             (name, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
                             (name, "UPDATE_ROLLBACK_COMPLETE")]
    # the old rule was never removed (AWS removes old resources only after success)
    assert _rules(elbv2, env)["710"]["RuleArn"] == rule_before["RuleArn"]
    assert _stack(cfn, name)["Outputs"] == outputs_before
    body = cfn.get_template(StackName=name)["TemplateBody"]  # botocore parses a JSON body
    assert (body if isinstance(body, dict) else json.loads(body)) == v1

    # a good update afterwards goes through and clears the reason
    v3 = {"Resources": {"TG": _tg(env), "Rule": _rule(env, 710, f"/{name}/*"), "Rule3": _rule(env, 712, f"/{name}/3/*")}}
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(v3))
    stack = _stack(cfn, name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE" and "StackStatusReason" not in stack
    assert "712" in _rules(elbv2, env)


def test_delete_stack_removes_its_target_groups_and_rules(cfn, elbv2, env, name):
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(
        {"Resources": {"TG": _tg(env), "Rule": _rule(env, 720, f"/{name}/*")},
         "Outputs": {"Group": {"Value": {"Ref": "TG"}}}}))
    tg_arn = _stack(cfn, name)["Outputs"][0]["OutputValue"]
    assert "720" in _rules(elbv2, env)
    cfn.delete_stack(StackName=name)
    assert "720" not in _rules(elbv2, env)
    assert tg_arn not in {t["TargetGroupArn"] for t in elbv2.describe_target_groups()["TargetGroups"]}
