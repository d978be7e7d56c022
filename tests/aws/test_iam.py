"""`paas iam policy`: every operation the driver sends is allowed, scoped, and nothing else.

The coverage test runs every driver operation against the emulator, reads which ones were sent
from the driver's own call counters, and checks each one's IAM actions against the policy
the CLI prints. A second test reads the driver's source, so an operation added later without
a table entry fails even before anyone runs it.
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
from pathlib import Path

import pytest

from paas.aws import iam
from paas.aws.driver import MetricQuery
from paas.aws.session import make_driver
from paas.cli.main import main
from paas.domain.errors import PaasError, UserError
from tests.aws.conftest import ACCOUNT
from tests.aws.helpers import manifest, owner, service, set_moto_stack_status, stack_spec, taskdef

AWS = Path(__file__).resolve().parents[2] / "paas" / "aws"
CFN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/paas-cloudformation"


def _printed(capsys, *args: str) -> dict:
    capsys.readouterr()
    main(["iam", "policy", *args])
    return json.loads(capsys.readouterr().out)


def _resources_for(policy: dict, action: str) -> list[str]:
    out = []
    for st in policy["Statement"]:
        if action in st["Action"]:
            out += [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
    return out


def _allowed(policy: dict, action: str, arn: str) -> bool:
    return any(fnmatch.fnmatchcase(arn, pattern) for pattern in _resources_for(policy, action))


def _run_every_operation(aws_env, driver, uid) -> dict[str, str]:
    """Each driver operation at least once; returns ARNs of what was touched."""
    app = f"iam{uid}"
    spec = stack_spec(aws_env, app)
    driver.apply_stack(spec, f"{app}-1")  # DescribeStacks, CreateStack
    driver.apply_stack(stack_spec(aws_env, app, manifest(paths=("/iam/*",))), f"{app}-2")  # UpdateStack
    stack = driver.describe_stack(spec.name)
    web = stack.infra["web"]
    touched: dict[str, str] = {}
    driver.target_health([web.blue_target_group])
    driver.rule_weights([web.rule_arn])
    driver.set_weights(web.rule_arn, {web.blue_target_group: 100, web.green_target_group: 0},
                       owner={"paas:app": app, "paas:env": "test"})  # DescribeTags, ModifyRule
    q = MetricQuery("q", "RequestCount", web.blue_target_group, aws_env.load_balancer_arn, "Sum", 60)
    driver.metric_data([q], time.time() - 600, time.time())

    td = driver.register_task_definition(taskdef(app, 1)).result["arn"]
    driver.find_task_definition(f"{app}-test-web", 2)
    driver.list_task_definitions(f"{app}-test-web")
    name = f"{app}-web-blue"
    created = driver.create_service(service(aws_env, name, td, app=app), token=f"{app}-c")
    driver.update_service(service(aws_env, name, td, count=1, app=app))
    driver.scale_service(aws_env.cluster, name, 0, owner=owner(app))
    driver.list_services(aws_env.cluster)
    driver.describe_tasks(aws_env.cluster, [f"arn:aws:ecs:{aws_env.region}:{ACCOUNT}:task/{aws_env.cluster}/0"])
    touched.update(_tasks_logs_and_schedules(aws_env, driver, app, td))
    driver.deregister_task_definition(td, owner=owner(app))

    secret_arn, _ = driver.put_secret(f"/paas/test/{app}/TOKEN", "v1")  # CreateSecret
    driver.put_secret(f"/paas/test/{app}/TOKEN", "v2")  # PutSecretValue
    param = f"/paas/notify/{app}/t1/url"
    driver.put_parameter(param, "https://hooks.example.com/T/B/token")  # PutParameter
    assert driver.get_parameter(param) == "https://hooks.example.com/T/B/token"  # GetParameter
    driver.delete_parameters([param])  # DeleteParameters
    aws_env.client("ecr").create_repository(repositoryName=app)
    driver.resolve_digest(f"{ACCOUNT}.dkr.ecr.{aws_env.region}.amazonaws.com/{app}@sha256:{'a' * 64}")
    with pytest.raises(PaasError):
        driver.resolve_digest(f"{ACCOUNT}.dkr.ecr.{aws_env.region}.amazonaws.com/{app}:nope")
    # the pipeline: the push route, the queue, the repository
    queue = driver.ensure_push_route()  # CreateQueue, GetQueueAttributes, PutRule, SetQueueAttributes, PutTargets
    from paas.devstack.push import push as dev_push

    pushed = dev_push(aws_env.client("ecr"), aws_env.client("events"), app, "main-1")
    msgs = driver.receive_pushes(queue, 1)  # ReceiveMessage
    assert pushed["digest"] in {m.digest for m in msgs}
    for m in msgs:
        driver.retry_push_message(queue, m.receipt, 0)  # ChangeMessageVisibility: visible again at once
    msgs = driver.receive_pushes(queue, 1)
    assert pushed["digest"] in {m.digest for m in msgs}
    for m in msgs:
        driver.delete_push_message(queue, m.receipt)  # DeleteMessage
    assert driver.repository_uri(app).endswith(f"/{app}")  # DescribeRepositories
    assert pushed["digest"] in {i.digest for i in driver.repository_images(app)}
    touched["queue"] = f"arn:aws:sqs:{aws_env.region}:{ACCOUNT}:paas-image-pushes"

    touched.update({"stack": stack_id(aws_env, spec.name), "secret": secret_arn, "rule": web.rule_arn,
                    "service": created.result["arn"],
                    "parameter": f"arn:aws:ssm:{aws_env.region}:{ACCOUNT}:parameter{param}"})
    set_moto_stack_status(aws_env, spec.name, "UPDATE_ROLLBACK_FAILED")
    driver.describe_stack(spec.name)  # DescribeStackEvents (the failure reason)
    try:
        driver.continue_update_rollback(spec.name, f"{app}-cont")
    except PaasError:
        pass  # moto does not implement ContinueUpdateRollback; the request was sent
    driver.delete_stack(spec.name, f"{app}-del")
    return touched


def _tasks_logs_and_schedules(aws_env, driver, app: str, td: str) -> dict[str, str]:
    """One-off tasks, log reading and job schedules (paas run, paas logs, the release phase, jobs)."""
    from paas.domain.specs import ScheduleSpec, TaskRunSpec

    group = f"/paas/test/{app}"  # the stack's
    spec = TaskRunSpec(cluster=aws_env.cluster, task_definition=td, container_name="web", command=("true",),
                       subnets=tuple(aws_env.subnets), security_groups=tuple(aws_env.security_groups),
                       started_by=f"paas-run-1-{app}")
    task = driver.run_task(spec, spec.started_by).result["task_arn"]  # ListTasks, RunTask
    driver.task_states(aws_env.cluster, [task])
    driver.stop_task(aws_env.cluster, task, "iam coverage", owner=owner(app, None))  # StopTask
    driver.log_events(group)  # FilterLogEvents
    driver.log_tail(group, f"web/web/{task.rsplit('/', 1)[-1]}")  # GetLogEvents
    sched = ScheduleSpec(group=f"paas-{app}-test", name="report", expression="rate(1 hour)",
                         cluster_arn=f"arn:aws:ecs:{aws_env.region}:{ACCOUNT}:cluster/{aws_env.cluster}",
                         role_arn=f"arn:aws:iam::{ACCOUNT}:role/paas/scheduler", task_definition=td,
                         container_name="web", command=("report",), subnets=tuple(aws_env.subnets),
                         security_groups=tuple(aws_env.security_groups), task_group="paas-job:report",
                         owner=owner(app, None))
    driver.ensure_schedule_group(sched.group, owner(app, None))  # GetScheduleGroup, CreateScheduleGroup
    arn = driver.put_schedule(sched, create=True, token="c").result["arn"]  # ListTagsForResource, CreateSchedule
    driver.put_schedule(sched, create=False, token="u")  # UpdateSchedule
    driver.schedules(sched.group)  # ListSchedules, GetSchedule
    driver.delete_schedule(sched.group, "report", owner=owner(app, None), token="d")  # DeleteSchedule
    return {"task": task, "log_group": f"arn:aws:logs:{aws_env.region}:{ACCOUNT}:log-group:{group}",
            "schedule": arn or f"arn:aws:scheduler:{aws_env.region}:{ACCOUNT}:schedule/{sched.group}/report"}


def stack_id(aws_env, name: str) -> str:
    return aws_env.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]["StackId"]


def test_every_driver_operation_is_allowed_by_the_printed_policy(aws_env, driver, uid, capsys):
    touched = _run_every_operation(aws_env, driver, uid)
    sent = set(driver.call_counts())
    assert sent == set(iam.OPERATIONS), "the run covers the table and the table covers the run"

    for args in ((), ("--cfn-role-arn", CFN_ROLE)):
        policy = _printed(capsys, *args)
        allowed = iam.policy_actions(policy)
        missing = {op: a for op in sent for a in iam.OPERATIONS[op] if a not in allowed}
        assert not missing, (args, missing)
        # and the scoped actions cover the resources the driver really touched
        assert _allowed(policy, "cloudformation:UpdateStack", touched["stack"])
        assert _allowed(policy, "secretsmanager:PutSecretValue", touched["secret"])
        assert _allowed(policy, "elasticloadbalancing:ModifyRule", touched["rule"])
        assert _allowed(policy, "ecs:UpdateService", touched["service"])
        assert _allowed(policy, "ecs:StopTask", touched["task"])
        assert _allowed(policy, "sqs:ReceiveMessage", touched["queue"])
        assert not _allowed(policy, "sqs:ReceiveMessage", touched["queue"].replace(":paas-", ":other-"))
        assert _allowed(policy, "logs:FilterLogEvents", touched["log_group"])
        assert _allowed(policy, "scheduler:CreateSchedule", touched["schedule"])
        assert _allowed(policy, "ssm:GetParameter", touched["parameter"])
        assert not _allowed(policy, "ssm:GetParameter", touched["parameter"].replace("/paas/notify/", "/prod/db/"))
        assert not _allowed(policy, "scheduler:CreateSchedule", touched["schedule"].replace(":schedule/paas", ":schedule/x"))
        assert not _allowed(policy, "secretsmanager:PutSecretValue",
                            touched["secret"].replace(":secret:paas/", ":secret:other/"))


def test_the_source_calls_no_operation_the_table_does_not_know():
    call = re.compile(r'api\.call\(\s*"([a-z0-9]+)",\s*"([A-Za-z]+)"')
    from paas.aws.accounting import operation_key

    found = {operation_key(svc, op) for path in AWS.glob("*.py")
             for svc, op in call.findall(path.read_text(encoding="utf-8"))}
    assert len(found) > 15  # the pattern does find the calls
    assert found == set(iam.OPERATIONS)


def test_the_policy_is_valid_fits_a_managed_policy_and_names_no_wildcard_action(capsys):
    variants = [_printed(capsys), _printed(capsys, "--cfn-role-arn", CFN_ROLE),
                _printed(capsys, "--for", "cfn-role"),
                _printed(capsys, "--account", ACCOUNT, "--region", "eu-west-1")]
    for policy in variants:
        assert policy["Version"] == "2012-10-17"
        sids = [st["Sid"] for st in policy["Statement"]]
        assert len(sids) == len(set(sids)) and all(re.fullmatch(r"[A-Za-z0-9]+", s) for s in sids)
        for st in policy["Statement"]:
            assert st["Effect"] == "Allow" and st["Resource"]
            assert all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", a) for a in st["Action"])
        assert iam.compact_size(policy) <= iam.MANAGED_POLICY_MAX_CHARS
    scoped = variants[3]
    assert _resources_for(scoped, "cloudformation:CreateStack") == [
        f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/paas-*/*"]

    plain, with_role = iam.policy_actions(variants[0]), iam.policy_actions(variants[1])
    assert {"iam:CreateRole", "iam:PutRolePolicy", "ec2:CreateSecurityGroup"} <= plain
    assert not {a for a in with_role if re.match(r"iam:(Create|Put|Delete|Attach|Detach|Update|Tag)", a)}
    # the stack's resources are the CloudFormation role's; the worker only reads task logs
    assert not any(a.startswith("ec2:") for a in with_role)
    assert {a for a in with_role if a.startswith("logs:")} == {"logs:FilterLogEvents", "logs:GetLogEvents"}
    pass_role = [st for st in variants[1]["Statement"]
                 if "iam:PassRole" in st["Action"] and st["Resource"] == CFN_ROLE]
    assert pass_role and pass_role[0]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
    assert "iam:CreateRole" in iam.policy_actions(variants[2])


def test_the_tables_match_the_names_paas_gives():
    from paas.aws.secrets import secret_name
    from paas.domain.specs import stack_name
    from paas.planner import infra_template as it

    t = it.build_stack_template("shop", "prod", manifest(), vpc_id="vpc-1", listener_arn="arn:l")
    assert {r["Type"] for r in t["Resources"].values()} <= set(iam.STACK_RESOURCE_ACTIONS)
    assert stack_name("shop", "prod").startswith(iam.STACK_NAME_PREFIX)
    assert secret_name("/paas/prod/shop/DB_PASSWORD").startswith(iam.SECRET_NAME_PREFIX)
    assert it.log_group_name("shop", "prod").startswith(iam.LOG_GROUP_PREFIX)
    roles = [r for r in t["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert roles and all(r["Properties"]["Path"] == iam.ROLE_PATH for r in roles)


def test_stack_operations_pass_the_cloudformation_role(aws_env, uid, monkeypatch):
    drv = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url, cfn_role_arn=CFN_ROLE)
    spec = stack_spec(aws_env, f"cr{uid}")
    drv.apply_stack(spec, f"cr{uid}")
    got = aws_env.client("cloudformation").describe_stacks(StackName=spec.name)["Stacks"][0]
    assert got.get("RoleARN") == CFN_ROLE

    monkeypatch.setenv("PAAS_CFN_ROLE_ARN", CFN_ROLE)
    from_env = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url)
    spec2 = stack_spec(aws_env, f"ce{uid}")
    from_env.apply_stack(spec2, f"ce{uid}")
    assert aws_env.client("cloudformation").describe_stacks(
        StackName=spec2.name)["Stacks"][0].get("RoleARN") == CFN_ROLE

    monkeypatch.setenv("PAAS_CFN_ROLE_ARN", "paas-cloudformation")
    with pytest.raises(UserError, match="PAAS_CFN_ROLE_ARN must be an IAM role ARN"):
        make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url)


@pytest.mark.parametrize("args,needle", [
    (["--account", "12"], "--account must be a 12-digit"),
    (["--region", "mars"], "--region must be an AWS region"),
    (["--cfn-role-arn", "role/x"], "--cfn-role-arn must be an IAM role ARN"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["iam", "policy", *args])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("paas: ")
    assert needle in captured.err and captured.err.count("\n") == 1  # one line, no traceback
