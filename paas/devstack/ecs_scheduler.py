"""A simulated ECS service scheduler acting on moto's in-process ECS and ELBv2 backends.

moto stores ECS services but never runs them: no task starts, a deployment never
progresses, no target is registered. This module plays the part of the ECS service
scheduler so that, seen through the AWS API, services behave like real ones. **It is a
simulation**: no container runs anywhere; a "task" is a moto ``Task`` record whose state
``tasks`` advances according to the image's behaviour profile (``profiles``).

What is simulated (rolling update, ``deploymentController: ECS`` only):

* Deployments (``deployments``): every CreateService / UpdateService that changes the task
  definition (or sets ``forceNewDeployment``) starts a new PRIMARY deployment synchronously.
* Tasks (``tasks``): ``group`` = ``service:<name>``, ``startedBy`` = deployment id;
  PROVISIONING -> PENDING -> RUNNING, registered in the service's target groups when
  RUNNING, health-checked with the target group's settings (``service_targets``,
  ``target_health``); crashing tasks stop with "Essential container in task exited".
* Tasks that fail ELB health checks are replaced once ``healthCheckGracePeriodSeconds``
  (default 0) after they started has passed ("Task failed ELB health checks in
  (target-group ...)").
* Rolling update bounds: new tasks start only while (all non-stopped tasks) <=
  floor(desired * maximumPercent / 100); old tasks stop only while healthy tasks stay >=
  ceil(desired * minimumHealthyPercent / 100) (unhealthy old tasks may always stop).
* Circuit breaker: ``failedTasks`` counts consecutive failures of the PRIMARY deployment
  (a task that exits, fails to start or is replaced for failing health checks); a task of
  the deployment becoming healthy resets it to 0 unless ``resetOnHealthyTask`` is false.
  At the threshold (``deployments.circuit_breaker_threshold``) the deployment becomes FAILED
  and launches no more tasks; with ``rollback`` the last deployment that completed becomes
  PRIMARY again. Failures and recoveries are applied in the order they happened in
  simulated time, whatever the tick that noticed them.
* A deployment is COMPLETED once it has ``desiredCount`` healthy tasks, no other deployment
  has tasks left, and that has held for ``steady_state_seconds``; drained ACTIVE deployments
  are then removed. Service ``events`` carry ECS-style messages.

Not simulated: placement, capacity, CODE_DEPLOY/EXTERNAL controllers, task sets, restart
back-off, container instances, container health checks, multiple containers per task
(moto's Task models only the first container; the profile is chosen by the first essential
container's image).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from moto.ecs.models import EC2ContainerServiceBackend, Service, Task

from . import tasks as sim_tasks
from .deployments import (  # noqa: F401  (re-exported: moto_patches and tests use them from here)
    add_event,
    adopt_service,
    circuit_breaker_threshold,
    deployment_configuration,
    make_deployment,
    normalize_configuration,
    on_service_updated,
    resets_on_healthy_task,
    resolve_task_definition,
    sim_of,
    start_deployment,
)
from .profiles import Profile
from .service_targets import elb_failures, report_unhealthy, sync_targets, update_task_health
from .tasks import SimTask, Timings, task_id, ts

SchedulerTimings = Timings  # the name the data plane used before tasks.py existed
ProfileLookup = Callable[[str | None], Profile]


# service_tasks is called for every service on every tick: scanning all of a cluster's tasks
# each time made a tick O(services × tasks) (seconds at 1,000 services, starving the API).
# Index tasks by simulated service per cluster; rebuild only when the task set changed.
_TASK_SET_VERSION = [0]
_INDEX: dict[str, tuple[tuple, dict[str, list[Task]]]] = {}


def tasks_changed() -> None:
    _TASK_SET_VERSION[0] += 1


def service_tasks(ecs: EC2ContainerServiceBackend, service: Service) -> list[Task]:
    state = sim_of(service)
    if state is None:
        return []
    cluster_tasks = ecs.tasks.get(service.cluster_name, {})
    stamp = (_TASK_SET_VERSION[0], id(cluster_tasks), len(cluster_tasks))
    cached = _INDEX.get(service.cluster_name)
    if cached is None or cached[0] != stamp:
        by_uid: dict[str, list[Task]] = {}
        for t in cluster_tasks.values():
            sim = getattr(t, "_paas_sim", None)
            if sim is not None and sim.service_uid is not None:
                by_uid.setdefault(sim.service_uid, []).append(t)
        cached = (stamp, by_uid)
        _INDEX[service.cluster_name] = cached
    return list(cached[1].get(state.uid, ()))


def launch_task(ecs: EC2ContainerServiceBackend, service: Service, deployment: dict[str, Any], now: float,
                profile_for: ProfileLookup) -> Task | None:
    """Create one PROVISIONING simulated task for ``deployment``; None if it cannot be placed."""
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
    sim_tasks.simulate(ecs, task, task_definition, "service", now, profile_for,
                       service_uid=sim_of(service).uid, service_name=service.name,  # type: ignore[union-attr]
                       deployment_id=deployment["id"])
    ecs.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    tasks_changed()
    return task


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
            running[sim.deployment_id] = running.get(sim.deployment_id, 0) + 1  # type: ignore[index]
        elif t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING"):
            pending[sim.deployment_id] = pending.get(sim.deployment_id, 0) + 1  # type: ignore[index]
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


def _trip_breaker(service: Service, state: Any, deployments: dict[str, dict[str, Any]], order: list[str],
                  primary: dict[str, Any], desired: int, cb: dict[str, Any], now: float) -> tuple[list[str], dict[str, Any]]:
    """Mark the primary FAILED; with rollback, make the last completed deployment primary."""
    name = service.name
    primary["rolloutState"] = "FAILED"
    primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
    primary["updatedAt"] = ts(now)
    add_event(service, f"(service {name}) (deployment {primary['id']}) deployment failed: tasks failed to start.", now)
    target = state.last_completed
    if not (cb.get("rollback") and target is not None and target["taskDefinition"] != primary["taskDefinition"]):
        return order, primary
    primary["status"] = "ACTIVE"
    if target["id"] in deployments:
        back = deployments[target["id"]]
        back.update(status="PRIMARY", rolloutState="IN_PROGRESS", desiredCount=desired, updatedAt=ts(now),
                    failedTasks=0, rolloutStateReason=f"ECS deployment {back['id']} in progress.")
        order = [back["id"], *[i for i in order if i != back["id"]]]
    else:
        back = make_deployment(service, target["taskDefinition"], now, desired)
        deployments[back["id"]] = back
        order = [back["id"], *order]
    service.task_definition = back["taskDefinition"]
    state.steady_since = None
    add_event(service, f"(service {name}) rolling back to deployment {target['id']}.", now)
    return order, back


def step_service(
    ecs: EC2ContainerServiceBackend,
    elbv2: Any,
    service: Service,
    profile_for: ProfileLookup,
    now: float,
    timings: Timings,
) -> dict[str, dict[str, str]]:
    """One scheduler pass over one service. Returns the registered simulated targets."""
    state = adopt_service(ecs, service, now)
    if state is None:
        return {}
    name = service.name
    tasks = service_tasks(ecs, service)

    # A task-definition change that bypassed the API hooks (e.g. CloudFormation).
    resolved = resolve_task_definition(ecs, service.task_definition)
    if service.deployments and resolved != service.deployments[0]["taskDefinition"]:
        start_deployment(service, now, resolved)

    deployments = {d["id"]: dict(d) for d in service.deployments}
    order = [d["id"] for d in service.deployments]
    happened: list[tuple[float, int, str | None]] = []  # (instant, 0 healthy / 1 failed, deployment id)

    # 1. Task lifecycle.
    for task in tasks:
        sim: SimTask = task._paas_sim
        for at, _ in sim_tasks.advance(ecs, task, profile_for(sim.image), now, timings):
            happened.append((at, 1, sim.deployment_id))

    # 2. Service deleted (INACTIVE / DRAINING): stop everything.
    if service.status != "ACTIVE":
        for task in tasks:
            if task._paas_sim.live:
                sim_tasks.stop(ecs, task, now, "Service is being deleted", timings)
        service.deployments = [deployments[i] for i in order]
        sync_targets(elbv2, service, tasks, profile_for, now)
        refresh_counts(ecs, service)
        return {}

    # 3. Targets, health checks, and ECS's reading of them.
    sync_targets(elbv2, service, tasks, profile_for, now)
    for at, task in update_task_health(service, tasks):
        happened.append((at, 0, task._paas_sim.deployment_id))
    for at, task, tg_arn, port, check in elb_failures(service, tasks, now):
        report_unhealthy(service, task_id(task), tg_arn, port, check, now)
        sim_tasks.stop(ecs, task, at, f"Task failed ELB health checks in (target-group {tg_arn})", timings)
        happened.append((at, 1, task._paas_sim.deployment_id))

    primary = deployments[order[0]]
    desired = int(service.desired_count or 0)
    cfg = deployment_configuration(service)
    cb = cfg["deploymentCircuitBreaker"]

    # 4. Failure counts in the order things happened; 5. the circuit breaker.
    reset = resets_on_healthy_task(cb)
    for at, failed, dep_id in sorted(happened, key=lambda h: (h[0], h[1])):
        dep = deployments.get(dep_id or "")
        if dep is None:
            continue
        if failed:
            dep["failedTasks"] = dep.get("failedTasks", 0) + 1
        elif reset:
            dep["failedTasks"] = 0
        dep["updatedAt"] = ts(at)
        if (dep is primary and primary["rolloutState"] == "IN_PROGRESS" and cb.get("enable")
                and primary["failedTasks"] >= circuit_breaker_threshold(desired, cb)):
            order, primary = _trip_breaker(service, state, deployments, order, primary, desired, cb, at)
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

    # 6a. Scale the primary down if it has more than desired.
    if len(primary_live) > desired:
        for t in _pick_to_stop(primary_live, len(primary_live) - desired):
            sim_tasks.stop(ecs, t, now, f"Scaling activity initiated by (deployment {primary['id']})", timings)
            stopped_now.append(t)
        primary_live = [t for t in primary_live if t not in stopped_now]

    # 6b. Stop old tasks while enough healthy tasks remain.
    if old_live and primary["rolloutState"] != "FAILED":
        budget = len(healthy) - min_healthy
        for t in _pick_to_stop(old_live, len(old_live)):
            if t._paas_sim.healthy:
                if budget <= 0:
                    continue
                budget -= 1
            sim_tasks.stop(ecs, t, now, f"Scaling activity initiated by (deployment {primary['id']})", timings)
            stopped_now.append(t)
        old_live = [t for t in old_live if t not in stopped_now]
    if stopped_now:
        ids = " ".join(f"(task {task_id(t)})" for t in stopped_now)
        add_event(service, f"(service {name}) has stopped {len(stopped_now)} running tasks: {ids}.", now)

    # 6c. Start primary tasks within maximumPercent.
    if primary["rolloutState"] != "FAILED":
        room = max_total - (len(primary_live) + len(old_live))
        if max_total <= 0 or (not old_live and max_total < desired):
            room = desired - len(primary_live)  # maximumPercent cannot block reaching desired alone
        to_start = max(0, min(desired - len(primary_live), room))
        started = [t for t in (launch_task(ecs, service, primary, now, profile_for) for _ in range(to_start))
                   if t is not None]
        if started:
            ids = " ".join(f"(task {task_id(t)})" for t in started)
            add_event(service, f"(service {name}) has started {len(started)} tasks: {ids}.", now)
            tasks = tasks + started

    # 7. Targets (again: stopped tasks leave at once) and counts.
    registered = sync_targets(elbv2, service, tasks, profile_for, now)
    refresh_counts(ecs, service)

    # Old deployments' desiredCount follows their remaining tasks, as in ECS.
    live_by_dep: dict[str, int] = {}
    for t in tasks:
        if t._paas_sim.live:
            live_by_dep[t._paas_sim.deployment_id] = live_by_dep.get(t._paas_sim.deployment_id, 0) + 1
    deps = []
    for i, d in enumerate(service.deployments):
        d = dict(d, desiredCount=desired if i == 0 else live_by_dep.get(d["id"], 0))
        deps.append(d)
    service.deployments = deps
    primary = deps[0]

    # 8. Completion.
    primary_healthy = sum(1 for t in tasks if t._paas_sim.live and t._paas_sim.healthy
                          and t._paas_sim.deployment_id == primary["id"])
    others_live = sum(live_by_dep.get(d["id"], 0) for d in deps[1:])
    steady = primary_healthy == desired and live_by_dep.get(primary["id"], 0) == desired and others_live == 0
    if primary["rolloutState"] == "IN_PROGRESS" and steady:
        if state.steady_since is None:
            state.steady_since = now
        if now - state.steady_since >= timings.steady_state_seconds:
            primary = dict(primary, rolloutState="COMPLETED", rolloutStateReason=f"ECS deployment {primary['id']} completed.",
                           updatedAt=ts(now))
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

    forget_old_stopped_tasks(ecs, service.cluster_name, tasks, now, timings)
    return registered


def forget_old_stopped_tasks(ecs: EC2ContainerServiceBackend, cluster_name: str, tasks: list[Task], now: float,
                             timings: Timings, keep: int = 100) -> None:
    """ECS forgets stopped tasks after a while; keeps crash loops from growing memory."""
    cluster_tasks = ecs.tasks.get(cluster_name, {})
    stopped = sorted((t for t in tasks if t._paas_sim.stopped_at is not None), key=lambda t: t._paas_sim.stopped_at)
    excess = max(0, len(stopped) - keep)
    for i, t in enumerate(stopped):
        if i < excess or now - t._paas_sim.stopped_at > timings.stopped_task_retention_seconds:
            cluster_tasks.pop(t.task_arn, None)
            tasks_changed()


def reap_orphans(ecs: EC2ContainerServiceBackend, elbv2: Any, now: float, timings: Timings) -> None:
    """Stop simulated tasks whose service object is gone (e.g. deleted, then re-created
    under the same name, which makes moto drop the old object) and deregister them."""
    alive = {s._paas_sim.uid for s in ecs.services.values() if getattr(s, "_paas_sim", None) is not None}
    for cluster_tasks in ecs.tasks.values():
        for task in list(cluster_tasks.values()):
            sim = getattr(task, "_paas_sim", None)
            if sim is None or sim.service_uid is None or sim.service_uid in alive:
                continue
            if sim.stopped_at is None:
                sim.draining_since = None
                sim_tasks.stop(ecs, task, now, "Service was deleted", timings)
                if sim.stopped_at is None:
                    sim_tasks.finish_stop(ecs, task, now)
            for tg_arn in list(sim.registered):
                tg = elbv2.target_groups.get(tg_arn) if elbv2 is not None else None
                if tg is not None and tg.targets.pop(sim.ip, None) is not None:
                    tg.deregistered_targets[sim.ip] = {"Id": sim.ip, "Port": sim.registered[tg_arn]}
                del sim.registered[tg_arn]
            sim.checks.clear()
            if now - sim.stopped_at > timings.stopped_task_retention_seconds:  # type: ignore[operator]
                cluster_tasks.pop(task.task_arn, None)
                tasks_changed()


def update_cluster_counts(ecs: EC2ContainerServiceBackend) -> None:
    """runningTasksCount / pendingTasksCount / activeServicesCount from the tasks we hold."""
    for name, cluster in ecs.clusters.items():
        tasks = list(ecs.tasks.get(name, {}).values())
        cluster.running_tasks_count = sum(1 for t in tasks if t.last_status == "RUNNING")
        cluster.pending_tasks_count = sum(1 for t in tasks if t.last_status in ("PROVISIONING", "PENDING"))
        cluster.active_services_count = sum(
            1 for s in ecs.services.values() if s.cluster_name == name and s.status == "ACTIVE"
        )
