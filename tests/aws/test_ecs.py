"""ECS through the boto3 driver: task definitions by release tag, services in batches of 10."""

from __future__ import annotations

import pytest

from paas.domain.errors import PermanentError
from tests.aws.helpers import service, taskdef


def test_register_and_find_by_release_tag(aws_env, driver, uid):
    app = f"td{uid}"
    fam = f"{app}-test-web"
    assert driver.find_task_definition(fam, 1) is None  # family does not exist yet

    call = driver.register_task_definition(taskdef(app, 1))
    arn = call.result["arn"]
    assert call.operation == "ecs:RegisterTaskDefinition" and call.request_id
    assert arn.endswith(f":task-definition/{fam}:1")
    assert driver.find_task_definition(fam, 1) == arn  # re-registering after a crash is avoided
    assert driver.find_task_definition(fam, 2) is None

    # what was registered is what AWS needs for Fargate
    td = aws_env.client("ecs").describe_task_definition(taskDefinition=arn, include=["TAGS"])
    d = td["taskDefinition"]
    assert d["networkMode"] == "awsvpc" and d["requiresCompatibilities"] == ["FARGATE"]
    assert (d["cpu"], d["memory"]) == ("256", "512")
    c = d["containerDefinitions"][0]
    assert c["command"] == ["gunicorn", "app:wsgi", "--bind", "0.0.0.0:8080"]
    assert [e["name"] for e in c["environment"]] == ["A", "B"]
    assert c["secrets"][0]["name"] == "DB_PASSWORD" and c["secrets"][0]["valueFrom"].startswith("arn:aws:ssm:")
    assert c["logConfiguration"]["options"]["awslogs-group"] == f"/paas/test/{app}"
    assert c["portMappings"][0]["containerPort"] == 8080
    assert {t["key"]: t["value"] for t in td["tags"]}["paas:release"] == "1"

    arn2 = driver.register_task_definition(taskdef(app, 2)).result["arn"]
    assert driver.find_task_definition(fam, 2) == arn2
    assert driver.find_task_definition(fam, 1) == arn  # a rollback finds the older revision
    assert driver.find_task_definition(fam, 3) is None  # newer than anything registered: one call
    assert driver.list_task_definitions(fam) == [arn, arn2]
    driver.deregister_task_definition(arn)
    assert driver.list_task_definitions(fam) == [arn2]
    assert driver.find_task_definition(fam, 1) is None  # deregistered: register again


def test_describe_services_batches_of_ten_and_release(aws_env, driver, uid):
    app = f"sv{uid}"
    td = driver.register_task_definition(taskdef(app, 7)).result["arn"]
    names = [f"{app}-web-{i:02d}" for i in range(25)]
    for n in names:
        driver.create_service(service(aws_env, n, td), token=f"dep1-create-{n}")

    from paas.aws.session import make_driver

    fresh = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url)
    plain = fresh.describe_services(aws_env.cluster, names)
    assert plain[names[0]].release is None  # by default no task-definition reads at all
    assert fresh.call_counts().get("ecs:DescribeTaskDefinition", 0) == 0
    got = fresh.describe_services(aws_env.cluster, names + [f"{app}-missing"], releases=True)
    assert fresh.call_counts()["ecs:DescribeServices"] == 3 + 3  # 10 + 10 + 6, twice
    assert sorted(got) == sorted(names)  # the missing one is absent
    s = got[names[0]]
    assert s.status == "ACTIVE" and s.task_definition == td and s.desired == 0
    assert s.release == 7
    assert s.primary is not None and s.primary.task_definition == td
    # the release cache: one DescribeTaskDefinition for 25 services on one task definition,
    # none at all the second time
    assert fresh.call_counts().get("ecs:DescribeTaskDefinition", 0) <= 1
    fresh.describe_services(aws_env.cluster, names, releases=True)
    assert fresh.call_counts().get("ecs:DescribeTaskDefinition", 0) <= 1
    assert set(names) <= set(fresh.list_services(aws_env.cluster))


def test_create_service_idempotent_update_and_scale(aws_env, driver, uid):
    app = f"cu{uid}"
    td1 = driver.register_task_definition(taskdef(app, 1)).result["arn"]
    td2 = driver.register_task_definition(taskdef(app, 2)).result["arn"]
    name = f"{app}-web-blue"
    spec = service(aws_env, name, td1, count=1)
    first = driver.create_service(spec, token="d" * 60)  # long tokens are hashed to ≤ 36
    assert first.operation == "ecs:CreateService" and first.result["arn"].endswith(name)
    again = driver.create_service(spec, token="d" * 60)  # the same step retried: success
    assert again.result.get("existing") is True
    assert driver.call_counts()["ecs:CreateService"] == 1

    raw = aws_env.client("ecs").describe_services(cluster=aws_env.cluster, services=[name],
                                                  include=["TAGS"])["services"][0]
    assert raw["launchType"] == "FARGATE"
    assert raw["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    assert raw["propagateTags"] == "SERVICE"

    upd = driver.update_service(service(aws_env, name, td2, count=2))
    assert upd.operation == "ecs:UpdateService"
    s = driver.describe_services(aws_env.cluster, [name], releases=True)[name]
    assert s.task_definition == td2 and s.desired == 2 and s.release == 2
    driver.scale_service(aws_env.cluster, name, 0)
    assert driver.describe_services(aws_env.cluster, [name])[name].desired == 0


def test_missing_cluster_is_permanent_and_names_the_operation(driver, uid):
    with pytest.raises(PermanentError) as exc:
        driver.describe_services(f"no-such-cluster-{uid}", ["x"])
    msg = str(exc.value)
    assert msg.startswith("ecs:DescribeServices: ")
    assert "ClusterNotFoundException" in msg and "request id" in msg
    assert exc.value.request_id
    assert "\n" not in msg


def test_token_shapes():
    from paas.aws.cloudformation import cfn_token
    from paas.aws.ecs_services import ecs_client_token

    assert ecs_client_token("dep-12-create") == "dep-12-create"
    long = ecs_client_token("x" * 80)
    assert len(long) == 36 and long == ecs_client_token("x" * 80)  # deterministic
    assert len(ecs_client_token("has space")) == 36  # outside 33-126 → hashed
    t = cfn_token("paas:42/stack_ab")
    import re
    assert re.fullmatch(r"[a-zA-Z0-9][-a-zA-Z0-9]*", t)
    assert len(cfn_token("a" * 300)) == 128 and cfn_token("a" * 300) != cfn_token("a" * 299)
