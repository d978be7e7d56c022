"""A simulated ECS service scheduler acting on moto's in-process ECS and ELBv2 backends.

moto stores ECS services but never runs them: no task starts, a deployment never
progresses, no target is registered. This module plays the part of the ECS service
scheduler so that, seen through the AWS API, services behave like real ones. **It is a
simulation**: no container runs anywhere; a "task" is a moto ``Task`` record whose state
this module advances according to the image's behaviour profile
(``paas.devstack.profiles``).

What is simulated (rolling update, ``deploymentController: ECS`` only):

* Every CreateService / UpdateService that changes the task definition (or sets
  ``forceNewDeployment``) starts a new PRIMARY deployment (rolloutState IN_PROGRESS); the
  previous PRIMARY becomes ACTIVE. This happens synchronously inside the API call, like
  ECS, so the UpdateService response already shows the new deployment.
* Tasks (moto ``Task`` objects, visible through ListTasks/DescribeTasks, ``group`` =
  ``service:<name>``, ``startedBy`` = deployment id) go PENDING -> RUNNING after the
  profile's ``start_seconds``, are then registered ``healthy`` in the service's target
  groups. Crash-looping images run for ``crash_seconds`` (target ``unhealthy``), then stop
  with stopCode ``EssentialContainerExited``, stoppedReason "Essential container in task
  exited" and the profile's exit code, and are replaced.
* Rolling update bounds: new tasks start only while (all non-stopped tasks) <=
  floor(desired * maximumPercent / 100); old tasks stop only while healthy tasks stay >=
  ceil(desired * minimumHealthyPercent / 100) (unhealthy old tasks may always stop).
* Circuit breaker: when ``failedTasks`` of the PRIMARY deployment reaches
  ``min(200, max(3, ceil(0.5 * desiredCount)))`` (AWS's documented default threshold) the
  deployment becomes FAILED and launches no more tasks; with ``rollback`` the last
  deployment that completed becomes PRIMARY again (a new deployment with its task
  definition if it is already gone) and the service's taskDefinition reverts.
* A deployment is COMPLETED once it has ``desiredCount`` healthy tasks, no other
  deployment has tasks left, and that has held for ``steady_state_seconds``; drained
  ACTIVE deployments are then removed, as ECS does. Service ``events`` carry ECS-style
  messages ("(service x) has reached a steady state.").

Not simulated: placement, capacity, CODE_DEPLOY/EXTERNAL controllers, task sets, health
check grace periods, restart back-off, container instances, multiple containers per task
(moto's Task models only the first container; the profile is chosen by the first
essential container's image).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from moto.ecs.models import EC2ContainerServiceBackend, Service, Task
from moto.moto_api._internal import mock_random

from .profiles import Profile


DEFAULT_DEPLOYMENT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}
MAX_EVENTS = 100
_ip_counter = itertools.count(1)

ProfileLookup = Callable[[str | None], Profile]


@dataclass
class SchedulerTimings:
    """The few durations the scheduler needs (a subset of the data plane settings)."""

    crash_seconds: float = 0.3
    deregistration_delay_seconds: float = 0.0
    steady_state_seconds: float = 0.5
    stopped_task_retention_seconds: float = 600.0


@dataclass
class SimTask:
    """Simulation state attached to a moto ``Task`` as ``task._paas_sim``."""

    service_uid: str
    service_name: str
    deployment_id: str
    image: str | None
    ip: str
    eni_id: str | None
    created: float
    running_at: float | None = None
    healthy: bool = False
    crash_at: float | None = None
    draining_since: float | None = None
    stopped_at: float | None = None
    registered: dict[str, int] = field(default_factory=dict)  # target group arn -> port

    @property
    def live(self) -> bool:
        """Counts against maximumPercent: not stopped and not being drained."""
        return self.stopped_at is None and self.draining_since is None


@dataclass
class SimService:
    """Simulation state attached to a moto ``Service`` as ``service._paas_sim``."""

    uid: str
    last_completed: dict[str, Any] | None = None  # snapshot of the last COMPLETED deployment
    steady_since: float | None = None


def _ts(now: float) -> dt.datetime:
    """Epoch seconds -> naive UTC datetime, the form moto stores and serialises."""
    return dt.datetime.fromtimestamp(now, dt.timezone.utc).replace(tzinfo=None)


def _new_deployment_id() -> str:
    return f"ecs-svc/{mock_random.randint(10**18, 10**19 - 1)}"


def circuit_breaker_threshold(desired_count: int) -> int:
    """AWS: 0.5 * desired task count, at least 3 and at most 200."""
    return min(200, max(3, math.ceil(0.5 * desired_count)))


def deployment_configuration(service: Service) -> dict[str, Any]:
    return normalize_configuration(getattr(service, "deployment_configuration", None))


def normalize_configuration(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """Fill ECS's defaults (200 % / 100 %, circuit breaker off) into a deploymentConfiguration."""
    cfg = cfg or {}
    merged = {**DEFAULT_DEPLOYMENT_CONFIGURATION, **cfg}
    cb = {**DEFAULT_DEPLOYMENT_CONFIGURATION["deploymentCircuitBreaker"], **(cfg.get("deploymentCircuitBreaker") or {})}
    merged["deploymentCircuitBreaker"] = cb
    return merged


def add_event(service: Service, message: str, now: float) -> None:
    """Prepend an ECS-style service event (newest first, like DescribeServices)."""
    events = list(getattr(service, "events", None) or [])
    events.insert(0, {"id": str(uuid.uuid4()), "createdAt": _ts(now), "message": message})
    service.events = events[:MAX_EVENTS]


def _essential_image(task_definition: Any) -> str | None:
    containers = getattr(task_definition, "container_definitions", None) or []
    for c in containers:
        if c.get("essential", True):
            return c.get("image")
    return containers[0].get("image") if containers else None


def _sim(service: Service) -> SimService | None:
    return getattr(service, "_paas_sim", None)


def _make_deployment(service: Service, task_definition: str | None, now: float, desired: int) -> dict[str, Any]:
    dep_id = _new_deployment_id()
    return {
        "id": dep_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "desiredCount": desired,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": _ts(now),
        "updatedAt": _ts(now),
        "launchType": service.launch_type,
        "platformVersion": service.platform_version,
        "platformFamily": "EC2" if service.launch_type == "EC2" else "FARGATE",
        "networkConfiguration": service.network_configuration or None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {dep_id} in progress.",
    }


def _resolve_task_definition(ecs: EC2ContainerServiceBackend, ref: str | None) -> str | None:
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
) -> SimService | None:
    """Take a moto service under simulation (idempotent).

    moto creates one PRIMARY deployment that claims ``runningCount == desiredCount`` only
    if ``MOTO_ECS_SERVICE_RUNNING`` is set and otherwise never moves; replace it with an
    honest IN_PROGRESS deployment with no tasks yet.
    """
    state = _sim(service)
    if state is not None:
        return state
    if (service.deployment_controller or {}).get("type", "ECS") != "ECS":
        return None
    state = SimService(uid=str(uuid.uuid4()))
    service._paas_sim = state
    base = getattr(service, "deployment_configuration", None) or {}
    service.deployment_configuration = normalize_configuration({**base, **(requested_configuration or {})})
    service.task_definition = _resolve_task_definition(ecs, service.task_definition)
    if not getattr(service, "created_at", None):
        service.created_at = _ts(now)
    service.deployments = [_make_deployment(service, service.task_definition, now, service.desired_count)]
    service.running_count = 0
    service.pending_count = 0
    return state


def start_deployment(service: Service, now: float, task_definition: str | None) -> dict[str, Any]:
    """New PRIMARY deployment; the old PRIMARY (and any other) becomes ACTIVE."""
    state = _sim(service)
    assert state is not None
    old = []
    for d in service.deployments:
        d = dict(d)
        if d["status"] == "PRIMARY":
            d["status"] = "ACTIVE"
            d["updatedAt"] = _ts(now)
        old.append(d)
    new = _make_deployment(service, task_definition, now, service.desired_count)
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
) -> None:
    """Apply ECS semantics after moto's UpdateService ran (called with the moto lock held)."""
    state = adopt_service(ecs, service, now)
    if state is None:
        return
    # moto rewrites deployments[0]["id"] in place for forceNewDeployment; undo that.
    service.deployments = [dict(d) for d in previous_deployments] or service.deployments
    service.deployment_configuration = normalize_configuration(
        {**(previous_configuration or {}), **(requested_configuration or {})}
    )
    task_definition = _resolve_task_definition(ecs, service.task_definition)
    if task_definition != previous_task_definition or force_new_deployment:
        start_deployment(service, now, task_definition)
    else:
        service.task_definition = task_definition
    primary = service.deployments[0]
    if primary["desiredCount"] != service.desired_count:
        primary = dict(primary, desiredCount=service.desired_count, updatedAt=_ts(now))
        service.deployments = [primary, *service.deployments[1:]]
    refresh_counts(ecs, service)


# --------------------------------------------------------------------------- tasks


# service_tasks is called for every service on every tick: scanning all of a cluster's tasks
# each time made a tick O(services × tasks) (seconds at 1,000 services, starving the API).
# Index tasks by simulated service per cluster; rebuild only when the task set changed.
_TASK_SET_VERSION = [0]
_INDEX: dict[str, tuple[tuple, dict[str, list[Task]]]] = {}


def _tasks_changed() -> None:
    _TASK_SET_VERSION[0] += 1


def service_tasks(ecs: EC2ContainerServiceBackend, service: Service) -> list[Task]:
    state = _sim(service)
    if state is None:
        return []
    cluster_tasks = ecs.tasks.get(service.cluster_name, {})
    stamp = (_TASK_SET_VERSION[0], id(cluster_tasks), len(cluster_tasks))
    cached = _INDEX.get(service.cluster_name)
    if cached is None or cached[0] != stamp:
        by_uid: dict[str, list[Task]] = {}
        for t in cluster_tasks.values():
            sim = getattr(t, "_paas_sim", None)
            if sim is not None:
                by_uid.setdefault(sim.service_uid, []).append(t)
        cached = (stamp, by_uid)
        _INDEX[service.cluster_name] = cached
    return list(cached[1].get(state.uid, ()))


def _task_ip(task: Task) -> tuple[str, str | None]:
    for att in getattr(task, "attachments", None) or []:
        details = {d["name"]: d["value"] for d in att.get("details", [])}
        if "privateIPv4Address" in details:
            return details["privateIPv4Address"], details.get("networkInterfaceId")
    n = next(_ip_counter)
    return f"10.0.{128 + (n // 250) % 120}.{n % 250 + 2}", None


def launch_task(ecs: EC2ContainerServiceBackend, service: Service, deployment: dict[str, Any], now: float) -> Task | None:
    """Create one PENDING simulated task for ``deployment``; None if it cannot be placed."""
    try:
        cluster = ecs._get_cluster(service.cluster_name)
        task_definition = ecs.describe_task_definition(deployment["taskDefinition"])
        task = Task(
            cluster=cluster,
            task_definition=task_definition,
            container_instance_arn=None,
            resource_requirements=None,
            backend=ecs,
            group=f"service:{service.name}",
            launch_type=service.launch_type or "",
            started_by=deployment["id"],
            tags=[],
            networking_configuration=service.network_configuration or None,
            platform_version=service.platform_version,
        )
    except Exception as exc:  # e.g. awsvpc task definition without network configuration
        add_event(service, f"(service {service.name}) was unable to place a task. Reason: {exc}.", now)
        return None
    # moto's Task is a ManagedState that walks RUNNING -> STOPPED as it is described; the
    # simulation owns lastStatus, so freeze moto's own transitions.
    task._transitions = []
    task.last_status = "PENDING"
    task.desired_status = "RUNNING"
    task.created_at = _ts(now)
    task.health_status = "UNKNOWN"
    task.stopped_reason = None
    task.platform_family = "EC2" if service.launch_type == "EC2" else "FARGATE"
    for c in task.containers:
        c.task_arn = task.task_arn  # moto puts the task definition ARN here
        c.last_status = "PENDING"
        c.exitCode = None
        c.health_status = "UNKNOWN"
    ip, eni_id = _task_ip(task)
    task._paas_sim = SimTask(
        service_uid=_sim(service).uid,  # type: ignore[union-attr]
        service_name=service.name,
        deployment_id=deployment["id"],
        image=_essential_image(task_definition),
        ip=ip,
        eni_id=eni_id,
        created=now,
    )
    ecs.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    _tasks_changed()
    return task


def _task_id(task: Task) -> str:
    return task.task_arn.rsplit("/", 1)[-1]


def stop_task(ecs: EC2ContainerServiceBackend, task: Task, now: float, reason: str, timings: SchedulerTimings, *, crashed: bool = False, exit_code: int | None = None) -> None:
    """Begin stopping a task: drain (deregistration delay) first when it is registered."""
    sim: SimTask = task._paas_sim
    task.desired_status = "STOPPED"
    task.stopped_reason = reason
    task.stopping_at = _ts(now)
    if crashed:
        task.stop_code = "EssentialContainerExited"
        for c in task.containers:
            c.exitCode = exit_code
            c.last_status = "STOPPED"
            c.health_status = "UNHEALTHY"
            c.reason = None
    else:
        task.stop_code = "ServiceSchedulerInitiated"
    sim.healthy = False
    if sim.registered and timings.deregistration_delay_seconds > 0 and not crashed:
        sim.draining_since = now
        task.last_status = "DEACTIVATING"
    else:
        _finish_stop(ecs, task, now)


def _finish_stop(ecs: EC2ContainerServiceBackend, task: Task, now: float) -> None:
    sim: SimTask = task._paas_sim
    sim.stopped_at = now
    sim.draining_since = None
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopped_at = _ts(now)
    task.execution_stopped_at = _ts(now)
    for c in task.containers:
        if c.last_status == "RUNNING" and c.exitCode is None:
            c.exitCode = 0  # stopped by the scheduler, exited cleanly on SIGTERM
        c.last_status = "STOPPED"
    if sim.eni_id:
        try:
            _ec2_backend(ecs).delete_network_interface(sim.eni_id)
        except Exception:  # already gone
            pass
        sim.eni_id = None


def _ec2_backend(ecs: EC2ContainerServiceBackend) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[ecs.account_id][ecs.region_name]


def advance_task(ecs: EC2ContainerServiceBackend, service: Service, task: Task, profile: Profile, now: float, timings: SchedulerTimings) -> bool:
    """Move one task along its lifecycle. Returns True if it crashed during this call."""
    sim: SimTask = task._paas_sim
    if sim.stopped_at is not None:
        return False
    if sim.draining_since is not None:
        if now - sim.draining_since >= timings.deregistration_delay_seconds:
            _finish_stop(ecs, task, now)
        return False
    if sim.running_at is None:
        if now - sim.created >= profile.start_seconds:
            sim.running_at = now
            task.last_status = "RUNNING"
            task.started_at = _ts(now)
            task.pull_started_at = _ts(sim.created)
            task.pull_stopped_at = _ts(now)
            task.connectivity = "CONNECTED"
            task.connectivity_at = _ts(sim.created)
            for c in task.containers:
                c.last_status = "RUNNING"
            if profile.crash_loop:
                sim.crash_at = now + timings.crash_seconds
                sim.healthy = False
                task.health_status = "UNHEALTHY"
            else:
                sim.healthy = True
                task.health_status = "HEALTHY"
                for c in task.containers:
                    c.health_status = "HEALTHY"
        else:
            return False
    if sim.crash_at is not None and now >= sim.crash_at:
        stop_task(ecs, task, now, "Essential container in task exited", timings, crashed=True, exit_code=profile.exit_code)
        return True
    return False


# ----------------------------------------------------------------------- targets


def sync_targets(elbv2: Any, service: Service, tasks: list[Task], now: float) -> dict[str, dict[str, str]]:
    """Register RUNNING tasks in the service's target groups, deregister stopped ones.

    Target state is kept on moto's target dict under ``_paas_state`` and reported by the
    patched ``FakeTargetGroup.health_for`` (see ``moto_patches``): ``healthy``,
    ``unhealthy`` (crash-looping), ``draining``. Returns {target group arn: {target id:
    task arn}} of registered simulated targets.
    """
    registered: dict[str, dict[str, str]] = {}
    lbs = [lb for lb in (service.load_balancers or []) if lb.get("targetGroupArn")]
    if elbv2 is None or not lbs:
        return registered
    added: dict[str, int] = {}
    removed: dict[str, int] = {}
    for lb in lbs:
        tg_arn = lb["targetGroupArn"]
        tg = elbv2.target_groups.get(tg_arn)
        if tg is None:
            continue
        port = int(lb.get("containerPort") or tg.port or 80)
        reg = registered.setdefault(tg_arn, {})
        for task in tasks:
            sim: SimTask = task._paas_sim
            want: str | None
            if sim.stopped_at is not None:
                want = None
            elif sim.draining_since is not None:
                want = "draining"
            elif sim.running_at is not None:
                want = "healthy" if sim.healthy else "unhealthy"
            else:
                want = None
            if want is None:
                if tg_arn in sim.registered:
                    t = tg.targets.pop(sim.ip, None)
                    if t is not None:
                        tg.deregistered_targets[sim.ip] = {"Id": sim.ip, "Port": t.get("Port", port)}
                    del sim.registered[tg_arn]
                    removed[tg_arn] = removed.get(tg_arn, 0) + 1
                continue
            current = tg.targets.get(sim.ip)
            if current is None:
                tg.targets[sim.ip] = {"Id": sim.ip, "Port": port, "_paas_state": want}
                tg.deregistered_targets.pop(sim.ip, None)
                sim.registered[tg_arn] = port
                added[tg_arn] = added.get(tg_arn, 0) + 1
            elif current.get("_paas_state") != want:
                tg.targets[sim.ip] = {**current, "_paas_state": want}
            reg[sim.ip] = task.task_arn
    for tg_arn, n in added.items():
        add_event(service, f"(service {service.name}) registered {n} targets in (target-group {tg_arn})", now)
    for tg_arn, n in removed.items():
        add_event(service, f"(service {service.name}) deregistered {n} targets in (target-group {tg_arn})", now)
    return registered


# ----------------------------------------------------------------------- scheduler


def refresh_counts(ecs: EC2ContainerServiceBackend, service: Service) -> None:
    """Recompute runningCount/pendingCount of the service and of each deployment."""
    tasks = service_tasks(ecs, service)
    running: dict[str, int] = {}
    pending: dict[str, int] = {}
    for t in tasks:
        sim: SimTask = t._paas_sim
        if sim.stopped_at is not None:
            continue
        if t.last_status == "RUNNING":
            running[sim.deployment_id] = running.get(sim.deployment_id, 0) + 1
        elif t.last_status == "PENDING":
            pending[sim.deployment_id] = pending.get(sim.deployment_id, 0) + 1
    deployments = []
    for d in service.deployments:
        r, p = running.get(d["id"], 0), pending.get(d["id"], 0)
        if d.get("runningCount") != r or d.get("pendingCount") != p:
            d = dict(d, runningCount=r, pendingCount=p)
        deployments.append(d)
    service.deployments = deployments
    service.running_count = sum(running.values())
    service.pending_count = sum(pending.values())


def _pick_to_stop(tasks: list[Task], n: int) -> list[Task]:
    """Prefer unhealthy / pending tasks, then the newest (ECS stops the youngest first)."""
    ranked = sorted(tasks, key=lambda t: (t._paas_sim.healthy, -(t._paas_sim.created)))
    return ranked[: max(0, n)]


def step_service(
    ecs: EC2ContainerServiceBackend,
    elbv2: Any,
    service: Service,
    profile_for: ProfileLookup,
    now: float,
    timings: SchedulerTimings,
) -> dict[str, dict[str, str]]:
    """One scheduler pass over one service. Returns the registered simulated targets."""
    state = adopt_service(ecs, service, now)
    if state is None:
        return {}
    name = service.name
    tasks = service_tasks(ecs, service)

    # A task-definition change that bypassed the API hooks (e.g. CloudFormation).
    resolved = _resolve_task_definition(ecs, service.task_definition)
    if service.deployments and resolved != service.deployments[0]["taskDefinition"]:
        start_deployment(service, now, resolved)

    deployments = {d["id"]: dict(d) for d in service.deployments}

    # 1. Task lifecycle.
    for task in tasks:
        sim: SimTask = task._paas_sim
        if advance_task(ecs, service, task, profile_for(sim.image), now, timings):
            dep = deployments.get(sim.deployment_id)
            if dep is not None:
                dep["failedTasks"] = dep.get("failedTasks", 0) + 1
    order = [d["id"] for d in service.deployments]

    # 2. Service deleted (INACTIVE / DRAINING): stop everything.
    if service.status != "ACTIVE":
        for task in tasks:
            if task._paas_sim.live:
                stop_task(ecs, task, now, "Service is being deleted", timings)
        service.deployments = [deployments[i] for i in order]
        sync_targets(elbv2, service, tasks, now)
        refresh_counts(ecs, service)
        return {}

    primary = deployments[order[0]]
    desired = int(service.desired_count or 0)
    cfg = deployment_configuration(service)
    cb = cfg["deploymentCircuitBreaker"]

    # 3. Circuit breaker.
    if primary["rolloutState"] == "IN_PROGRESS" and cb.get("enable"):
        if primary.get("failedTasks", 0) >= circuit_breaker_threshold(desired):
            primary["rolloutState"] = "FAILED"
            primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
            primary["updatedAt"] = _ts(now)
            add_event(service, f"(service {name}) (deployment {primary['id']}) deployment failed: tasks failed to start.", now)
            target = state.last_completed
            if cb.get("rollback") and target is not None and target["taskDefinition"] != primary["taskDefinition"]:
                primary["status"] = "ACTIVE"
                if target["id"] in deployments:
                    back = deployments[target["id"]]
                    back.update(status="PRIMARY", rolloutState="IN_PROGRESS", desiredCount=desired, updatedAt=_ts(now),
                                rolloutStateReason=f"ECS deployment {back['id']} in progress.")
                    order = [back["id"], *[i for i in order if i != back["id"]]]
                else:
                    back = _make_deployment(service, target["taskDefinition"], now, desired)
                    deployments[back["id"]] = back
                    order = [back["id"], *order]
                service.task_definition = back["taskDefinition"]
                state.steady_since = None
                add_event(service, f"(service {name}) rolling back to deployment {target['id']}.", now)
                primary = back
    service.deployments = [deployments[i] for i in order]
    for d in service.deployments[1:]:
        if d["status"] == "PRIMARY":
            d["status"] = "ACTIVE"

    live = [t for t in tasks if t._paas_sim.live]
    primary_live = [t for t in live if t._paas_sim.deployment_id == primary["id"]]
    old_live = [t for t in live if t._paas_sim.deployment_id != primary["id"]]
    healthy = [t for t in live if t._paas_sim.healthy]
    max_total = math.floor(desired * cfg["maximumPercent"] / 100)
    min_healthy = math.ceil(desired * cfg["minimumHealthyPercent"] / 100)
    stopped_now: list[Task] = []

    # 4a. Scale the primary down if it has more than desired.
    if len(primary_live) > desired:
        for t in _pick_to_stop(primary_live, len(primary_live) - desired):
            stop_task(ecs, t, now, f"Scaling activity initiated by (deployment {primary['id']})", timings)
            stopped_now.append(t)
        primary_live = [t for t in primary_live if t not in stopped_now]

    # 4b. Stop old tasks while enough healthy tasks remain.
    if old_live and primary["rolloutState"] != "FAILED":
        budget = len(healthy) - min_healthy
        for t in _pick_to_stop(old_live, len(old_live)):
            if t._paas_sim.healthy:
                if budget <= 0:
                    continue
                budget -= 1
            stop_task(ecs, t, now, f"Scaling activity initiated by (deployment {primary['id']})", timings)
            stopped_now.append(t)
        old_live = [t for t in old_live if t not in stopped_now]
    if stopped_now:
        ids = " ".join(f"(task {_task_id(t)})" for t in stopped_now)
        add_event(service, f"(service {name}) has stopped {len(stopped_now)} running tasks: {ids}.", now)

    # 4c. Start primary tasks within maximumPercent.
    if primary["rolloutState"] != "FAILED":
        room = max_total - (len(primary_live) + len(old_live))
        if max_total <= 0 or (not old_live and max_total < desired):
            room = desired - len(primary_live)  # maximumPercent cannot block reaching desired alone
        to_start = max(0, min(desired - len(primary_live), room))
        started = [t for t in (launch_task(ecs, service, primary, now) for _ in range(to_start)) if t is not None]
        if started:
            ids = " ".join(f"(task {_task_id(t)})" for t in started)
            add_event(service, f"(service {name}) has started {len(started)} tasks: {ids}.", now)
            tasks = tasks + started

    # 5. Targets and counts.
    registered = sync_targets(elbv2, service, tasks, now)
    refresh_counts(ecs, service)

    # Old deployments' desiredCount follows their remaining tasks, as in ECS.
    live_by_dep: dict[str, int] = {}
    for t in tasks:
        if t._paas_sim.live:
            live_by_dep[t._paas_sim.deployment_id] = live_by_dep.get(t._paas_sim.deployment_id, 0) + 1
    deps = []
    for i, d in enumerate(service.deployments):
        if i == 0:
            d = dict(d, desiredCount=desired)
        else:
            d = dict(d, desiredCount=live_by_dep.get(d["id"], 0))
        deps.append(d)
    service.deployments = deps
    primary = deps[0]

    # 6. Completion.
    primary_healthy = sum(1 for t in tasks if t._paas_sim.live and t._paas_sim.healthy and t._paas_sim.deployment_id == primary["id"])
    others_live = sum(live_by_dep.get(d["id"], 0) for d in deps[1:])
    steady = primary_healthy == desired and live_by_dep.get(primary["id"], 0) == desired and others_live == 0
    if primary["rolloutState"] == "IN_PROGRESS" and steady:
        if state.steady_since is None:
            state.steady_since = now
        if now - state.steady_since >= timings.steady_state_seconds:
            primary = dict(primary, rolloutState="COMPLETED", rolloutStateReason=f"ECS deployment {primary['id']} completed.", updatedAt=_ts(now))
            service.deployments = [primary]  # drained ACTIVE deployments disappear
            state.last_completed = dict(primary)
            add_event(service, f"(service {name}) (deployment {primary['id']}) deployment completed.", now)
            add_event(service, f"(service {name}) has reached a steady state.", now)
    elif not steady:
        state.steady_since = None
    if primary["rolloutState"] == "COMPLETED":
        state.last_completed = dict(primary)
        # Drop drained non-primary deployments (e.g. after a later scale event).
        service.deployments = [primary, *[d for d in service.deployments[1:] if live_by_dep.get(d["id"], 0)]]

    _forget_old_stopped_tasks(ecs, service, tasks, now, timings)
    return registered


def _forget_old_stopped_tasks(ecs: EC2ContainerServiceBackend, service: Service, tasks: list[Task], now: float, timings: SchedulerTimings) -> None:
    """ECS forgets stopped tasks after a while; keeps crash loops from growing memory."""
    cluster_tasks = ecs.tasks.get(service.cluster_name, {})
    stopped = sorted(
        (t for t in tasks if t._paas_sim.stopped_at is not None),
        key=lambda t: t._paas_sim.stopped_at,
    )
    excess = max(0, len(stopped) - 100)
    for i, t in enumerate(stopped):
        if i < excess or now - t._paas_sim.stopped_at > timings.stopped_task_retention_seconds:
            cluster_tasks.pop(t.task_arn, None)
            _tasks_changed()


def reap_orphans(ecs: EC2ContainerServiceBackend, elbv2: Any, now: float, timings: SchedulerTimings) -> None:
    """Stop simulated tasks whose service object is gone (e.g. deleted, then re-created
    under the same name, which makes moto drop the old object) and deregister them."""
    alive = {s._paas_sim.uid for s in ecs.services.values() if getattr(s, "_paas_sim", None) is not None}
    for cluster_tasks in ecs.tasks.values():
        for task in list(cluster_tasks.values()):
            sim = getattr(task, "_paas_sim", None)
            if sim is None or sim.service_uid in alive:
                continue
            if sim.stopped_at is None:
                sim.draining_since = None
                stop_task(ecs, task, now, "Service was deleted", timings)
                _finish_stop(ecs, task, now)
            for tg_arn in list(sim.registered):
                tg = elbv2.target_groups.get(tg_arn) if elbv2 is not None else None
                if tg is not None and tg.targets.pop(sim.ip, None) is not None:
                    tg.deregistered_targets[sim.ip] = {"Id": sim.ip, "Port": sim.registered[tg_arn]}
                del sim.registered[tg_arn]
            if now - sim.stopped_at > timings.stopped_task_retention_seconds:  # type: ignore[operator]
                cluster_tasks.pop(task.task_arn, None)
                _tasks_changed()


def update_cluster_counts(ecs: EC2ContainerServiceBackend) -> None:
    """runningTasksCount / pendingTasksCount / activeServicesCount from the tasks we hold."""
    for name, cluster in ecs.clusters.items():
        tasks = list(ecs.tasks.get(name, {}).values())
        cluster.running_tasks_count = sum(1 for t in tasks if t.last_status == "RUNNING")
        cluster.pending_tasks_count = sum(1 for t in tasks if t.last_status == "PENDING")
        cluster.active_services_count = sum(
            1 for s in ecs.services.values() if s.cluster_name == name and s.status == "ACTIVE"
        )
