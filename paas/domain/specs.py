"""What the controller asks AWS for, as plain data (built by the planner, sent by the driver).

The names of AWS resources are defined in paas/domain/names.py (re-exported here for callers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paas.domain.names import COLOURS, family, service_name, stack_name

__all__ = ["COLOURS", "family", "service_name", "stack_name", "other", "ProcessInfra", "StackSpec",
           "TaskDefSpec", "ServiceSpec"]


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
    # healthCheckGracePeriodSeconds: how long ECS ignores failing ELB health checks of a new task.
    # Set for services behind a target group (ECS's default of 0 kills slow starters); None:
    # not sent (services without a load balancer).
    health_check_grace_period: int | None = None
    # awsvpcConfiguration.assignPublicIp: ENABLED for tasks in public subnets without a NAT
    # gateway (they need a public IP to pull images and reach CloudWatch Logs and SSM).
    assign_public_ip: bool = False
