"""Fixtures: one emulator for the whole devstack test run (moto state is process-global)."""

from __future__ import annotations

import itertools
import time
import uuid
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


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> Any:
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

    def target_group(self, name: str, port: int = 8080) -> str:
        return self.elbv2.create_target_group(
            Name=name, Protocol="HTTP", Port=port, VpcId=self.env["vpc_id"], TargetType="ip",
            HealthCheckPath="/health",
        )["TargetGroups"][0]["TargetGroupArn"]

    def task_definition(self, family: str, image: str) -> str:
        return self.ecs.register_task_definition(
            family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "web", "image": image, "essential": True,
                                   "portMappings": [{"containerPort": 8080}]}],
        )["taskDefinition"]["taskDefinitionArn"]

    def service(self, name: str, task_definition: str, desired: int, tg: str | None = None,
                min_pct: int = 100, max_pct: int = 200, breaker: dict[str, bool] | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
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
