"""`BotoDriver`: the `Driver` protocol (paas/aws/driver.py) against the real AWS APIs.

One object per caller, composed of one part per AWS service that share one `Api` (the cached
clients of `paas.aws.session` plus this driver's call counter):

=====================  ====================================================
cloudformation.py      the infrastructure stack
ecs_task_definitions   task definitions by ``paas:release`` tag
ecs_services.py        services (batches of 10), tasks (batches of 100)
elbv2.py               target health, listener-rule weights
cloudwatch.py          ALB metrics (batches of 500)
ecs_tasks.py           one-off tasks: RunTask by startedBy, DescribeTasks (100), StopTask
logs.py                task logs: FilterLogEvents (paged), GetLogEvents
scheduler.py           job schedules and their owner-tagged group
secrets.py             secret values
parameters.py          SSM SecureStrings (webhook URLs, signing secrets)
ecr.py                 image digests
push_events.py         ECR push events: EventBridge rule → SQS queue, DescribeImages
=====================  ====================================================

Each module's docstring lists the AWS limits it keeps and the emulator gaps it works around.
Every call goes through `Api.call` (paas/aws/api.py): counted, and errors mapped to
`TransientError` / `PermanentError`. Around them: ownership.py (no change to a resource whose
``paas:*`` tags name another owner), guard.py (no request once a worker's lease may have
expired), redact.py (no secret in a log), iam.py (the policy these calls need).
"""

from __future__ import annotations

from paas.aws.api import Api
from paas.aws.cloudformation import CloudFormation, capabilities, cfn_token, parse_infra
from paas.aws.cloudwatch import CloudWatch
from paas.aws.driver import Call, LogEvent, MetricQuery, Owner
from paas.aws.ecr import Ecr
from paas.aws.ecs_services import Services, ecs_client_token
from paas.aws.ecs_task_definitions import TaskDefinitions
from paas.aws.ecs_tasks import Tasks
from paas.aws.logs import Logs
from paas.aws.parameters import Parameters
from paas.aws.push_events import ImageInfo, PushEvents, PushMessage
from paas.aws.scheduler import Scheduler
from paas.aws.elbv2 import Elbv2
from paas.aws.secrets import Secrets
from paas.aws.session import AwsClients
from paas.domain.observed import ListenerRuleState, ScheduleState, ServiceState, StackState, TargetHealth, TaskState
from paas.domain.specs import ScheduleSpec, ServiceSpec, StackSpec, TaskDefSpec, TaskRunSpec

__all__ = ["BotoDriver", "capabilities", "cfn_token", "ecs_client_token", "parse_infra"]


class BotoDriver:
    """The boto3 implementation of `paas.aws.driver.Driver` (plus `describe_tasks`,
    `delete_stack`)."""

    def __init__(self, clients: AwsClients, *, cfn_role_arn: str | None = None) -> None:
        self.clients = clients
        self.region = clients.region
        self.api = Api(clients)
        self.cloudformation = CloudFormation(self.api, cfn_role_arn)
        self.task_definitions = TaskDefinitions(self.api)
        self.services = Services(self.api, self.task_definitions)
        self.elbv2 = Elbv2(self.api, self.cloudformation)
        self.cloudwatch = CloudWatch(self.api)
        self.secrets = Secrets(self.api)
        self.ecr = Ecr(self.api)
        self.tasks = Tasks(self.api)
        self.logs = Logs(self.api)
        self.scheduler = Scheduler(self.api)
        self.parameters = Parameters(self.api)
        self.push_events = PushEvents(self.api)

    # accounting
    def call_counts(self) -> dict[str, int]:
        return self.api.counter.calls()

    def throttle_counts(self) -> dict[str, int]:
        return self.api.counter.throttles()

    def stale_refusals(self) -> dict[str, int]:
        return self.api.counter.refusals()

    # CloudFormation
    def describe_stack(self, name: str) -> StackState | None:
        return self.cloudformation.describe_stack(name)

    def apply_stack(self, spec: StackSpec, token: str) -> Call:
        return self.cloudformation.apply_stack(spec, token)

    def continue_update_rollback(self, name: str, token: str, *, owner: Owner | None = None) -> Call:
        return self.cloudformation.continue_update_rollback(name, token, owner=owner)

    def delete_stack(self, name: str, token: str, *, owner: Owner | None = None) -> Call:
        return self.cloudformation.delete_stack(name, token, owner=owner)

    # ECS task definitions
    def find_task_definition(self, family: str, release: int) -> str | None:
        return self.task_definitions.find_task_definition(family, release)

    def register_task_definition(self, spec: TaskDefSpec) -> Call:
        return self.task_definitions.register_task_definition(spec)

    def deregister_task_definition(self, arn: str, *, owner: Owner | None = None) -> Call:
        return self.task_definitions.deregister_task_definition(arn, owner=owner)

    def list_task_definitions(self, family: str) -> list[str]:
        return self.task_definitions.list_task_definitions(family)

    # ECS services
    def describe_services(self, cluster: str, names: list[str], *,
                          releases: bool = False) -> dict[str, ServiceState]:
        return self.services.describe_services(cluster, names, releases=releases)

    def list_services(self, cluster: str) -> list[str]:
        return self.services.list_services(cluster)

    def create_service(self, spec: ServiceSpec, token: str) -> Call:
        return self.services.create_service(spec, token)

    def update_service(self, spec: ServiceSpec) -> Call:
        return self.services.update_service(spec)

    def scale_service(self, cluster: str, name: str, desired: int, *,
                      owner: Owner | None = None) -> Call:
        return self.services.scale_service(cluster, name, desired, owner=owner)

    def describe_tasks(self, cluster: str, task_arns: list[str]) -> list[dict]:
        return self.services.describe_tasks(cluster, task_arns)

    # ECS tasks
    def run_task(self, spec: TaskRunSpec, client_token: str) -> Call:
        return self.tasks.run_task(spec, client_token)

    def task_states(self, cluster: str, task_arns: list[str]) -> dict[str, TaskState]:
        return self.tasks.task_states(cluster, task_arns)

    def list_tasks(self, cluster: str, *, family: str | None = None, service: str | None = None,
                   started_by: str | None = None, status: str = "RUNNING") -> list[str]:
        return self.tasks.list_tasks(cluster, family=family, service=service, started_by=started_by, status=status)

    def stop_task(self, cluster: str, task_arn: str, reason: str, *, owner: Owner | None = None) -> Call:
        return self.tasks.stop_task(cluster, task_arn, reason, owner=owner)

    # CloudWatch Logs
    def log_events(self, group: str, *, streams: list[str] | None = None, prefix: str | None = None,
                   start_ms: int | None = None, end_ms: int | None = None,
                   max_events: int = 100_000) -> list[LogEvent]:
        return self.logs.filter_events(group, streams=streams, prefix=prefix, start_ms=start_ms, end_ms=end_ms,
                                       max_events=max_events)

    def log_tail(self, group: str, stream: str, lines: int = 10) -> list[str]:
        return self.logs.tail(group, stream, lines)

    # EventBridge Scheduler
    def schedule_group_exists(self, name: str) -> bool:
        return self.scheduler.group_exists(name)

    def ensure_schedule_group(self, name: str, owner: Owner) -> Call:
        return self.scheduler.ensure_group(name, owner)

    def schedules(self, group: str) -> dict[str, ScheduleState]:
        return self.scheduler.schedules(group)

    def put_schedule(self, spec: ScheduleSpec, *, create: bool, token: str) -> Call:
        return self.scheduler.put_schedule(spec, create=create, token=token)

    def delete_schedule(self, group: str, name: str, *, owner: Owner | None, token: str) -> Call:
        return self.scheduler.delete_schedule(group, name, owner=owner, token=token)

    # ELBv2
    def target_health(self, target_group_arns: list[str]) -> dict[str, TargetHealth]:
        return self.elbv2.target_health(target_group_arns)

    def rule_weights(self, rule_arns: list[str]) -> dict[str, dict[str, int]]:
        return self.elbv2.rule_weights(rule_arns)

    def listener_rules(self, listener_arn: str) -> list[ListenerRuleState]:
        return self.elbv2.listener_rules(listener_arn)

    def set_weights(self, rule_arn: str, weights: dict[str, int], *,
                    owner: Owner | None = None) -> Call:
        return self.elbv2.set_weights(rule_arn, weights, owner=owner)

    # CloudWatch
    def metric_data(self, queries: list[MetricQuery], start: float,
                    end: float) -> dict[str, list[tuple[float, float]]]:
        return self.cloudwatch.metric_data(queries, start, end)

    # secrets, ECR
    def put_secret(self, name: str, value: str, *, token: str | None = None,
                   tags: Owner | None = None) -> tuple[str, str]:
        return self.secrets.put_secret(name, value, token=token, tags=tags)

    def resolve_digest(self, image: str) -> str | None:
        return self.ecr.resolve_digest(image)

    # SSM Parameter Store
    def put_parameter(self, name: str, value: str, *, overwrite: bool = False) -> int:
        return self.parameters.put_secure(name, value, overwrite=overwrite)

    def get_parameter(self, name: str) -> str:
        return self.parameters.get_secure(name)

    def delete_parameters(self, names: list[str]) -> None:
        self.parameters.delete(names)
    # pipeline: ECR push events (EventBridge → SQS) and the repository resync
    def ensure_push_route(self) -> str:
        return self.push_events.ensure_route()

    def receive_pushes(self, queue_url: str, wait_seconds: float) -> list[PushMessage]:
        return self.push_events.receive(queue_url, wait_seconds)

    def delete_push_message(self, queue_url: str, receipt: str) -> None:
        self.push_events.delete(queue_url, receipt)

    def retry_push_message(self, queue_url: str, receipt: str, seconds: int) -> None:
        self.push_events.retry_later(queue_url, receipt, seconds)

    def repository_uri(self, repository: str) -> str | None:
        return self.push_events.repository_uri(repository)

    def repository_images(self, repository: str) -> list[ImageInfo]:
        return self.push_events.images(repository)
