"""Secrets Manager secrets, ECR digests and CloudWatch metrics through the boto3 driver."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from datetime import datetime, timezone

import pytest

from paas.aws.driver import MetricQuery
from paas.domain.errors import PermanentError, UserError
from paas.domain.limits import SECRET_VALUE_MAX_BYTES
from paas.planner.build import secret_value_from
from tests.aws.conftest import ACCOUNT
from tests.aws.helpers import sent_params, taskdef


def _version_of(value_from: str) -> tuple[str, str]:
    """``<ARN>:<json-key>:<version-stage>:<version-id>`` → (ARN, version id)."""
    arn, key, stage, version = value_from.rsplit(":", 3)
    assert key == "" and stage == ""
    return arn, version


def test_two_versions_of_a_secret_pin_two_values_and_no_log_shows_them(aws_env, driver, uid, caplog):
    caplog.set_level(logging.DEBUG)  # botocore logs request params and bodies at DEBUG
    name = f"/paas/test/sec{uid}/DB_PASSWORD"
    # quotes, a backslash, a newline and non-ASCII: JSON and repr escape each of them
    first = f's3cr3t-{uid} "one"\\ line\nänd'
    second = f"s3cr3t-{uid}-two/+="
    arn1, v1 = driver.put_secret(name, first)
    arn2, v2 = driver.put_secret(name, second, tags={"paas:app": f"sec{uid}"})
    assert arn1 == arn2
    assert re.fullmatch(rf"arn:aws:secretsmanager:{aws_env.region}:{ACCOUNT}:secret:"
                        rf"paas/test/sec{uid}/DB_PASSWORD-[A-Za-z0-9]{{6}}", arn1)
    assert v1 != v2

    vf1, vf2 = (secret_value_from({"arn": arn1, "version": v1}),
                secret_value_from({"arn": arn2, "version": v2}))
    assert vf1 != vf2
    assert _version_of(vf1) == (arn1, v1) and _version_of(vf2) == (arn2, v2)

    assert "CreateSecret" in caplog.text and "PutSecretValue" in caplog.text  # DEBUG was captured
    assert f"s3cr3t-{uid}" not in caplog.text  # ...and no spelling of either value is in it
    assert "***" in caplog.text

    caplog.set_level(logging.WARNING)  # (reading the values back logs them)
    sm = aws_env.client("secretsmanager")
    for vf, want in ((vf1, first), (vf2, second)):
        arn, version = _version_of(vf)
        assert sm.get_secret_value(SecretId=arn, VersionId=version)["SecretString"] == want
    assert sm.get_secret_value(SecretId=arn1)["SecretString"] == second  # the newest is current

    # a task definition carries the pinned reference (moto stores it; it resolves nothing)
    td = dataclasses.replace(taskdef(f"sec{uid}", 1), secrets={"DB_PASSWORD": vf1})
    arn = driver.register_task_definition(td).result["arn"]
    c = aws_env.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    assert c["containerDefinitions"][0]["secrets"] == [{"name": "DB_PASSWORD", "valueFrom": vf1}]


def test_put_secret_with_the_same_token_is_one_version(aws_env, driver, uid):
    name = f"/paas/test/tok{uid}/API_KEY"
    token = f"deploy-{uid}-0000000000000000000000000"
    a = driver.put_secret(name, "first-value", token=token)
    assert a == driver.put_secret(name, "first-value", token=token)  # a retried store
    b = driver.put_secret(name, "second-value")
    assert b[1] != a[1]
    with pytest.raises(PermanentError, match="^secretsmanager:PutSecretValue: "):
        driver.put_secret(name, "other-value", token=token)  # a version is immutable
    versions = aws_env.client("secretsmanager").list_secret_version_ids(SecretId=a[0])["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted([a[1], b[1]])


def test_secret_size_limit_is_checked_before_sending(aws_env, driver, uid):
    name = f"/paas/test/big{uid}/BLOB"
    with pytest.raises(UserError, match=f"1 to {SECRET_VALUE_MAX_BYTES} bytes, got {SECRET_VALUE_MAX_BYTES + 1}"):
        driver.put_secret(name, "é" * (SECRET_VALUE_MAX_BYTES // 2) + "x")  # 2-byte characters
    assert not any(k.startswith("secretsmanager:") for k in driver.call_counts())
    arn, _ = driver.put_secret(name, "x" * SECRET_VALUE_MAX_BYTES)  # exactly the limit is fine
    got = aws_env.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    assert len(got) == SECRET_VALUE_MAX_BYTES


def test_value_from_pins_secrets_manager_and_leaves_ssm_alone():
    sm = "arn:aws:secretsmanager:us-east-1:123456789012:secret:paas/dev/shop/DB-AbCdEf"
    assert secret_value_from({"arn": sm, "version": "v-123"}) == sm + ":::v-123"
    ssm = "arn:aws:ssm:us-east-1:123456789012:parameter/paas/dev/shop/DB"
    assert secret_value_from({"arn": ssm, "version": 3}) == ssm  # ECS cannot pin a parameter


def test_resolve_digest(aws_env, driver, uid):
    ecr = aws_env.client("ecr")
    repo = f"shop{uid}"
    ecr.create_repository(repositoryName=repo)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": "sha256:" + "a" * 64, "size": 1, "mediaType": "application/vnd.docker.container.image.v1+json"},
                           "layers": []})
    pushed = ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1")["image"]
    want = pushed["imageId"]["imageDigest"]
    host = f"{ACCOUNT}.dkr.ecr.{aws_env.region}.amazonaws.com"
    assert driver.resolve_digest(f"{host}/{repo}:v1") == want
    assert driver.resolve_digest(f"{host}/{repo}@{'sha256:' + 'b' * 64}") == "sha256:" + "b" * 64
    assert driver.resolve_digest("nginx:1.27") is None
    assert driver.resolve_digest("ghcr.io/acme/shop:v1") is None
    with pytest.raises(PermanentError, match="not found"):
        driver.resolve_digest(f"{host}/{repo}:nope")


def test_metric_data_batches_of_500_and_sorts(aws_env, driver, uid):
    tg = f"arn:aws:elasticloadbalancing:{aws_env.region}:{ACCOUNT}:targetgroup/tg{uid}/0123456789abcdef"
    lb = aws_env.load_balancer_arn
    now = int(time.time()) // 60 * 60
    cw = aws_env.client("cloudwatch")
    dims = [{"Name": "TargetGroup", "Value": f"targetgroup/tg{uid}/0123456789abcdef"},
            {"Name": "LoadBalancer", "Value": lb.split(":loadbalancer/", 1)[1]}]
    cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
        {"MetricName": "RequestCount", "Dimensions": dims, "Value": v,
         "Timestamp": datetime.fromtimestamp(now - ago, tz=timezone.utc)}
        # young enough to outlive a slow run: the shared emulator keeps 400 s of metrics (e2e conftest)
        for ago, v in ((180, 5.0), (60, 7.0), (120, 6.0))])

    queries = [MetricQuery(f"q{i}", "RequestCount", tg, lb, "Sum", 60) for i in range(600)]
    before = driver.call_counts().get("cloudwatch:GetMetricData", 0)
    with sent_params(driver.clients.cloudwatch, "cloudwatch", "GetMetricData") as sent:
        got = driver.metric_data(queries, now - 600, now)
    assert driver.call_counts()["cloudwatch:GetMetricData"] - before == 2
    assert [len(p["MetricDataQueries"]) for p in sent] == [500, 100]
    assert len(got) == 600
    assert [v for _, v in got["q0"]] == [5.0, 6.0, 7.0]  # oldest first
    assert got["q599"] == got["q0"]
    ts = [t for t, _ in got["q0"]]
    assert ts == sorted(ts) and ts[0] == now - 180
