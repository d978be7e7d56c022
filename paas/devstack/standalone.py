"""One-off tasks: what RunTask and StopTask do in the simulated data plane.

moto's RunTask stores tasks that claim RUNNING at once and walk to STOPPED as they are
described (a ``ManagedState``), never exit by themselves, report exit code 0 and no
stopCode; its StopTask marks the task STOPPED on the spot (no stopCode) and answers an
unknown task with an HTTP 500. Here a RunTask task runs to completion like on ECS:
PROVISIONING -> PENDING -> RUNNING for the profile's ``start_seconds``, then the container
exits after ``run_seconds`` (or ``crash_seconds`` for a failing image) with the profile's
exit code: stoppedReason "Essential container in task exited", stopCode
``EssentialContainerExited``, ``containers[].exitCode``; its lines go to CloudWatch Logs
(``task_logs``). StopTask stops it at the next tick with stopCode ``UserInitiated``, the
request's reason and no exit code.

Container ``command`` overrides are kept by moto (``overrides``) and show in the start line
the task logs, so a test can tell which command ran.
"""

from __future__ import annotations

from typing import Any, Callable

from moto.ecs.models import EC2ContainerServiceBackend, Task

from . import tasks as sim_tasks
from .profiles import Profile
from .tasks import Timings

_standalone: dict[tuple[str, str], dict[str, Task]] = {}  # (account, region) -> task arn -> task


def adopt(ecs: EC2ContainerServiceBackend, task: Task, now: float, profile_for: Callable[[str | None], Profile]) -> None:
    """Take a task moto's RunTask just created under simulation."""
    task_definition = ecs.describe_task_definition(task.task_definition_arn)
    sim_tasks.simulate(ecs, task, task_definition, "standalone", now, profile_for)
    _standalone.setdefault((ecs.account_id, ecs.region_name), {})[task.task_arn] = task


def find_task(ecs: EC2ContainerServiceBackend, cluster: str, ref: str) -> Task | None:
    """The task ``ref`` (ARN or id) names in ``cluster``, if any."""
    try:
        name = ecs._get_cluster(cluster).name
    except Exception:
        return None
    wanted = ref.rsplit("/", 1)[-1]
    for arn, task in ecs.tasks.get(name, {}).items():
        if arn.rsplit("/", 1)[-1] == wanted:
            return task
    return None


def step(ecs: EC2ContainerServiceBackend, profile_for: Callable[[str | None], Profile], now: float,
         timings: Timings) -> None:
    """Advance every standalone task; forget stopped ones after the retention time."""
    mine = _standalone.get((ecs.account_id, ecs.region_name), {})
    for arn, task in list(mine.items()):
        sim = task._paas_sim
        cluster_tasks = ecs.tasks.get(task.cluster_name, {})
        if cluster_tasks.get(arn) is not task:  # reset, or forgotten
            del mine[arn]
            continue
        if sim.stopped_at is None:
            sim_tasks.advance(ecs, task, profile_for(sim.image), now, timings)
        elif now - sim.stopped_at > timings.stopped_task_retention_seconds:
            cluster_tasks.pop(arn, None)
            del mine[arn]


def reset() -> None:
    _standalone.clear()


def describe(task: Task) -> dict[str, Any]:
    """A small summary for dev tools (not an AWS shape)."""
    sim = task._paas_sim
    return {"task_arn": task.task_arn, "status": task.last_status, "image": sim.image,
            "log_group": sim.log.group if sim.log else None, "log_stream": sim.log.stream if sim.log else None}
