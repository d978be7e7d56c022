"""The life of one simulated ECS task: PROVISIONING -> PENDING -> RUNNING -> STOPPED.

A "task" is a moto ``Task`` record carrying a ``SimTask`` as ``task._paas_sim``; nothing
runs. Service tasks are launched by the simulated service scheduler (``ecs_scheduler``);
standalone tasks are the ones RunTask creates (``adopt_standalone``). Both then live by the
image's profile (``profiles.Profile``), in simulated time (``paas.clock``):

* PROVISIONING for the first half of ``start_seconds``, PENDING for the second, then
  RUNNING (``startedAt``). Reaching RUNNING needs the awslogs log group; without it the task
  stops with stopCode ``TaskFailedToStart`` and a ``ResourceInitializationError`` reason, as
  on AWS.
* A task that fails (``crash_loop``, or picked by ``fail_ratio``) exits ``crash_seconds``
  after RUNNING; a standalone task exits ``run_seconds`` after RUNNING. Either way the
  container reports the profile's exit code, and the task stops with stoppedReason
  "Essential container in task exited" and stopCode ``EssentialContainerExited``.
* StopTask (``request_stop``) stops a task with stopCode ``UserInitiated``, the request's
  reason and no exit code; the scheduler stops service tasks with
  ``ServiceSchedulerInitiated``, draining registered targets for the deregistration delay.

Every transition is stamped with the instant it happened in simulated time, not the tick
that noticed it, so stoppedAt and log timestamps do not depend on the machine's load.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

from moto.ecs.models import EC2ContainerServiceBackend, Task

from .profiles import Profile
from .target_health import TargetCheck
from .task_logs import LogTarget, exit_lines, log_target, start_lines

_ip_counter = itertools.count(1)
_launches: dict[str, int] = {}  # image -> tasks launched, for fail_ratio
PERIODIC_LOG_MAX = 200  # periodic log batches written per task per tick (a big clock jump)


def ts(now: float) -> dt.datetime:
    """Epoch seconds -> naive UTC datetime, the form moto stores and serialises."""
    return dt.datetime.fromtimestamp(now, dt.timezone.utc).replace(tzinfo=None)


@dataclass
class Timings:
    """The data plane's durations a task needs (see ``DataPlaneSettings``)."""

    crash_seconds: float = 0.3
    deregistration_delay_seconds: float = 0.0
    steady_state_seconds: float = 0.5
    stopped_task_retention_seconds: float = 600.0


@dataclass
class SimTask:
    """Simulation state attached to a moto ``Task`` as ``task._paas_sim``."""

    kind: str  # "service" | "standalone"
    image: str | None
    container: str | None
    command: list[str] | None
    ip: str
    eni_id: str | None
    created: float
    fails: bool = False  # crashes crash_seconds after RUNNING
    service_uid: str | None = None
    service_name: str | None = None
    deployment_id: str | None = None
    running_at: float | None = None
    ready_at: float | None = None  # answers its health check from then on
    crash_at: float | None = None
    exit_at: float | None = None
    healthy: bool = False  # ECS's view: running and passing its health checks
    healthy_at: float | None = None
    draining_since: float | None = None
    stop_requested: float | None = None
    stopped_at: float | None = None
    log: LogTarget | None = None
    registered: dict[str, int] = field(default_factory=dict)  # target group arn -> port
    checks: dict[str, TargetCheck] = field(default_factory=dict)  # target group arn -> health checks

    @property
    def live(self) -> bool:
        """Counts against maximumPercent: not stopped and not being drained."""
        return self.stopped_at is None and self.draining_since is None


def task_id(task: Task) -> str:
    return task.task_arn.rsplit("/", 1)[-1]


def picks_failure(image: str | None, profile: Profile) -> bool:
    """crash_loop: always. fail_ratio r: the n-th task of an image fails when
    floor((n+1)r) > floor(nr), i.e. evenly spread (r = 0.5: every second task)."""
    if profile.crash_loop:
        return True
    if profile.fail_ratio <= 0:
        return False
    n = _launches.get(image or "", 0)
    _launches[image or ""] = n + 1
    return int((n + 1) * profile.fail_ratio + 1e-9) > int(n * profile.fail_ratio + 1e-9)


def essential_container(task_definition: Any) -> dict[str, Any]:
    containers = getattr(task_definition, "container_definitions", None) or []
    for c in containers:
        if c.get("essential", True):
            return c
    return containers[0] if containers else {}


def _task_ip(task: Task) -> tuple[str, str | None]:
    for att in getattr(task, "attachments", None) or []:
        details = {d["name"]: d["value"] for d in att.get("details", [])}
        if "privateIPv4Address" in details:
            return details["privateIPv4Address"], details.get("networkInterfaceId")
    n = next(_ip_counter)
    return f"10.0.{128 + (n // 250) % 120}.{n % 250 + 2}", None


def _command(task: Task, container: dict[str, Any]) -> list[str] | None:
    for o in (getattr(task, "overrides", None) or {}).get("containerOverrides") or []:
        if o.get("name") == container.get("name") and o.get("command"):
            return list(o["command"])
    return list(container["command"]) if container.get("command") else None


def simulate(ecs: EC2ContainerServiceBackend, task: Task, task_definition: Any, kind: str, now: float,
             profile_for: Callable[[str | None], Profile], **service: Any) -> SimTask:
    """Put a fresh moto task under simulation (PROVISIONING)."""
    # moto's Task is a ManagedState that walks RUNNING -> STOPPED as it is described; the
    # simulation owns lastStatus, so freeze moto's own transitions.
    task._transitions = []
    task.last_status = "PROVISIONING"
    task.desired_status = "RUNNING"
    task.created_at = ts(now)
    task.health_status = "UNKNOWN"
    task.stopped_reason = None
    task.stop_code = None
    task.platform_family = "EC2" if getattr(task, "launch_type", "") == "EC2" else "FARGATE"
    for c in task.containers:
        c.task_arn = task.task_arn  # moto puts the task definition ARN here
        c.last_status = "PENDING"
        c.exitCode = None
        c.health_status = "UNKNOWN"
    container = essential_container(task_definition)
    image = container.get("image")
    ip, eni_id = _task_ip(task)
    sim = SimTask(kind=kind, image=image, container=container.get("name"), command=_command(task, container),
                  ip=ip, eni_id=eni_id, created=now, fails=picks_failure(image, profile_for(image)), **service)
    sim.log = log_target(task_definition, container.get("name"), task_id(task), ecs.account_id, ecs.region_name)
    task._paas_sim = sim
    return sim


def request_stop(task: Task, now: float, reason: str | None) -> None:
    """StopTask: stop at the next tick with stopCode UserInitiated."""
    sim: SimTask | None = getattr(task, "_paas_sim", None)
    task.desired_status = "STOPPED"
    task.stopped_reason = reason or "Task stopped by user"
    task.stop_code = "UserInitiated"
    task.stopping_at = ts(now)
    if sim is not None and sim.stopped_at is None and sim.stop_requested is None:
        sim.stop_requested = now


def stop(ecs: EC2ContainerServiceBackend, task: Task, at: float, reason: str, timings: Timings, *,
         code: str = "ServiceSchedulerInitiated", exit_code: int | None = None, exited: bool = False) -> None:
    """Begin stopping a task at ``at``: drain registered targets first unless it already exited."""
    sim: SimTask = task._paas_sim
    task.desired_status = "STOPPED"
    task.stopped_reason = reason
    task.stop_code = code
    task.stopping_at = ts(at)
    if exited:
        for c in task.containers:
            c.exitCode = exit_code
            c.last_status = "STOPPED"
            c.health_status = "UNHEALTHY"
            c.reason = None
    sim.healthy = False
    if sim.registered and timings.deregistration_delay_seconds > 0 and not exited:
        sim.draining_since = at
        task.last_status = "DEACTIVATING"
    else:
        finish_stop(ecs, task, at)


def finish_stop(ecs: EC2ContainerServiceBackend, task: Task, at: float, *, killed_exit_code: int | None = 0) -> None:
    sim: SimTask = task._paas_sim
    sim.stopped_at = at
    sim.draining_since = None
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopped_at = ts(at)
    task.execution_stopped_at = ts(at)
    for c in task.containers:
        if c.last_status == "RUNNING" and c.exitCode is None:
            c.exitCode = killed_exit_code  # stopped by the scheduler: exited on SIGTERM
        c.last_status = "STOPPED"
    if sim.eni_id:
        try:
            from moto.ec2.models import ec2_backends

            ec2_backends[ecs.account_id][ecs.region_name].delete_network_interface(sim.eni_id)
        except Exception:  # already gone
            pass
        sim.eni_id = None


def _start(ecs: EC2ContainerServiceBackend, task: Task, sim: SimTask, profile: Profile, at: float,
           timings: Timings) -> bool:
    """PENDING -> RUNNING at ``at``; False if the task failed to start instead."""
    if sim.log is not None:
        error = sim.log.ensure()
        if error is not None:
            stop(ecs, task, at, error, timings, code="TaskFailedToStart", exited=True, exit_code=None)
            return False
    sim.running_at = at
    task.last_status = "RUNNING"
    task.started_at = ts(at)
    task.pull_started_at = ts(sim.created)
    task.pull_stopped_at = ts(at)
    task.connectivity = "CONNECTED"
    task.connectivity_at = ts(sim.created)
    for c in task.containers:
        c.last_status = "RUNNING"
    if sim.log is not None:
        sim.log.write(start_lines(sim.container, sim.image, sim.command, profile), at)
        if profile.log and profile.log_every_seconds > 0:
            sim.log.next_periodic = at + profile.log_every_seconds
    if sim.fails:
        sim.crash_at = at + timings.crash_seconds
        task.health_status = "UNHEALTHY"
    else:
        sim.ready_at = at + profile.ready_seconds
        if sim.kind == "standalone":
            sim.exit_at = at + profile.run_seconds
    return True


def advance(ecs: EC2ContainerServiceBackend, task: Task, profile: Profile, now: float, timings: Timings) -> list[tuple[float, str]]:
    """Move one task along its lifecycle up to ``now``.

    Returns what happened that the service scheduler counts, as (instant, "failed") pairs:
    the task exited on its own or could not start.
    """
    sim: SimTask = task._paas_sim
    events: list[tuple[float, str]] = []
    if sim.stopped_at is not None:
        return events
    if sim.stop_requested is not None:
        if sim.registered and timings.deregistration_delay_seconds > 0 and sim.kind == "service":
            sim.draining_since = sim.draining_since or sim.stop_requested
            task.last_status = "DEACTIVATING"
        else:
            finish_stop(ecs, task, max(sim.stop_requested, now), killed_exit_code=None)
            return events
    if sim.draining_since is not None:
        if now - sim.draining_since >= timings.deregistration_delay_seconds:
            finish_stop(ecs, task, sim.draining_since + timings.deregistration_delay_seconds,
                        killed_exit_code=None if sim.stop_requested is not None else 0)
        return events
    if sim.running_at is None:
        started = sim.created + profile.start_seconds
        if now < started:
            task.last_status = "PROVISIONING" if now < sim.created + profile.start_seconds / 2 else "PENDING"
            return events
        if not _start(ecs, task, sim, profile, started, timings):
            return [(started, "failed")]
    if sim.log is not None and sim.log.next_periodic is not None and profile.log_every_seconds > 0:
        end = min(x for x in (now, sim.crash_at, sim.exit_at) if x is not None)
        for _ in range(PERIODIC_LOG_MAX):
            if sim.log.next_periodic > end:
                break
            sim.log.write(list(profile.log), sim.log.next_periodic)
            sim.log.next_periodic += profile.log_every_seconds
    for when, crashed in ((sim.crash_at, True), (sim.exit_at, False)):
        if when is not None and now >= when:
            code = profile.exit_code_for(crashed)
            if sim.log is not None:
                sim.log.write(exit_lines(profile, code), when)
            stop(ecs, task, when, "Essential container in task exited", timings,
                 code="EssentialContainerExited", exit_code=code, exited=True)
            if crashed or sim.kind == "service":
                events.append((when, "failed"))
            break
    return events
