"""What the controller asks AWS for, as plain data (built by the planner, sent by the driver)."""

from __future__ import annotations

from dataclasses import dataclass, field

COLOURS = ("blue", "green")


def stack_name(app: str, env: str) -> str:
    return f"paas-{app}-{env}"


def service_name(app: str, process: str, colour: str) -> str:
    """Clusters are per environment, so app+process+colour is unique inside one."""
    return f"{app}-{process}-{colour}"


def family(app: str, env: str, process: str) -> str:
    return f"{app}-{env}-{process}"


def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


@dataclass(frozen=True)
class ProcessInfra:
    """Per-process resources the infrastructure stack owns (web processes only)."""

    blue_target_group: str | None = None
    green_target_group: str | None = None
    rule_arn: str | None = None

    def target_group(self, colour: str) -> str | None:
        return self.blue_target_group if colour == "blue" else self.green_target_group


@dataclass(frozen=True)
class StackSpec:
    """One CloudFormation stack per app+environment (DESIGN.md §3)."""

    name: str
    template: dict
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def template_hash(self) -> str:
        import hashlib
        import json

        body = json.dumps(self.template, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TaskDefSpec:
    family: str
    container_name: str
    image: str
    cpu: int
    memory: int
    port: int | None
    command: str | None
    environment: dict[str, str]
    secrets: dict[str, str]  # env var name → valueFrom ARN (SSM parameter or Secrets Manager)
    log_group: str | None
    region: str
    execution_role_arn: str | None
    task_role_arn: str | None
    tags: dict[str, str]


@dataclass(frozen=True)
class ServiceSpec:
    cluster: str
    name: str
    task_definition: str
    desired_count: int
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    target_group_arn: str | None
    container_name: str
    container_port: int | None
    minimum_healthy_percent: int = 100
    maximum_percent: int = 200
    circuit_breaker: bool = True
    tags: dict[str, str] = field(default_factory=dict)
