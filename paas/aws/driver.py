"""The narrow interface the reconciler drives AWS through.

Every call either returns, or raises `TransientError` (throttling, 5xx, timeouts, a stack
still moving: retry with backoff) or `PermanentError` (access denied, a request AWS rejects,
a missing cluster: record and stop), always with AWS's message and request id. Mutating calls
return a `Call` so the reconciler can record the request id in the deployment's events.
Inside ``with paas.aws.guard.lease(deadline)`` any call may also raise `LeaseLost`: the
deadline passed, and the request was not sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from paas.domain.observed import ListenerRuleState, ScheduleState, ServiceState, StackState, TargetHealth, TaskState
from paas.domain.specs import ScheduleSpec, ServiceSpec, StackSpec, TaskDefSpec, TaskRunSpec


# ``{"paas:app": ..., "paas:env": ..., "paas:process": ...}``: who asks for a change. Specs carry
# it in their tags; calls without a spec take it as ``owner=`` (paas/aws/ownership.py).
Owner = Mapping[str, str]


@dataclass(frozen=True)
class Call:
    operation: str
    request_id: str | None
    result: dict = field(default_factory=dict)
    # what the response itself says about the resource afterwards (UpdateService returns the
    # service), so the reconciler need not describe it again; None when the response says nothing
    observed: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class MetricQuery:
    """One GetMetricData query: an ALB metric for one target group."""

    id: str
    metric: str  # RequestCount | HTTPCode_Target_5XX_Count | TargetResponseTime
    target_group_arn: str
    load_balancer_arn: str
    stat: str  # Sum | p99
    period: int


@dataclass(frozen=True)
class LogEvent:
    """One CloudWatch Logs event of a task's stream."""

    timestamp: int  # epoch milliseconds
    message: str
    stream: str
    event_id: str


class Driver(Protocol):
    # CloudFormation: the infrastructure stack
    def describe_stack(self, name: str) -> StackState | None: ...
    def apply_stack(self, spec: StackSpec, token: str) -> Call:
        """Create, or update when the template hash differs; 'No updates' is success.
        An existing stack whose paas:app/paas:env tags name another owner (or none) is refused
        with `OwnershipConflict` (a PermanentError); so are the calls below, for specs' tags or
        the `owner` given."""
    def continue_update_rollback(self, name: str, token: str, *, owner: Owner | None = None) -> Call: ...

    # ECS
    def find_task_definition(self, family: str, release: int) -> str | None:
        """The ARN already registered for this release (idempotent registration), if any."""
    def register_task_definition(self, spec: TaskDefSpec) -> Call: ...
    def deregister_task_definition(self, arn: str, *, owner: Owner | None = None) -> Call: ...
    def list_task_definitions(self, family: str) -> list[str]: ...
    def describe_services(self, cluster: str, names: list[str], *, releases: bool = False) -> dict[str, ServiceState]:
        """Batches of 10 (AWS's limit); missing services are absent from the result.

        `releases=True` also reads each task definition's `paas:release` tag (one call per ARN
        not seen before by this process)."""
    def list_services(self, cluster: str) -> list[str]: ...
    def create_service(self, spec: ServiceSpec, token: str) -> Call: ...
    def update_service(self, spec: ServiceSpec) -> Call: ...
    def scale_service(self, cluster: str, name: str, desired: int, *, owner: Owner | None = None) -> Call: ...

    # ECS tasks (paas/aws/ecs_tasks.py)
    def run_task(self, spec: TaskRunSpec, client_token: str) -> Call:
        """The task an earlier attempt with the spec's ``startedBy`` started, else RunTask;
        ``result["task_arn"]``."""
    def task_states(self, cluster: str, task_arns: list[str]) -> dict[str, TaskState]:
        """DescribeTasks ≤ 100 a call; a task ECS no longer knows has status ``MISSING``."""
    def list_tasks(self, cluster: str, *, family: str | None = None, service: str | None = None,
                   started_by: str | None = None, status: str = "RUNNING") -> list[str]: ...
    def stop_task(self, cluster: str, task_arn: str, reason: str, *, owner: Owner | None = None) -> Call: ...

    # CloudWatch Logs (paas/aws/logs.py)
    def log_events(self, group: str, *, streams: list[str] | None = None, prefix: str | None = None,
                   start_ms: int | None = None, end_ms: int | None = None,
                   max_events: int = 100_000) -> list[LogEvent]:
        """FilterLogEvents, every page, oldest first; [] when the group does not exist."""
    def log_tail(self, group: str, stream: str, lines: int = 10) -> list[str]: ...

    # EventBridge Scheduler (paas/aws/scheduler.py)
    def schedule_group_exists(self, name: str) -> bool: ...
    def ensure_schedule_group(self, name: str, owner: Owner) -> Call: ...
    def schedules(self, group: str) -> dict[str, ScheduleState]: ...
    def put_schedule(self, spec: ScheduleSpec, *, create: bool, token: str) -> Call: ...
    def delete_schedule(self, group: str, name: str, *, owner: Owner | None, token: str) -> Call: ...

    # ELBv2
    def target_health(self, target_group_arns: list[str]) -> dict[str, TargetHealth]: ...
    def rule_weights(self, rule_arns: list[str]) -> dict[str, dict[str, int]]: ...
    def listener_rules(self, listener_arn: str) -> list[ListenerRuleState]:
        """Every rule on the listener: priorities and host/path conditions (DescribeRules, paged)."""
    def set_weights(self, rule_arn: str, weights: dict[str, int], *, owner: Owner | None = None) -> Call:
        """One ModifyRule call: the atomic traffic shift (after an owner check when `owner`
        is given: the rule's tags, or the owner's stack naming it in its outputs)."""

    # CloudWatch
    def metric_data(self, queries: list[MetricQuery], start: float, end: float) -> dict[str, list[tuple[float, float]]]:
        """GetMetricData in batches of 500 queries; id → [(timestamp, value)] oldest first."""

    # Secrets Manager / ECR
    def put_secret(self, name: str, value: str, *, token: str | None = None,
                   tags: Mapping[str, str] | None = None) -> tuple[str, str]:
        """A new version of Secrets Manager secret `name` (created on first use); returns
        (secret ARN, version id), which a task definition pins (paas/aws/secrets.py). The value
        is never logged; values over `paas.domain.limits.SECRET_VALUE_MAX_BYTES` raise UserError."""
    def resolve_digest(self, image: str) -> str | None:
        """sha256 digest when the image lives in an ECR repository of this account."""

    # SSM Parameter Store (paas/aws/parameters.py): webhook URLs and signing secrets
    def put_parameter(self, name: str, value: str, *, overwrite: bool = False) -> int:
        """SecureString `name` = `value` (never logged); returns its version."""
    def get_parameter(self, name: str) -> str:
        """The decrypted value of SecureString `name` (PermanentError when it does not exist)."""
    def delete_parameters(self, names: list[str]) -> None: ...
    # pipeline (paas/aws/push_events.py)
    def ensure_push_route(self) -> str:
        """The push queue and the EventBridge rule feeding it (idempotent); the queue's URL."""
    def receive_pushes(self, queue_url: str, wait_seconds: float) -> list[Any]: ...
    def delete_push_message(self, queue_url: str, receipt: str) -> None: ...
    def retry_push_message(self, queue_url: str, receipt: str, seconds: int) -> None:
        """Make a message that could not be recorded visible again after `seconds`."""
    def repository_uri(self, repository: str) -> str | None:
        """None when the repository does not exist."""
    def repository_images(self, repository: str) -> list[Any]: ...

    # accounting
    def call_counts(self) -> dict[str, int]: ...
    def throttle_counts(self) -> dict[str, int]:
        """Throttling responses by operation (including ones botocore retried)."""
    def stale_refusals(self) -> dict[str, int]:
        """Requests the send guard refused by operation: the lease may have expired
        (paas/aws/guard.py); each raised `LeaseLost` and never left the process."""
