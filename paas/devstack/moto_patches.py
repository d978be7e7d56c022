"""In-process fixes to moto (5.2.x) that the simulated data plane relies on.

Each patch closes a gap between moto and the real AWS API that the controller would
otherwise trip over. They are applied only by ``install()`` (called by the emulator), only
inside the emulator's own process, and never touch product code.

Gaps and what is done about them:

1. **CreateService drops ``deploymentConfiguration``** (moto never stores it) and
   **UpdateService neither starts a new deployment nor resolves the task definition to an
   ARN** (it stores whatever string was passed and claims runningCount == desiredCount
   at once). The ECS response handlers are wrapped so the simulated scheduler
   (``ecs_scheduler``) records the configuration and starts a PRIMARY deployment
   synchronously, inside the API call, as ECS does.
2. **ListTasks ignores ``serviceName``** (a TODO in moto) and **lists STOPPED tasks by
   default** (AWS defaults ``desiredStatus`` to RUNNING). Both are honoured here; tasks are
   matched to a service by ``group == "service:<name>"`` as ECS sets it.
3. **GetMetricData cannot compute percentiles**: moto returns None for ``Stat: "p99"``
   and the request fails with HTTP 500. Percentile stats ``pNN`` / ``pNN.N`` are computed here with the nearest-rank method over the raw values published with
   PutMetricData (``Values``/``Counts`` or ``Value``); pre-aggregated ``StatisticValues``
   carry no distribution and are ignored for percentiles. Real CloudWatch computes
   percentiles approximately from its own sketches; nearest-rank over raw samples is the
   closest honest equivalent. Still unsupported: GetMetricStatistics
   ``ExtendedStatistics`` (moto ignores it; use GetMetricData) and the other extended
   statistics (``tm99``, ``wm99``, ``TC(...)``, ...).
4. **DescribeTargetHealth reports every registered target ``healthy``**. A target dict
   carrying ``_paas_state`` (set only by the simulator, ``target_health``) reports that state
   instead (``healthy`` / ``unhealthy`` / ``draining`` / ``initial``) with AWS's reason codes
   and descriptions.
5. **CreateService / UpdateService drop ``healthCheckGracePeriodSeconds``**: it is stored on
   the service (DescribeServices shows it, 0 by default as on AWS) and the simulated
   scheduler honours it.
6. **RunTask tasks never run, StopTask is instant**: moto's tasks claim RUNNING at once,
   walk to STOPPED as they are described, never exit by themselves and carry no stopCode;
   StopTask answers an unknown task with HTTP 500. RunTask tasks are handed to the data
   plane (``standalone``), StopTask requests a stop with stopCode ``UserInitiated`` and an
   unknown task is ``InvalidParameterException`` "The referenced task was not found.".
7. **RunTask fails with HTTP 500 when a container definition has no ``memory``** (valid on
   Fargate, where memory is set for the task): moto adds None to an int. A missing value
   counts as 0 there.
8. **CloudFormation never fails a stack** (``cfn_failures``): a resource that fails makes
   moto's CreateStack/UpdateStack answer with the resource's error instead of the stack
   going CREATE_FAILED -> ROLLBACK_COMPLETE / UPDATE_ROLLBACK_COMPLETE with the reason in
   the stack events; moto's UpdateStack removes old resources before creating new ones, and
   its DeleteStack leaves TargetGroups and ListenerRules behind. All three follow AWS now.
9. **ELBv2 health-check settings outside AWS's ranges are stored** (e.g. a healthy threshold
   of 11 through CloudFormation, which skips botocore's client-side checks): CreateTargetGroup
   and ModifyTargetGroup refuse them with AWS's ValidationError ranges (interval 5-300,
   timeout 2-120, thresholds 2-10).
10. **EventBridge Scheduler accepts any expression and never fires**: CreateSchedule /
    UpdateSchedule refuse what AWS refuses (``schedules.validate_expression``:
    ``ValidationException``) and stamp creation with the simulation's clock; the data plane
    fires due schedules with ECS targets (``schedules``).
11. **GetMetricData buckets periods from the StartTime as given**: CloudWatch rounds it down
    first (less than 15 days ago: to the whole minute; 15-63 days: 5 minutes; older: the
    hour; periods of 5, 10, 20 or 30 s: to that division of the minute), so 60 s periods land
    on minute boundaries. Rounded here the same way, against the simulation's clock.
"""

from __future__ import annotations

import math
import re
import threading
from functools import wraps
from typing import Any, Callable

from paas import clock

# One lock for "moto's state": held by the emulator's WSGI middleware around every request
# and by the data plane around every tick. moto's backends are not thread-safe.
MOTO_LOCK = threading.RLock()

_installed = False
_install_lock = threading.Lock()
# The running data plane's profile lookup (set by DataPlane): RunTask needs it to start a task.
PROFILE_LOOKUP: list[Callable[[str | None], Any]] = []
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")


def install() -> None:
    """Apply all patches once per process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _patch_ecs_responses()
        _patch_ecs_list_tasks()
        _patch_ecs_run_and_stop_task()
        _patch_cloudwatch_percentiles()
        _patch_cloudwatch_start_rounding()
        _patch_target_health()
        _patch_target_group_ranges()
        _patch_scheduler()
        from . import cfn_failures

        cfn_failures.install()
        _installed = True


# ------------------------------------------------------------------------------ ECS


def _patch_ecs_responses() -> None:
    from moto.ecs.responses import EC2ContainerServiceResponse

    from . import ecs_scheduler

    original_create = EC2ContainerServiceResponse.create_service
    original_update = EC2ContainerServiceResponse.update_service

    @wraps(original_create)
    def create_service(self: Any) -> Any:
        result = original_create(self)
        service = result.result["service"]
        ecs_scheduler.adopt_service(
            self.ecs_backend,
            service,
            clock.time(),
            requested_configuration=self._get_param("deploymentConfiguration"),
            grace_period=self._get_param("healthCheckGracePeriodSeconds"),
        )
        return result

    @wraps(original_update)
    def update_service(self: Any) -> Any:
        backend = self.ecs_backend
        cluster = self._get_param("cluster", "default")
        name = (self._get_param("service") or "").split("/")[-1]
        before = None
        try:
            before = backend._get_service(cluster, name)
        except Exception:
            pass  # let moto raise its own error below
        now = clock.time()
        if before is not None:
            ecs_scheduler.adopt_service(backend, before, now)
            snapshot = dict(
                previous_deployments=[dict(d) for d in before.deployments],
                previous_task_definition=before.task_definition,
                previous_configuration=dict(getattr(before, "deployment_configuration", None) or {}),
            )
        result = original_update(self)
        service = result.result["service"]
        if before is not None:
            ecs_scheduler.on_service_updated(
                backend,
                service,
                requested_configuration=self._get_param("deploymentConfiguration"),
                force_new_deployment=bool(self._get_param("forceNewDeployment")),
                now=now,
                grace_period=self._get_param("healthCheckGracePeriodSeconds"),
                **snapshot,
            )
        return result

    EC2ContainerServiceResponse.create_service = create_service
    EC2ContainerServiceResponse.update_service = update_service


def _patch_ecs_list_tasks() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.list_tasks

    @wraps(original)
    def list_tasks(self: Any, cluster_str: Any = None, container_instance: Any = None, family: Any = None,
                   started_by: Any = None, service_name: Any = None, desiredStatus: Any = None) -> Any:
        tasks = original(self, cluster_str, container_instance, family, started_by, service_name,
                         desiredStatus or "RUNNING")
        if service_name:
            group = f"service:{str(service_name).split('/')[-1]}"
            tasks = [t for t in tasks if getattr(t, "group", None) == group]
        return tasks

    EC2ContainerServiceBackend.list_tasks = list_tasks


def _patch_ecs_run_and_stop_task() -> None:
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.responses import EC2ContainerServiceResponse

    from . import standalone, tasks

    from moto.ecs.models import EC2ContainerServiceBackend

    original_requirements = EC2ContainerServiceBackend._calculate_task_resource_requirements

    def _calculate_task_resource_requirements(task_definition: Any) -> Any:
        missing = [c for c in task_definition.container_definitions
                   if not any(c.get(k) is not None for k in ("memory", "memoryReservation", "Memory", "MemoryReservation"))]
        for c in missing:
            c["memoryReservation"] = 0
        try:
            return original_requirements(task_definition)
        finally:
            for c in missing:
                c.pop("memoryReservation", None)

    EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(_calculate_task_resource_requirements)
    original_run = EC2ContainerServiceResponse.run_task
    original_stop = EC2ContainerServiceResponse.stop_task

    @wraps(original_run)
    def run_task(self: Any) -> Any:
        result = original_run(self)
        lookup = PROFILE_LOOKUP[-1] if PROFILE_LOOKUP else None
        if lookup is not None:
            now = clock.time()
            for task in result.result["tasks"]:
                standalone.adopt(self.ecs_backend, task, now, lookup)
        return result

    @wraps(original_stop)
    def stop_task(self: Any) -> Any:
        cluster = self._get_param("cluster", "default")
        task = standalone.find_task(self.ecs_backend, cluster, self._get_param("task") or "")
        if task is None:
            raise InvalidParameterException("The referenced task was not found.")
        if getattr(task, "_paas_sim", None) is None:
            return original_stop(self)
        if task.desired_status != "STOPPED":
            tasks.request_stop(task, clock.time(), self._get_param("reason"))
        from moto.core.responses import ActionResult

        return ActionResult({"task": task})

    EC2ContainerServiceResponse.run_task = run_task
    EC2ContainerServiceResponse.stop_task = stop_task


# ----------------------------------------------------------------------- CloudWatch


def nearest_rank_percentile(values: list[float], pct: float) -> float | None:
    """The smallest value with at least ``pct`` % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _patch_cloudwatch_percentiles() -> None:
    from moto.cloudwatch import models as cw

    original = cw.Statistics.get_statistics_for_type

    @wraps(original)
    def get_statistics_for_type(self: Any, stat: str) -> Any:
        match = _PERCENTILE.match(stat or "")
        if match:
            return nearest_rank_percentile(self.metric_single_values_list, float(match.group(1)))
        return original(self, stat)

    cw.Statistics.get_statistics_for_type = get_statistics_for_type


def round_start_time(start: Any, periods: list[int], now: float) -> Any:
    """CloudWatch's rounding of a GetMetricData / GetMetricStatistics StartTime."""
    import datetime as dt

    epoch = start.replace(tzinfo=dt.timezone.utc).timestamp() if start.tzinfo is None else start.timestamp()
    smallest = min(periods) if periods else 60
    if smallest in (5, 10, 20, 30):
        step = smallest
    elif smallest < 60:
        step = 1
    else:
        age = now - epoch
        step = 60 if age < 15 * 86400 else 300 if age < 63 * 86400 else 3600
    rounded = math.floor(epoch / step) * step
    out = dt.datetime.fromtimestamp(rounded, dt.timezone.utc)
    return out if start.tzinfo is not None else out.replace(tzinfo=None)


def _patch_cloudwatch_start_rounding() -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    original = CloudWatchBackend.get_metric_data

    @wraps(original)
    def get_metric_data(self: Any, queries: list[dict[str, Any]], start_time: Any, end_time: Any, *args: Any,
                        **kwargs: Any) -> Any:
        periods = [int(q["MetricStat"]["Period"]) for q in queries if "MetricStat" in q]
        return original(self, queries, round_start_time(start_time, periods, clock.time()), end_time, *args, **kwargs)

    CloudWatchBackend.get_metric_data = get_metric_data


# ----------------------------------------------------------------------------- ELBv2

_TARGET_STATES = {
    "healthy": (None, None),
    "initial": ("Elb.RegistrationInProgress", "Target registration is in progress"),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
}


def _patch_target_health() -> None:
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

    original = FakeTargetGroup.health_for

    @wraps(original)
    def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        t = self.targets.get(target["Id"])
        if t is not None and "_paas_state" in t:
            state = t["_paas_state"]
            reason, description = _TARGET_STATES.get(state, (None, None))
            if "_paas_reason" in t:
                reason, description = t["_paas_reason"], t.get("_paas_description")
            return FakeHealthStatus(t["Id"], t["Port"], self.health_check_port, state, reason, description)
        return original(self, target, ec2_backend)

    FakeTargetGroup.health_for = health_for


# AWS's documented ranges for target-group health checks (ALB): botocore checks only the
# minimums client-side, and CloudFormation templates skip botocore entirely.
_HEALTH_CHECK_RANGES = {
    "healthcheck_interval_seconds": ("HealthCheckIntervalSeconds", 5, 300),
    "healthcheck_timeout_seconds": ("HealthCheckTimeoutSeconds", 2, 120),
    "healthy_threshold_count": ("HealthyThresholdCount", 2, 10),
    "unhealthy_threshold_count": ("UnhealthyThresholdCount", 2, 10),
}


def _check_health_ranges(values: dict[str, Any]) -> None:
    from moto.elbv2.exceptions import ValidationError

    for key, (api_name, low, high) in _HEALTH_CHECK_RANGES.items():
        value = values.get(key)
        if value is None:
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationError(f"{api_name} must be an integer, got '{value}'") from None
        if not low <= number <= high:
            raise ValidationError(f"{api_name} must be between {low} and {high}, got {number}")


def _patch_target_group_ranges() -> None:
    from moto.elbv2.models import ELBv2Backend

    original_create = ELBv2Backend.create_target_group
    original_modify = ELBv2Backend.modify_target_group

    @wraps(original_create)
    def create_target_group(self: Any, name: str, **kwargs: Any) -> Any:
        _check_health_ranges(kwargs)
        return original_create(self, name, **kwargs)

    @wraps(original_modify)
    def modify_target_group(self: Any, arn: str, health_check_proto: Any = None, health_check_port: Any = None,
                            health_check_path: Any = None, health_check_interval: Any = None,
                            health_check_timeout: Any = None, healthy_threshold_count: Any = None,
                            unhealthy_threshold_count: Any = None, http_codes: Any = None,
                            health_check_enabled: Any = None) -> Any:
        _check_health_ranges({
            "healthcheck_interval_seconds": health_check_interval,
            "healthcheck_timeout_seconds": health_check_timeout,
            "healthy_threshold_count": healthy_threshold_count,
            "unhealthy_threshold_count": unhealthy_threshold_count,
        })
        return original_modify(self, arn, health_check_proto, health_check_port, health_check_path,
                               health_check_interval, health_check_timeout, healthy_threshold_count,
                               unhealthy_threshold_count, http_codes, health_check_enabled=health_check_enabled)

    ELBv2Backend.create_target_group = create_target_group
    ELBv2Backend.modify_target_group = modify_target_group


def _patch_scheduler() -> None:
    from moto.scheduler.exceptions import ValidationException
    from moto.scheduler.models import EventBridgeSchedulerBackend

    from .schedules import validate_expression

    original_create = EventBridgeSchedulerBackend.create_schedule
    original_update = EventBridgeSchedulerBackend.update_schedule

    def _check(kwargs: dict[str, Any]) -> None:
        try:
            validate_expression(kwargs.get("schedule_expression") or "", kwargs.get("schedule_expression_timezone"))
        except ValueError as exc:
            raise ValidationException(str(exc)) from None

    @wraps(original_create)
    def create_schedule(self: Any, **kwargs: Any) -> Any:
        _check(kwargs)
        schedule = original_create(self, **kwargs)
        schedule.creation_date = schedule.last_modified_date = clock.time()
        return schedule

    @wraps(original_update)
    def update_schedule(self: Any, **kwargs: Any) -> Any:
        _check(kwargs)
        schedule = original_update(self, **kwargs)
        schedule.last_modified_date = clock.time()
        return schedule

    EventBridgeSchedulerBackend.create_schedule = create_schedule
    EventBridgeSchedulerBackend.update_schedule = update_schedule
