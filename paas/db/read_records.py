"""Typed records of deployments and of what the CLI lists and prints (history, timelines, status).

Kept apart from `paas.db.records` so the request path (`paas deploy`) does not pay for
building classes it never uses: every millisecond of import counts there (bench/cli_latency).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class AppSummary:
    name: str
    app_type: str
    team: str | None
    created_at: datetime
    releases: int
    last_deploy_at: datetime | None


@dataclass(frozen=True)
class EventRecord:
    id: int
    at: datetime
    kind: str
    step: str | None
    message: str
    data: dict
    aws_request_id: str | None
    fencing_token: int | None
    actor: str | None


@dataclass(frozen=True)
class HistoryRecord:
    """One row of `paas_deploy_history`."""

    deployment_id: int
    app: str
    environment: str
    release_version: int
    release_kind: str
    image: str
    image_digest: str | None
    strategy: str
    state: str
    actor: str
    message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: timedelta | None
    rolled_back_from_version: int | None
    rolled_back_to_version: int | None
    error: str | None


@dataclass(frozen=True)
class LiveRecord:
    """One row of `paas_current_releases`: the release an app+environment runs."""

    app: str
    environment: str
    release_version: int
    release_kind: str
    image: str
    image_digest: str | None
    deployment_id: int
    actor: str
    deployed_at: datetime
    known_good_at: datetime | None


@dataclass(frozen=True)
class ReleaseListing:
    """A release as `paas releases` lists it."""

    version: int
    kind: str
    image: str
    image_digest: str | None
    config_version: int
    formation: dict
    actor: str
    message: str | None
    created_at: datetime
    known_good_at: datetime | None
    environment: str
    copied_from_version: int | None
    deployment_id: int | None
    deployment_state: str | None


@dataclass(frozen=True)
class Observation:
    data: dict
    observed_at: datetime

@dataclass(frozen=True)
class DeploymentRecord:
    id: int
    app_id: int
    environment_id: int
    release_id: int
    strategy: str
    state: str
    actor: str
    message: str | None
    canary_steps: tuple[int, ...] | None
    pause_at: int | None
    bake_seconds: float | None
    step_deadline_seconds: float | None
    rollback_started_at: datetime | None
    rollback_reason: str | None
    end_state: str | None
    rolled_back_to_id: int | None
    current_step: str | None
    error: str | None
    superseded_by_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    run_release_phase: bool | None


@dataclass(frozen=True)
class SteeringRecord:
    """A cancel, abort, promote or gc request: who asked and when."""

    id: int
    deployment_id: int
    kind: str
    actor: str
    requested_at: datetime


@dataclass(frozen=True)
class TaskRunRecord:
    """One row of `task_runs`: a one-off, release-phase or job task, and how it ended."""

    id: int
    app_id: int
    environment_id: int
    kind: str
    release_id: int | None
    deployment_id: int | None
    job: str | None
    process: str
    command: tuple[str, ...]
    cpu: int | None
    memory: int | None
    actor: str
    task_arn: str | None
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    exit_code: int | None
    stop_code: str | None
    stopped_reason: str | None
    container_reason: str | None
    log_tail: tuple[str, ...]


@dataclass(frozen=True)
class TaskRunListing:
    """A task run as `paas tasks` / `paas history` list it: the row plus names."""

    run: TaskRunRecord
    app: str
    environment: str
    release_version: int | None


@dataclass(frozen=True)
class JobScheduleRecord:
    app_id: int
    environment_id: int
    job: str
    expression: str
    task_definition: str
    release_id: int | None
    applied_at: datetime
