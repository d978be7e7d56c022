"""Fixtures: one emulator for the whole devstack test run (moto state is process-global)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from paas.devstack.bootstrap import bootstrap_dev_environment
from paas.devstack.dataplane import DataPlaneSettings
from paas.devstack.emulator import Emulator, running_emulator, start_emulator

FAST = dict(
    tick_seconds=0.05,
    requests_per_second=100.0,
    metric_period_seconds=0.5,
    metric_delay_seconds=0.25,  # datapoints arrive late, as on AWS (60 s periods there)
    crash_seconds=0.1,
    steady_state_seconds=0.3,
    # moto scans every stored datapoint for each GetMetricData query: keep the store small
    # (20 samples still give an exact nearest-rank p99; see alb_metrics.latency_sample_seconds)
    latency_samples_per_period=20,
    metric_retention_seconds=400.0,
)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Emulator:
    existing = running_emulator()
    if existing is not None:  # another suite's fixture owns it: borrow it with our settings
        previous = existing.dataplane.settings
        existing.dataplane.update_settings(**FAST)
        yield existing
        existing.dataplane.update_settings(**{k: getattr(previous, k) for k in FAST})
        return
    profiles = tmp_path_factory.mktemp("devstack") / "profiles.json"
    with start_emulator(profiles_path=profiles, dataplane_settings=DataPlaneSettings(**FAST)) as emu:
        yield emu


@pytest.fixture(scope="session")
def env(emulator: Emulator) -> dict[str, Any]:
    return bootstrap_dev_environment(emulator.endpoint_url, region=emulator.region, name="devstack-tests")


@pytest.fixture
def ecs(emulator: Emulator) -> Any:
    return emulator.client("ecs")


@pytest.fixture
def elbv2(emulator: Emulator) -> Any:
    return emulator.client("elbv2")


@pytest.fixture
def cloudwatch(emulator: Emulator) -> Any:
    return emulator.client("cloudwatch")


_seq = itertools.count(1)


@pytest.fixture
def name() -> str:
    """A short unique resource name per test (resources outlive tests in the shared state)."""
    return f"t{next(_seq)}-{uuid.uuid4().hex[:6]}"


# Timeouts are upper bounds for a loaded machine (load average 10 on two cores): a wait returns
# as soon as its condition holds, so a generous bound costs nothing when things are fast.
SLACK = float(os.environ.get("PAAS_TEST_SLACK", "5"))


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> Any:
    timeout *= SLACK
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Apps:
    """Small helpers to create what the controller would create, through boto3."""

    def __init__(self, ecs: Any, elbv2: Any, env: dict[str, Any]) -> None:
        self.ecs, self.elbv2, self.env = ecs, elbv2, env

    def target_group(self, name: str, port: int = 8080, **health_check: Any) -> str:
        return self.elbv2.create_target_group(
            Name=name, Protocol="HTTP", Port=port, VpcId=self.env["vpc_id"], TargetType="ip",
            HealthCheckPath="/health", **health_check,
        )["TargetGroups"][0]["TargetGroupArn"]

    def task_definition(self, family: str, image: str) -> str:
        return self.ecs.register_task_definition(
            family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "web", "image": image, "essential": True,
                                   "portMappings": [{"containerPort": 8080}]}],
        )["taskDefinition"]["taskDefinitionArn"]

    def service(self, name: str, task_definition: str, desired: int, tg: str | None = None,
                min_pct: int = 100, max_pct: int = 200, breaker: dict[str, Any] | None = None,
                grace: int | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if grace is not None:
            kwargs["healthCheckGracePeriodSeconds"] = grace
        if tg:
            kwargs["loadBalancers"] = [{"targetGroupArn": tg, "containerName": "web", "containerPort": 8080}]
        return self.ecs.create_service(
            cluster=self.env["cluster"], serviceName=name, taskDefinition=task_definition, desiredCount=desired,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": self.env["subnets"],
                                                          "securityGroups": self.env["security_groups"]}},
            deploymentConfiguration={
                "maximumPercent": max_pct, "minimumHealthyPercent": min_pct,
                "deploymentCircuitBreaker": breaker or {"enable": False, "rollback": False},
            },
            **kwargs,
        )["service"]

    def describe(self, name: str) -> dict[str, Any]:
        return self.ecs.describe_services(cluster=self.env["cluster"], services=[name])["services"][0]

    def healthy_targets(self, tg: str) -> list[str]:
        return [d["Target"]["Id"] for d in self.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
                if d["TargetHealth"]["State"] == "healthy"]

    def wait_completed(self, name: str, task_definition: str, desired: int, timeout: float = 15.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            s = self.describe(name)
            d = s["deployments"]
            ok = (len(d) == 1 and d[0]["rolloutState"] == "COMPLETED" and d[0]["taskDefinition"] == task_definition
                  and s["runningCount"] == desired)
            return s if ok else None
        return wait_for(done, timeout=timeout, what=f"{name} to complete on {task_definition}")


@pytest.fixture
def wait() -> Callable[..., Any]:
    """``wait(predicate, timeout=..., what=...)``: poll until truthy, return the value."""
    return wait_for


@pytest.fixture
def apps(ecs: Any, elbv2: Any, env: dict[str, Any]) -> Apps:
    return Apps(ecs, elbv2, env)


# ------------------------------------------------------------------ a warped emulator

WARP_RATE = 30.0  # a 60 s metric period (or a 5 s health-check interval) passes in 2 s (0.17 s)
WARPED_SETTINGS = dict(
    tick_seconds=0.05,  # real seconds: 1.5 s of simulated time per tick
    requests_per_second=10.0,
    metric_period_seconds=60.0,  # AWS's ALB period
    metric_delay_seconds=60.0,  # the last ALB node reports a minute a minute after it ends
    latency_samples_per_period=10,
    metric_retention_seconds=36000.0,
    crash_seconds=3.0,
    steady_state_seconds=3.0,
    stopped_task_retention_seconds=36000.0,
)


class Warped:
    """An emulator in its own process whose clock runs WARP_RATE times faster than ours."""

    def __init__(self, proc: subprocess.Popen, info: dict[str, Any], warp: Any) -> None:
        self.proc, self.info, self.warp = proc, info, warp
        self.endpoint_url: str = info["endpoint_url"]
        self.region: str = info["region"]
        self.profiles_path = Path(info["profiles_path"])
        self.env: dict[str, Any] = info["env"]
        self.apps = Apps(self.client("ecs"), self.client("elbv2"), self.env)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            aws_session_token="testing")

    def now(self) -> float:
        """The emulator's (virtual) unix time."""
        return self.warp.time()

    def wait(self, predicate: Callable[[], Any], virtual_timeout: float, what: str) -> Any:
        """Poll until truthy; the timeout is in simulated seconds (plus real slack for load)."""
        return wait_for(predicate, timeout=virtual_timeout / WARP_RATE + 20.0, interval=0.05, what=what)


@pytest.fixture(scope="session")
def warped(tmp_path_factory: pytest.TempPathFactory) -> Warped:
    from paas.clock import Warp

    epoch = time.time()
    profiles = tmp_path_factory.mktemp("warped") / "profiles.json"
    env = {**os.environ, "PAAS_CLOCK_EPOCH": repr(epoch), "PAAS_CLOCK_RATE": repr(WARP_RATE)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "paas.devstack.serve", "--profiles", str(profiles),
         "--settings", json.dumps(WARPED_SETTINGS), "--bootstrap", "warped"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=Path(__file__).resolve().parents[2],
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        raise RuntimeError("the warped emulator did not start")
    yield Warped(proc, json.loads(line), Warp(epoch, WARP_RATE))
    if proc.stdin:
        proc.stdin.close()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
