"""ECS service deployments as the simulated scheduler records them on moto's services.

moto stores a service's ``deployments`` but never starts one on UpdateService and drops
``deploymentConfiguration`` and ``healthCheckGracePeriodSeconds`` (see ``moto_patches``).
Here a CreateService / UpdateService that changes the task definition (or forces a new
deployment) starts a PRIMARY deployment (rolloutState IN_PROGRESS) synchronously, inside the
API call as ECS does; the previous PRIMARY becomes ACTIVE.

Circuit breaker threshold (``DeploymentCircuitBreaker.thresholdConfiguration``, AWS's
default ``BOUNDED_PERCENT`` 50): ``min(200, max(3, ceil(value% x desired)))``; ``COUNT``:
the value itself; ``UNBOUNDED_PERCENT``: ``ceil(value% x desired)`` (at least 1). With
``resetOnHealthyTask`` (default true) a task of the deployment that becomes healthy resets
the failure count to 0, so a release where only some tasks fail may never trip it.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from moto.ecs.models import EC2ContainerServiceBackend, Service
from moto.moto_api._internal import mock_random

from .tasks import ts

DEFAULT_DEPLOYMENT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}
MAX_EVENTS = 100


@dataclass
class SimService:
    """Simulation state attached to a moto ``Service`` as ``service._paas_sim``."""

    uid: str
    last_completed: dict[str, Any] | None = None  # snapshot of the last COMPLETED deployment
    steady_since: float | None = None


def sim_of(service: Service) -> SimService | None:
    return getattr(service, "_paas_sim", None)


def circuit_breaker_threshold(desired_count: int, breaker: dict[str, Any] | None = None) -> int:
    """Failures that trip the breaker (AWS default: 0.5 x desired, at least 3, at most 200)."""
    tc = (breaker or {}).get("thresholdConfiguration") or {}
    kind = tc.get("type") or "BOUNDED_PERCENT"
    value = int(tc.get("value", 50))
    if kind == "COUNT":
        return max(1, value)
    raw = math.ceil(value / 100 * desired_count)
    if kind == "UNBOUNDED_PERCENT":
        return max(1, raw)
    return min(200, max(3, raw))


def resets_on_healthy_task(breaker: dict[str, Any]) -> bool:
    value = breaker.get("resetOnHealthyTask")
    return True if value is None else bool(value)


def normalize_configuration(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """Fill ECS's defaults (200 % / 100 %, circuit breaker off) into a deploymentConfiguration."""
    cfg = cfg or {}
    merged = {**DEFAULT_DEPLOYMENT_CONFIGURATION, **cfg}
    cb = {**DEFAULT_DEPLOYMENT_CONFIGURATION["deploymentCircuitBreaker"], **(cfg.get("deploymentCircuitBreaker") or {})}
    merged["deploymentCircuitBreaker"] = cb
    return merged


def deployment_configuration(service: Service) -> dict[str, Any]:
    return normalize_configuration(getattr(service, "deployment_configuration", None))


def add_event(service: Service, message: str, now: float) -> None:
    """Prepend an ECS-style service event (newest first, like DescribeServices)."""
    events = list(getattr(service, "events", None) or [])
    events.insert(0, {"id": str(uuid.uuid4()), "createdAt": ts(now), "message": message})
    service.events = events[:MAX_EVENTS]


def make_deployment(service: Service, task_definition: str | None, now: float, desired: int) -> dict[str, Any]:
    dep_id = f"ecs-svc/{mock_random.randint(10**18, 10**19 - 1)}"
    return {
        "id": dep_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "desiredCount": desired,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": ts(now),
        "updatedAt": ts(now),
        "launchType": service.launch_type,
        "platformVersion": service.platform_version,
        "platformFamily": "EC2" if service.launch_type == "EC2" else "FARGATE",
        "networkConfiguration": service.network_configuration or None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {dep_id} in progress.",
    }


def resolve_task_definition(ecs: EC2ContainerServiceBackend, ref: str | None) -> str | None:
    if not ref:
        return ref
    try:
        return ecs.describe_task_definition(ref).arn
    except Exception:  # unknown reference: leave what the caller gave
        return ref


def adopt_service(
    ecs: EC2ContainerServiceBackend,
    service: Service,
    now: float,
    requested_configuration: dict[str, Any] | None = None,
    grace_period: int | None = None,
) -> SimService | None:
    """Take a moto service under simulation (idempotent).

    moto creates one PRIMARY deployment that claims ``runningCount == desiredCount`` only
    if ``MOTO_ECS_SERVICE_RUNNING`` is set and otherwise never moves; replace it with an
    honest IN_PROGRESS deployment with no tasks yet.
    """
    state = sim_of(service)
    if state is not None:
        return state
    if (service.deployment_controller or {}).get("type", "ECS") != "ECS":
        return None
    state = SimService(uid=str(uuid.uuid4()))
    service._paas_sim = state
    base = getattr(service, "deployment_configuration", None) or {}
    service.deployment_configuration = normalize_configuration({**base, **(requested_configuration or {})})
    if grace_period is not None:
        service.health_check_grace_period_seconds = int(grace_period)
    elif getattr(service, "health_check_grace_period_seconds", None) is None:
        service.health_check_grace_period_seconds = 0  # AWS's default
    service.task_definition = resolve_task_definition(ecs, service.task_definition)
    if not getattr(service, "created_at", None):
        service.created_at = ts(now)
    service.deployments = [make_deployment(service, service.task_definition, now, service.desired_count)]
    service.running_count = 0
    service.pending_count = 0
    return state


def start_deployment(service: Service, now: float, task_definition: str | None) -> dict[str, Any]:
    """New PRIMARY deployment; the old PRIMARY (and any other) becomes ACTIVE."""
    state = sim_of(service)
    assert state is not None
    old = []
    for d in service.deployments:
        d = dict(d)
        if d["status"] == "PRIMARY":
            d["status"] = "ACTIVE"
            d["updatedAt"] = ts(now)
        old.append(d)
    new = make_deployment(service, task_definition, now, service.desired_count)
    service.task_definition = task_definition
    service.deployments = [new, *old]
    state.steady_since = None
    return new


def on_service_updated(
    ecs: EC2ContainerServiceBackend,
    service: Service,
    *,
    previous_deployments: list[dict[str, Any]],
    previous_task_definition: str | None,
    previous_configuration: dict[str, Any] | None,
    requested_configuration: dict[str, Any] | None,
    force_new_deployment: bool,
    now: float,
    grace_period: int | None = None,
) -> None:
    """Apply ECS semantics after moto's UpdateService ran (called with the moto lock held)."""
    from .ecs_scheduler import refresh_counts

    state = adopt_service(ecs, service, now)
    if state is None:
        return
    if grace_period is not None:  # "This parameter doesn't trigger a new service deployment."
        service.health_check_grace_period_seconds = int(grace_period)
    # moto rewrites deployments[0]["id"] in place for forceNewDeployment; undo that.
    service.deployments = [dict(d) for d in previous_deployments] or service.deployments
    service.deployment_configuration = normalize_configuration(
        {**(previous_configuration or {}), **(requested_configuration or {})}
    )
    task_definition = resolve_task_definition(ecs, service.task_definition)
    if task_definition != previous_task_definition or force_new_deployment:
        start_deployment(service, now, task_definition)
    else:
        service.task_definition = task_definition
    primary = service.deployments[0]
    if primary["desiredCount"] != service.desired_count:
        primary = dict(primary, desiredCount=service.desired_count, updatedAt=ts(now))
        service.deployments = [primary, *service.deployments[1:]]
    refresh_counts(ecs, service)
