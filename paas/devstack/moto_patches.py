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
   carrying ``_paas_state`` (set only by the simulator) reports that state instead
   (``healthy`` / ``unhealthy`` / ``draining`` / ``initial``) with AWS's reason codes.
"""

from __future__ import annotations

import math
import re
import threading
import time
from functools import wraps
from typing import Any

# One lock for "moto's state": held by the emulator's WSGI middleware around every request
# and by the data plane around every tick. moto's backends are not thread-safe.
MOTO_LOCK = threading.RLock()

_installed = False
_install_lock = threading.Lock()
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")


def install() -> None:
    """Apply all patches once per process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _patch_ecs_responses()
        _patch_ecs_list_tasks()
        _patch_cloudwatch_percentiles()
        _patch_target_health()
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
            time.time(),
            requested_configuration=self._get_param("deploymentConfiguration"),
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
        now = time.time()
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
            return FakeHealthStatus(t["Id"], t["Port"], self.health_check_port, state, reason, description)
        return original(self, target, ec2_backend)

    FakeTargetGroup.health_for = health_for
