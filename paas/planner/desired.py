"""Desired state as the planner sees it: loaded from the database by the reconciler."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from paas.domain.manifest import Manifest
from paas.domain.specs import family


@dataclass(frozen=True)
class ReleaseSpec:
    id: int
    version: int
    image: str
    digest: str | None
    vars: dict[str, str]
    secrets: dict[str, Any]  # NAME → {"arn": ..., "version": ...}
    formation: dict[str, dict[str, int]]
    manifest: Manifest
    known_good: bool = False
    td_version: int | None = None  # a rollback reuses the task definitions of the release it copies
    copied_from: int | None = None  # a rollback release: the version it copies
    kind: str = "deploy"  # deploy | config | secret | scale | rollback

    @property
    def task_version(self) -> int:
        return self.td_version or self.version

    def count(self, process: str) -> int:
        return int(self.formation.get(process, {}).get("count", 0))

    @property
    def processes(self) -> list[str]:
        return sorted(self.formation)

    @property
    def pinned_image(self) -> str:
        """Image pinned by digest when one is known (DESIGN.md §1: releases pin by digest)."""
        if self.digest and "@" not in self.image:
            repo = self.image.rsplit(":", 1)[0] if ":" in self.image.rsplit("/", 1)[-1] else self.image
            return f"{repo}@{self.digest}"
        return self.image


@dataclass(frozen=True)
class EnvSpec:
    id: int
    name: str
    region: str
    cluster: str
    listener_arn: str | None
    vpc_id: str | None
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]  # the tasks' groups, besides the stack's own
    alb_security_group: str | None = None  # the ALB's own group, which the task group admits
    assign_public_ip: bool = False
    app_domain: str | None = None  # apps that route no host of their own get <app>.<app_domain>


@dataclass(frozen=True)
class TaskRun:
    """A task paas started or saw (`task_runs`): a one-off (`paas run`), a release phase, a job's."""

    id: int
    kind: str  # run | release | job
    task_arn: str | None
    process: str
    command: tuple[str, ...]
    created_at: datetime
    deployment_id: int | None = None
    job: str | None = None
    stopped_at: datetime | None = None
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    container_reason: str | None = None
    log_tail: tuple[str, ...] = ()

    @property
    def stopped(self) -> bool:
        return self.stopped_at is not None

    @property
    def succeeded(self) -> bool:
        """Exited 0 on its own (a task stopped by anyone else did not finish its work)."""
        return self.stopped and self.exit_code == 0 and self.stop_code in (None, "EssentialContainerExited")

    @property
    def command_line(self) -> str:
        import shlex

        return shlex.join(self.command)


@dataclass(frozen=True)
class JobRecord:
    """A job schedule as paas last applied it (`job_schedules`)."""

    job: str
    expression: str
    task_definition: str
    release_id: int | None
    applied_at: datetime


@dataclass(frozen=True)
class DeploymentSpec:
    id: int
    state: str
    strategy: str
    created_at: datetime
    started_at: datetime | None
    release: ReleaseSpec
    rollback_target: ReleaseSpec | None = None  # set once the deployment is rolling back
    applied: dict[str, datetime] = field(default_factory=dict)  # step key → when first applied
    # what was requested (None: the manifest's or the worker's default)
    canary_steps: tuple[int, ...] | None = None
    pause_at: int | None = None
    bake_seconds: float | None = None
    step_deadline_seconds: float | None = None
    # how it is going
    colours: dict[str, str] = field(default_factory=dict)  # process → colour the new release goes to
    rollback_started_at: datetime | None = None
    rollback_reason: str | None = None
    end_state: str | None = None  # a rollback that ends 'failed' or 'superseded' rather than rolled_back
    # steering requests
    cancel_requested: bool = False
    abort_requested: bool = False
    promote_requested: bool = False
    last_wait: str | None = None  # topic of the last wait recorded in its timeline
    actor: str = ""
    run_release_phase: bool | None = None  # asked for (True) or against (False); None: the release kind decides
    release_run: TaskRun | None = None  # its release-phase task, once started
    recorded_stops: frozenset[str] = frozenset()  # task ARNs whose stop is already in its timeline
    failed_tasks: dict[int, int] = field(default_factory=dict)  # release version → its tasks recorded as failed

    @property
    def rolling_back(self) -> bool:
        return self.rollback_target is not None

    @property
    def target(self) -> ReleaseSpec:
        return self.rollback_target or self.release


@dataclass(frozen=True)
class Desired:
    app: str
    app_id: int
    app_type: str
    env: EnvSpec
    active: DeploymentSpec | None  # in_progress
    pending: DeploymentSpec | None  # newest pending request
    current: ReleaseSpec | None  # what should be running when nothing is in flight
    current_deployment_id: int | None
    current_finished_at: datetime | None
    known_good: ReleaseSpec | None  # newest known-good release other than the active one
    active_colour: dict[str, str] = field(default_factory=dict)  # process → colour serving now
    gc_overrides: dict[str, Any] = field(default_factory=dict)  # apps.gc_policy
    gc_state: dict[str, Any] = field(default_factory=dict)  # last GC check / request (observation record)
    rule_priorities: dict[str, int] = field(default_factory=dict)  # web process → its listener rule's priority
    open_runs: tuple[TaskRun, ...] = ()  # one-off and release tasks started but not recorded as stopped
    job_schedules: dict[str, JobRecord] = field(default_factory=dict)  # what paas last applied, by job
    job_runs: dict[str, bool] = field(default_factory=dict)  # recent job task ARN → recorded as stopped

    def colour(self, process: str) -> str:
        return self.active_colour.get(process, "blue")

    def td_key(self, process: str, release: ReleaseSpec) -> str:
        return f"{family(self.app, self.env.name, process)}:{release.task_version}"


@dataclass(frozen=True)
class Policy:
    poll_interval: float = 5.0
    stack_poll: float = 5.0
    rollout_deadline: float = 900.0
    bake: float = 300.0
    resync_interval: float = 300.0
    metric_period: int = 60
    minimum_healthy_percent: int = 100
    maximum_percent: int = 200
    gc_interval: float = 3600.0  # list registered task definitions at most this often per app
    gc_settings: dict[str, Any] = field(default_factory=dict)  # PAAS_GC_* overrides of the app-type defaults
    jobs_poll: float = 300.0  # how often a steady app with jobs looks for their runs (ECS keeps stopped tasks ≥ 1 h)


def reusable_task_version(formation: dict[str, dict], source_version: int | None,
                          source_formation: dict[str, dict] | None) -> int | None:
    """A rollback reuses the task definitions of the release it copies, unless its sizes differ
    (cpu and memory live in the task definition; counts do not)."""
    if source_version is None or source_formation is None:
        return None
    for p, f in formation.items():
        src = source_formation.get(p)
        if src is None or (src.get("cpu"), src.get("memory")) != (f.get("cpu"), f.get("memory")):
            return None
    return source_version
