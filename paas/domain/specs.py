"""What the controller asks AWS for, as plain data (built by the planner, sent by the driver).

The names of AWS resources are defined in paas/domain/names.py (re-exported here for callers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paas.domain.names import COLOURS, family, service_name, stack_name

__all__ = ["COLOURS", "family", "service_name", "stack_name", "other", "ProcessInfra", "StackSpec",
           "TaskDefSpec", "ServiceSpec", "TaskRunSpec", "ScheduleSpec"]


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


@dataclass(frozen=True)
class TaskRunSpec:
    """One RunTask: a task of a release's task definition with its command overridden (one-off
    tasks, the release phase), in the environment's subnets and security groups."""

    cluster: str
    task_definition: str  # ARN
    container_name: str
    command: tuple[str, ...]
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    started_by: str  # names.release_started_by / run_started_by: how a retry finds the task again
    assign_public_ip: bool = False
    cpu: int | None = None  # task-level overrides (Fargate pair); None: the task definition's
    memory: int | None = None
    tags: dict[str, str] = field(default_factory=dict)  # paas:app/env/process/release (owner tags)


@dataclass(frozen=True)
class ScheduleSpec:
    """One job's EventBridge Scheduler schedule: RunTask of a release's task definition with the
    job's command (and size) as the target's Input, on the job's expression (UTC)."""

    group: str
    name: str
    expression: str
    cluster_arn: str
    role_arn: str  # the stack's SchedulerRole, which Scheduler assumes to call RunTask
    task_definition: str
    container_name: str
    command: tuple[str, ...]
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    task_group: str  # names.job_task_group: tells the job's tasks from the service's
    assign_public_ip: bool = False
    cpu: int | None = None
    memory: int | None = None
    owner: dict[str, str] = field(default_factory=dict)  # paas:app/env: the group's tags

    def overrides(self) -> dict:
        """RunTask ``overrides`` the schedule passes as its target's Input."""
        out: dict = {"containerOverrides": [{"name": self.container_name, "command": list(self.command)}]}
        if self.cpu is not None:
            out["cpu"] = str(self.cpu)
        if self.memory is not None:
            out["memory"] = str(self.memory)
        return out
