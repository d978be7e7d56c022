"""EventBridge Scheduler schedules with ECS targets fire on the warped emulator's clock."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from paas.devstack.profiles import set_profile
from paas.devstack.schedules import occurrences, validate_expression


def _task_definition(ecs, family, image):
    return ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "job", "image": image, "essential": True, "command": ["default"]}],
    )["taskDefinition"]["taskDefinitionArn"]


def test_a_rate_schedule_runs_its_ecs_task_with_the_input_overrides(warped, name):
    ecs, scheduler = warped.client("ecs"), warped.client("scheduler")
    image = f"repo/{name}:job"
    set_profile(warped.profiles_path, image, run_seconds=5, exit_code=0)
    td = _task_definition(ecs, name, image)
    cluster_arn = ecs.describe_clusters(clusters=[warped.env["cluster"]])["clusters"][0]["clusterArn"]
    created_at = warped.now()
    scheduler.create_schedule(
        Name=name, ScheduleExpression="rate(1 minute)", FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": cluster_arn, "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
            "EcsParameters": {"TaskDefinitionArn": td, "TaskCount": 1, "LaunchType": "FARGATE", "Group": f"job:{name}",
                              "NetworkConfiguration": {"awsvpcConfiguration": {
                                  "Subnets": warped.env["subnets"], "SecurityGroups": warped.env["security_groups"]}}},
            "Input": json.dumps({"containerOverrides": [{"name": "job", "command": ["report", "--daily"]}]}),
        },
    )

    def runs():
        arns = ecs.list_tasks(cluster=warped.env["cluster"], family=name, desiredStatus="STOPPED")["taskArns"]
        return ecs.describe_tasks(cluster=warped.env["cluster"], tasks=arns)["tasks"] if len(arns) >= 2 else None

    tasks = warped.wait(runs, 180, "two scheduled runs")
    created = sorted(t["createdAt"].timestamp() for t in tasks)
    assert created[0] == pytest.approx(created_at, abs=5)  # "starts invoking the target immediately"
    assert created[1] - created[0] == pytest.approx(60, abs=0.01)
    for t in tasks:
        assert t["group"] == f"job:{name}"
        assert t["overrides"]["containerOverrides"][0]["command"] == ["report", "--daily"]
        assert t["stopCode"] == "EssentialContainerExited" and t["containers"][0]["exitCode"] == 0

    scheduler.update_schedule(Name=name, ScheduleExpression="rate(1 minute)", State="DISABLED",
                              FlexibleTimeWindow={"Mode": "OFF"},
                              Target=scheduler.get_schedule(Name=name)["Target"])
    count = len(ecs.list_tasks(cluster=warped.env["cluster"], family=name, desiredStatus="STOPPED")["taskArns"]) + \
        len(ecs.list_tasks(cluster=warped.env["cluster"], family=name)["taskArns"])
    time.sleep(150 / 30)  # two and a half simulated minutes (the emulator's clock runs 30x): no firing
    after = len(ecs.list_tasks(cluster=warped.env["cluster"], family=name, desiredStatus="STOPPED")["taskArns"]) + \
        len(ecs.list_tasks(cluster=warped.env["cluster"], family=name)["taskArns"])
    assert after <= count + 1  # at most one that was already due when it was disabled


@pytest.mark.parametrize("expression", ["rate(0 minutes)", "rate(5 minute)", "rate(1 minutes)", "cron(0 12 * * *)",
                                        "cron(0 12 * * MON *)", "every 5 minutes", "at(2026-13-01T00:00:00)x"])
def test_expressions_aws_refuses_are_refused(warped, name, expression):
    scheduler = warped.client("scheduler")
    with pytest.raises(ClientError) as err:
        scheduler.create_schedule(Name=f"{name}-bad", ScheduleExpression=expression, FlexibleTimeWindow={"Mode": "OFF"},
                                  Target={"Arn": "arn:aws:ecs:us-east-1:123456789012:cluster/x",
                                          "RoleArn": "arn:aws:iam::123456789012:role/r"})
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_occurrences_follow_aws_cron_and_rate_rules():
    import datetime as dt

    def utc(*a):
        return dt.datetime(*a, tzinfo=dt.timezone.utc).timestamp()

    start = utc(2026, 3, 2, 10, 7)  # a Monday
    every_weekday_noon = occurrences("cron(0 12 ? * MON-FRI *)", "UTC", start, start)
    assert [next(every_weekday_noon) for _ in range(2)] == [utc(2026, 3, 2, 12), utc(2026, 3, 3, 12)]
    fridays = occurrences("cron(30 8 ? * 6 *)", "UTC", start, start)  # AWS: 6 = FRI (1 = SUN)
    assert next(fridays) == utc(2026, 3, 6, 8, 30)
    berlin = occurrences("cron(0 9 * * ? *)", "Europe/Berlin", start, start)
    assert next(berlin) == utc(2026, 3, 3, 8)  # 09:00 CET
    rate = occurrences("rate(15 minutes)", None, start, start + 1)
    assert next(rate) == start + 900
    assert list(occurrences("at(2026-03-02T11:00:00)", "UTC", start, start)) == [utc(2026, 3, 2, 11)]
    validate_expression("cron(15 10 L * ? 2026-2027)")
