"""The simulated AWS data plane: what ECS, ELBv2 and the ALB would do, faked on moto.

moto is a control-plane emulator: it stores ECS services but does not run them, never
health-checks targets and never publishes ALB metrics. ``DataPlane`` fills that gap the way
KWOK does for Kubernetes. On every tick it

1. re-reads the image behaviour profiles (``profiles.py``) if the file changed,
2. runs the simulated ECS service scheduler for every service (``ecs_scheduler.py``):
   deployments, task lifecycle, rolling-update bounds, circuit breaker, target
   registration and ALB health checks,
3. advances one-off tasks started with RunTask (``standalone.py``) and writes every task's
   log lines to CloudWatch Logs (``task_logs.py``),
4. fires EventBridge Scheduler schedules that are due and target ECS (``schedules.py``),
5. accrues ALB traffic routed by listener rules and publishes it, period by period and late,
   into moto's CloudWatch (``alb_metrics.py``).

Time is ``paas.clock``: with ``PAAS_CLOCK_RATE`` / ``PAAS_CLOCK_EPOCH`` set, the simulation
runs in virtual time (a 60 s metric period in 2 s at rate 30); ``tick_seconds`` stays real.

It mutates moto's in-process backends directly (``moto.backends.get_backend``), under
``moto_patches.MOTO_LOCK`` (also held by the emulator around each API request), so the
controller sees a consistent state through the AWS API and nothing else. It is a
simulation: no container, request or health check is real.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from moto.backends import get_backend

from paas import clock

from . import ecs_scheduler, moto_patches, schedules, standalone
from .alb_metrics import AlbMetricsPublisher, MetricSettings
from .moto_patches import MOTO_LOCK
from .profiles import DEFAULT_PROFILE, Profile, ProfileFile, profile_for_image
from .tasks import Timings

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class DataPlaneSettings:
    """Durations and rates of the simulation (small values for tests, defaults for dev)."""

    tick_seconds: float = 0.2  # real seconds between passes; everything else is clock (virtual) time
    requests_per_second: float = 50.0  # offered to every forwarding listener rule; 0 = no traffic
    metric_period_seconds: float = 1.0  # AWS: 60
    metric_delay_seconds: float = 1.0  # a period's last datapoints arrive this long after it ends
    route_by_rules: bool = True  # False: no shadowing, every forwarding rule gets traffic (kinder than AWS)
    latency_samples_per_period: int = 100
    metric_retention_seconds: float = 900.0
    crash_seconds: float = 0.3  # how long a crash-looping container runs before it exits
    deregistration_delay_seconds: float = 0.0
    steady_state_seconds: float = 0.5  # healthy and alone this long before COMPLETED
    stopped_task_retention_seconds: float = 600.0

    def timings(self) -> Timings:
        return Timings(
            crash_seconds=self.crash_seconds,
            deregistration_delay_seconds=self.deregistration_delay_seconds,
            steady_state_seconds=self.steady_state_seconds,
            stopped_task_retention_seconds=self.stopped_task_retention_seconds,
        )

    def metrics(self) -> MetricSettings:
        return MetricSettings(
            requests_per_second=self.requests_per_second,
            period_seconds=self.metric_period_seconds,
            latency_samples_per_period=self.latency_samples_per_period,
            retention_seconds=self.metric_retention_seconds,
            delay_seconds=self.metric_delay_seconds,
            route_by_rules=self.route_by_rules,
        )


class DataPlane:
    """Drives the simulation for one account and region of the in-process moto."""

    def __init__(
        self,
        region: str,
        account_id: str = DEFAULT_ACCOUNT_ID,
        profiles_path: str | Path | None = None,
        settings: DataPlaneSettings | None = None,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.settings = settings or DataPlaneSettings()
        self.profiles = ProfileFile(profiles_path) if profiles_path else None
        self._timings = self.settings.timings()
        self._metrics = AlbMetricsPublisher(self.settings.metrics())
        self._targets: dict[str, dict[str, str]] = {}  # tg arn -> {target id: task arn}
        self._schedules = schedules.ScheduleRunner()
        self.ticks = 0
        self.last_error: str | None = None
        moto_patches.PROFILE_LOOKUP.append(self.profile_for)  # RunTask starts tasks with it

    def profile_for(self, image: str | None) -> Profile:
        """The behaviour profile of ``image`` (the profile file is re-read when it changed)."""
        entries = self.profiles.current() if self.profiles else []
        return profile_for_image(entries, image) if entries else DEFAULT_PROFILE

    def update_settings(self, **changes: Any) -> DataPlaneSettings:
        """Change settings of a running data plane (e.g. ``requests_per_second=0``)."""
        with MOTO_LOCK:
            self.settings = replace(self.settings, **changes)
            self._timings = self.settings.timings()
            self._metrics.settings = self.settings.metrics()
        return self.settings

    # Backends are looked up every tick: moto's reset replaces them.
    def _backend(self, service: str) -> Any:
        return get_backend(service)[self.account_id][self.region]  # type: ignore[index]

    def tick(self, now: float | None = None) -> None:
        """One pass of the simulation. ``now`` is epoch seconds (default: ``paas.clock``)."""
        now = clock.time() if now is None else now
        entries = self.profiles.current() if self.profiles else []

        def profile_for(image: str | None) -> Profile:
            return profile_for_image(entries, image) if entries else DEFAULT_PROFILE

        with MOTO_LOCK:
            self._schedules.fire_due(self.account_id, self.region, now)
            ecs = self._backend("ecs")
            elbv2 = self._backend("elbv2")
            cloudwatch = self._backend("cloudwatch")
            targets: dict[str, dict[str, str]] = {}
            tasks_by_arn: dict[str, Any] = {}
            for service in list(ecs.services.values()):
                try:
                    registered = ecs_scheduler.step_service(ecs, elbv2, service, profile_for, now, self._timings)
                except Exception:  # one broken service must not stop the others
                    log.exception("data plane: service %s failed to step", getattr(service, "name", "?"))
                    continue
                for tg_arn, members in registered.items():
                    targets.setdefault(tg_arn, {}).update(members)
            ecs_scheduler.reap_orphans(ecs, elbv2, now, self._timings)
            standalone.step(ecs, profile_for, now, self._timings)
            for cluster_tasks in ecs.tasks.values():
                tasks_by_arn.update(cluster_tasks)
            ecs_scheduler.update_cluster_counts(ecs)
            self._targets = targets

            def healthy_profiles(tg_arn: str) -> list[Profile]:
                tg = elbv2.target_groups.get(tg_arn)
                if tg is None:
                    return []
                sim_members = targets.get(tg_arn, {})
                out = []
                for target_id, t in list(tg.targets.items()):
                    if t.get("_paas_state", "healthy") != "healthy":
                        continue
                    task = tasks_by_arn.get(sim_members.get(target_id, ""))
                    sim = getattr(task, "_paas_sim", None)
                    out.append(profile_for(sim.image) if sim else DEFAULT_PROFILE)
                return out

            self._metrics.maybe_publish(elbv2, cloudwatch, healthy_profiles, now)
        self.ticks += 1

    def run(self, stop_event: threading.Event) -> None:
        """Tick every ``settings.tick_seconds`` until ``stop_event`` is set."""
        while not stop_event.is_set():
            started = time.monotonic()
            try:
                self.tick()
                self.last_error = None
            except Exception as exc:  # keep simulating; report, don't die
                self.last_error = repr(exc)
                log.exception("data plane tick failed")
            elapsed = time.monotonic() - started
            stop_event.wait(max(0.0, self.settings.tick_seconds - elapsed))
