"""SSM secrets, ECR digests and CloudWatch metrics through the boto3 driver."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone

import pytest

from paas.aws.driver import MetricQuery
from paas.domain.errors import PermanentError
from tests.aws.conftest import ACCOUNT


def test_put_secret_returns_arn_and_version_and_never_logs_the_value(aws_env, driver, uid, caplog):
    caplog.set_level(logging.DEBUG)  # botocore logs request params and bodies at DEBUG
    name = f"/paas/test/sec{uid}/DB_PASSWORD"
    value = f"s3cr3t-{uid}-value"
    arn, version = driver.put_secret(name, value)
    assert arn == f"arn:aws:ssm:{aws_env.region}:{ACCOUNT}:parameter{name}"
    assert version == 1
    arn2, version2 = driver.put_secret(name, value + "-2")
    assert (arn2, version2) == (arn, 2)
    assert "PutParameter" in caplog.text  # the DEBUG logs were captured...
    assert value not in caplog.text  # ...and the value is in none of them
    assert "***" in caplog.text

    caplog.set_level(logging.WARNING)  # (the check below logs the value itself)
    p = aws_env.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert p["Type"] == "SecureString" and p["Value"] == value + "-2"


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
        for ago, v in ((300, 5.0), (120, 7.0), (240, 6.0))])

    queries = [MetricQuery(f"q{i}", "RequestCount", tg, lb, "Sum", 60) for i in range(600)]
    before = driver.call_counts().get("cloudwatch:GetMetricData", 0)
    got = driver.metric_data(queries, now - 600, now)
    assert driver.call_counts()["cloudwatch:GetMetricData"] - before == 2  # 500 + 100
    assert len(got) == 600
    assert [v for _, v in got["q0"]] == [5.0, 6.0, 7.0]  # oldest first
    assert got["q599"] == got["q0"]
    ts = [t for t, _ in got["q0"]]
    assert ts == sorted(ts) and ts[0] == now - 300
