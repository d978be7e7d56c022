"""Targets of a simulated service: registration, health checks, and ECS's reading of them.

ECS registers a service task in the service's target groups when it reaches RUNNING and
deregisters it when it stops (draining for the deregistration delay first). The ALB then
health-checks it (``target_health``). ECS reads the result:

* a task behind target groups is *healthy* once it is healthy in all of them (a task with
  no load balancer is healthy when RUNNING, unless it is about to crash);
* a task that is ``unhealthy`` in a target group is replaced, unless the service's
  ``healthCheckGracePeriodSeconds`` (0 by default) since the task started has not passed yet:
  during the grace period ECS ignores ELB health checks. The task stops with stoppedReason
  "Task failed ELB health checks in (target-group ARN)" and counts as a failed task for the
  circuit breaker.

Target state lives on moto's target dicts and is reported by the patched
``FakeTargetGroup.health_for`` (``moto_patches``).
"""

from __future__ import annotations

from typing import Any, Callable

from moto.ecs.models import Service, Task

from .deployments import add_event
from .profiles import Profile
from .target_health import CheckSettings, TargetCheck, target_dict
from .tasks import SimTask


def sync_targets(elbv2: Any, service: Service, tasks: list[Task], profile_for: Callable[[str | None], Profile],
                 now: float) -> dict[str, dict[str, str]]:
    """Register RUNNING tasks, run their health checks up to ``now``, deregister stopped ones.

    Returns {target group arn: {target id: task arn}} of registered simulated targets.
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
        settings = CheckSettings.of(tg)
        port = int(lb.get("containerPort") or tg.port or 80)
        reg = registered.setdefault(tg_arn, {})
        for task in tasks:
            sim: SimTask = task._paas_sim
            if sim.stopped_at is not None or sim.running_at is None:
                if tg_arn in sim.registered:
                    t = tg.targets.pop(sim.ip, None)
                    if t is not None:
                        tg.deregistered_targets[sim.ip] = {"Id": sim.ip, "Port": t.get("Port", port)}
                    del sim.registered[tg_arn]
                    sim.checks.pop(tg_arn, None)
                    removed[tg_arn] = removed.get(tg_arn, 0) + 1
                continue
            if sim.draining_since is not None:
                tg.targets[sim.ip] = target_dict(sim.ip, sim.registered.get(tg_arn, port), None)
                reg[sim.ip] = task.task_arn
                continue
            check = sim.checks.get(tg_arn)
            if check is None:
                check = sim.checks[tg_arn] = TargetCheck(registered_at=sim.running_at, next_check=sim.running_at)
                tg.deregistered_targets.pop(sim.ip, None)
                sim.registered[tg_arn] = port
                added[tg_arn] = added.get(tg_arn, 0) + 1
            check.advance(profile_for(sim.image), sim.ready_at, now, settings)
            tg.targets[sim.ip] = target_dict(sim.ip, port, check)
            reg[sim.ip] = task.task_arn
    for tg_arn, n in added.items():
        add_event(service, f"(service {service.name}) registered {n} targets in (target-group {tg_arn})", now)
    for tg_arn, n in removed.items():
        add_event(service, f"(service {service.name}) deregistered {n} targets in (target-group {tg_arn})", now)
    return registered


def update_task_health(service: Service, tasks: list[Task]) -> list[tuple[float, Task]]:
    """ECS's view of each running task; returns (instant, task) for tasks that became healthy."""
    behind_lb = any(lb.get("targetGroupArn") for lb in (service.load_balancers or []))
    became: list[tuple[float, Task]] = []
    for task in tasks:
        sim: SimTask = task._paas_sim
        if not sim.live or sim.running_at is None:
            continue
        if behind_lb:
            ok = bool(sim.checks) and all(c.state == "healthy" for c in sim.checks.values())
            at = max((c.healthy_since or sim.running_at) for c in sim.checks.values()) if ok else None
        else:
            ok, at = not sim.fails, sim.running_at
        if ok and not sim.healthy:
            sim.healthy, sim.healthy_at = True, at
            task.health_status = "HEALTHY"
            for c in task.containers:
                c.health_status = "HEALTHY"
            became.append((at, task))  # type: ignore[arg-type]
        elif not ok and sim.healthy:
            sim.healthy = False
            task.health_status = "UNHEALTHY"
    return became


def elb_failures(service: Service, tasks: list[Task], now: float) -> list[tuple[float, Task, str, int, TargetCheck]]:
    """Tasks ECS replaces for failing ELB health checks: (instant, task, target group, port, check)."""
    grace = float(getattr(service, "health_check_grace_period_seconds", 0) or 0)
    out = []
    for task in tasks:
        sim: SimTask = task._paas_sim
        if not sim.live or sim.running_at is None:
            continue
        for tg_arn, check in sim.checks.items():
            if check.state != "unhealthy" or check.unhealthy_since is None:
                continue
            at = max(check.unhealthy_since, sim.running_at + grace)
            if now >= at:
                out.append((at, task, tg_arn, sim.registered.get(tg_arn, 0), check))
                break
    return out


def report_unhealthy(service: Service, task_id: str, tg_arn: str, port: int, check: TargetCheck, now: float) -> None:
    add_event(service, f"(service {service.name}) (task {task_id}) (port {port}) is unhealthy in (target-group "
                       f"{tg_arn}) due to (reason {check.description or 'Health checks failed'}).", now)
