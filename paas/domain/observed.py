"""What the driver saw in AWS, as plain data the planner reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from paas.domain.specs import ProcessInfra


@dataclass(frozen=True)
class StackState:
    name: str
    status: str  # CloudFormation StackStatus, e.g. CREATE_COMPLETE, UPDATE_IN_PROGRESS
    template_hash: str | None  # from the stack's `paas:template` tag
    reason: str | None = None
    infra: dict[str, ProcessInfra] = field(default_factory=dict)  # per web process
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def in_progress(self) -> bool:
        return self.status.endswith("_IN_PROGRESS")

    @property
    def usable(self) -> bool:
        return self.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
                               "IMPORT_COMPLETE")


@dataclass(frozen=True)
class ServiceDeployment:
    status: str  # PRIMARY | ACTIVE
    task_definition: str
    desired: int
    running: int
    pending: int
    failed_tasks: int
    rollout_state: str | None  # IN_PROGRESS | COMPLETED | FAILED
    rollout_reason: str | None = None


@dataclass(frozen=True)
class ServiceState:
    name: str
    status: str  # ACTIVE | DRAINING | INACTIVE
    task_definition: str
    desired: int
    running: int
    pending: int
    deployments: tuple[ServiceDeployment, ...] = ()
    target_group_arn: str | None = None
    release: int | None = None  # from the task definition's paas:release tag, when known
    events: tuple[str, ...] = ()

    @property
    def primary(self) -> ServiceDeployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)

    @property
    def rollout_state(self) -> str | None:
        p = self.primary
        return p.rollout_state if p else None

    @property
    def steady(self) -> bool:
        """One deployment, COMPLETED (or no rollout state reported), running = desired."""
        p = self.primary
        return (
            self.status == "ACTIVE"
            and len(self.deployments) <= 1
            and (p is None or p.rollout_state in (None, "COMPLETED"))
            and self.running == self.desired
            and self.pending == 0
        )


@dataclass(frozen=True)
class TargetHealth:
    healthy: int
    unhealthy: int
    total: int


@dataclass(frozen=True)
class MetricWindow:
    """ALB metrics for one target group over [start, end]."""

    requests: float
    errors_5xx: float
    p99_ms: float | None  # the worst per-period p99 in the window
    datapoints: int
    start: float  # epoch seconds
    end: float
    last_datapoint: float | None = None  # epoch seconds of the newest datapoint

    @property
    def error_rate(self) -> float | None:
        return self.errors_5xx / self.requests if self.requests else None


@dataclass(frozen=True)
class ListenerRuleState:
    """A rule on the environment's listener, as DescribeRules reports it."""

    arn: str
    priority: int | None  # None: the listener's default action
    hosts: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskState:
    """An ECS task as DescribeTasks reports it, plus the last lines its container logged (read
    only for a task that stopped and is worth explaining)."""

    arn: str
    task_definition: str
    last_status: str  # PROVISIONING | PENDING | RUNNING | DEPROVISIONING | STOPPED ...
    desired_status: str
    group: str | None = None
    started_by: str | None = None
    container: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_code: str | None = None  # EssentialContainerExited | TaskFailedToStart | UserInitiated | ...
    stopped_reason: str | None = None
    exit_code: int | None = None  # the essential container's
    container_reason: str | None = None
    log_tail: tuple[str, ...] = ()

    @property
    def stopped(self) -> bool:
        return self.last_status == "STOPPED"

    @property
    def failed(self) -> bool:
        """Stopped for a reason other than being told to (scale-in, StopTask, a deployment)."""
        if not self.stopped:
            return False
        if self.stop_code in ("EssentialContainerExited", "TaskFailedToStart"):
            return self.stop_code == "TaskFailedToStart" or self.exit_code not in (0, None)
        return "health check" in (self.stopped_reason or "").lower()

    def why(self) -> str:
        """One line: the stopped reason, exit code and container reason, as known."""
        parts = [self.stopped_reason or self.stop_code or "stopped"]
        if self.exit_code is not None:
            parts.append(f"exit code {self.exit_code}")
        if self.container_reason:
            parts.append(self.container_reason)
        return "; ".join(parts)


@dataclass(frozen=True)
class ScheduleState:
    """A job's EventBridge Scheduler schedule as GetSchedule reports it (the fields paas sets)."""

    name: str
    group: str
    expression: str
    state: str  # ENABLED | DISABLED
    cluster_arn: str | None = None
    role_arn: str | None = None
    task_definition: str | None = None
    input: dict | None = None  # the target's Input, parsed
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = False
    task_group: str | None = None


@dataclass(frozen=True)
class Observed:
    stack: StackState | None
    services: dict[str, ServiceState]  # by service name; absent = does not exist
    targets: dict[str, TargetHealth]  # by target group ARN
    weights: dict[str, dict[str, int]]  # rule ARN → {target group ARN: weight}
    task_definitions: dict[str, str]  # "family:release" → task definition ARN, when registered
    at: datetime
    metrics: dict[str, "MetricWindow"] = field(default_factory=dict)  # by target group ARN
    registered: dict[str, list[str]] | None = None  # family → ACTIVE revisions, listed only when GC is due
    listener_rules: tuple[ListenerRuleState, ...] | None = None  # read only when a priority must be allocated
    # tasks (paas/reconciler/task_watch.py): read only when something needs them
    tasks: dict[str, TaskState] = field(default_factory=dict)  # runs not yet recorded as stopped, by ARN
    stopped_tasks: tuple[TaskState, ...] = ()  # failed tasks of the deployment in flight, not yet recorded
    schedules: dict[str, ScheduleState] | None = None  # the app's job schedules by name; None: not read
    schedule_group: bool | None = None  # whether the app's schedule group exists; None: not read
    job_tasks: tuple[TaskState, ...] = ()  # tasks scheduled jobs started, newly seen or newly stopped
