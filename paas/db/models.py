"""SQLAlchemy 2.0 models: the schema's single description in Python.

Alembic migrations are the only way the schema changes; tests/test_schema_drift.py checks that
these models and the migrations agree. The request path (CLI) writes with plain SQL through
`paas.db.sql` for start-up speed; these models are what that SQL is checked against.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Float,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from paas.domain import notify, validate

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME_CHECK = "~ '^[a-z][a-z0-9-]{0,29}$'"
DEPLOYMENT_STATES = ("pending", "in_progress", "succeeded", "failed", "rolled_back", "superseded", "cancelled")
STRATEGIES = validate.STRATEGIES  # defined once, in the domain
APP_TYPES = ("web", "worker", "batch")
RELEASE_KINDS = ("deploy", "config", "scale", "rollback", "secret")


def _in(col: str, values: tuple[str, ...]) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


TSTZ = DateTime(timezone=True)
# History is ordered by these times and versions are decided in lock order, after the
# transaction began: `now()` (the transaction's start) could date v8 before v7.
CLOCK = text("clock_timestamp()")
# A finished deployment that leaves a release live: its own, or the one a rollback returned to.
LIVE_WHERE = "finished_at IS NOT NULL AND (state = 'succeeded' OR rolled_back_to_id IS NOT NULL)"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Environment(Base):
    __tablename__ = "environments"
    __table_args__ = (CheckConstraint(f"name {NAME_CHECK}", name="name_format"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    region: Mapped[str] = mapped_column(Text)
    cluster: Mapped[str] = mapped_column(Text)
    listener_arn: Mapped[str | None] = mapped_column(Text)
    vpc_id: Mapped[str | None] = mapped_column(Text)
    subnets: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    security_groups: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    role_arn: Mapped[str | None] = mapped_column(Text)
    alb_security_group: Mapped[str | None] = mapped_column(Text)  # the ALB's own; task groups admit it
    assign_public_ip: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    app_domain: Mapped[str | None] = mapped_column(Text)  # apps without a host of their own: <app>.<domain>
    require_message: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    resync_after: Mapped[datetime] = mapped_column(TSTZ, server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=func.now())


class App(Base):
    __tablename__ = "apps"
    __table_args__ = (
        CheckConstraint(f"name {NAME_CHECK}", name="name_format"),
        CheckConstraint(_in("app_type", APP_TYPES), name="app_type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    app_type: Mapped[str] = mapped_column(Text, server_default=text("'web'"))
    team: Mapped[str | None] = mapped_column(Text)
    gc_policy: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=func.now())

    processes: Mapped[list["Process"]] = relationship(lazy="raise", back_populates="app")


class Process(Base):
    """Process types an app declared most recently (its manifest); formation lives on releases."""

    __tablename__ = "processes"
    __table_args__ = (
        UniqueConstraint("app_id", "name"),
        CheckConstraint(f"name {NAME_CHECK}", name="name_format"),
        CheckConstraint("port IS NULL OR port BETWEEN 1 AND 65535", name="port_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    command: Mapped[str | None] = mapped_column(Text)
    port: Mapped[int | None] = mapped_column(Integer)
    health_check_path: Mapped[str] = mapped_column(Text, server_default=text("'/'"))

    app: Mapped[App] = relationship(lazy="raise", back_populates="processes")


class ConfigVersion(Base):
    """Env vars (plain values) and secret *references* (ARN + version), never a secret value."""

    __tablename__ = "config_versions"
    __table_args__ = (
        UniqueConstraint("app_id", "environment_id", "version"),
        CheckConstraint("version > 0", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    version: Mapped[int] = mapped_column(Integer)
    vars: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    secrets: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)


class Image(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference: Mapped[str] = mapped_column(Text, unique=True)
    repository: Mapped[str] = mapped_column(Text)
    tag: Mapped[str | None] = mapped_column(Text)
    digest: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(TSTZ, server_default=func.now())


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("app_id", "environment_id", "version"),
        CheckConstraint("version > 0", name="version_positive"),
        CheckConstraint(_in("kind", RELEASE_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(Text)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    image_digest: Mapped[str | None] = mapped_column(Text)
    config_version_id: Mapped[int] = mapped_column(ForeignKey("config_versions.id"))
    formation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONB)
    copied_from_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    known_good_at: Mapped[datetime | None] = mapped_column(TSTZ)
    actor: Mapped[str] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        CheckConstraint(_in("state", DEPLOYMENT_STATES), name="state"),
        CheckConstraint(_in("strategy", STRATEGIES), name="strategy"),
        CheckConstraint(
            "(state IN ('pending', 'in_progress')) = (finished_at IS NULL)", name="finished_iff_terminal"
        ),
        Index("ix_deployments_app_env_created", "app_id", "environment_id", text("created_at DESC")),
        Index("ix_deployments_app_created", "app_id", text("created_at DESC")),
        Index("ix_deployments_created", text("created_at DESC")),
        Index(
            "uq_deployments_one_in_progress", "app_id", "environment_id",
            unique=True, postgresql_where=text("state = 'in_progress'"),
        ),
        Index("ix_deployments_active", "app_id", "environment_id",
              postgresql_where=text("state IN ('pending', 'in_progress')")),
        Index("ix_deployments_live", "app_id", "environment_id", text("finished_at DESC"), text("id DESC"),
              postgresql_where=text(LIVE_WHERE)),
        CheckConstraint("end_state IN ('failed', 'superseded')", name="end_state"),
        CheckConstraint("pause_at IS NULL OR pause_at BETWEEN 1 AND 99", name="pause_at_range"),
        CheckConstraint("canary_steps IS NULL OR cardinality(canary_steps) BETWEEN 1 AND 20",
                        name="canary_steps_shape"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    strategy: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    actor: Mapped[str] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    # what was requested (None: the manifest's or the worker's default)
    canary_steps: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    pause_at: Mapped[int | None] = mapped_column(Integer)
    bake_seconds: Mapped[float | None] = mapped_column(Float)
    step_deadline_seconds: Mapped[float | None] = mapped_column(Float)
    run_release_phase: Mapped[bool | None] = mapped_column(Boolean)  # None: the release kind decides
    # how a rollback is going: rolled_back_to_id is set when it starts
    rollback_started_at: Mapped[datetime | None] = mapped_column(TSTZ)
    rollback_reason: Mapped[str | None] = mapped_column(Text)
    end_state: Mapped[str | None] = mapped_column(Text)  # a rollback that ends failed or superseded
    current_step: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    rolled_back_from_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    rolled_back_to_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    started_at: Mapped[datetime | None] = mapped_column(TSTZ)
    finished_at: Mapped[datetime | None] = mapped_column(TSTZ)


class DeploymentEvent(Base):
    """Append-only: a trigger rejects UPDATE and DELETE (see the first migration)."""

    __tablename__ = "deployment_events"
    __table_args__ = (
        Index("ix_deployment_events_deployment", "deployment_id", "id"),
        # a task's stop is in a deployment's timeline once, however many passes see it
        Index("uq_deployment_events_task_stopped", "deployment_id", text("(data->>'task_arn')"), unique=True,
              postgresql_where=text("kind = 'task_stopped'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    kind: Mapped[str] = mapped_column(Text)
    step: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    aws_request_id: Mapped[str | None] = mapped_column(Text)
    fencing_token: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str | None] = mapped_column(Text)


class WorkItem(Base):
    """The reconcile queue: one row per app+environment, claimed with a lease and a fence."""

    __tablename__ = "work_queue"
    __table_args__ = (
        ForeignKeyConstraint(["app_id"], ["apps.id"]),
        ForeignKeyConstraint(["environment_id"], ["environments.id"]),
        Index("ix_work_queue_run_after", "run_after"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    )

    app_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_after: Mapped[datetime] = mapped_column(TSTZ, server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    lease_owner: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[datetime | None] = mapped_column(TSTZ)
    fencing_token: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    enqueued_at: Mapped[datetime] = mapped_column(TSTZ, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TSTZ, server_default=func.now())


class Observation(Base):
    """What the last reconcile saw in AWS for an app+environment (for `paas status`)."""

    __tablename__ = "observations"
    __table_args__ = (
        ForeignKeyConstraint(["app_id"], ["apps.id"]),
        ForeignKeyConstraint(["environment_id"], ["environments.id"]),
    )

    app_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    observed_at: Mapped[datetime] = mapped_column(TSTZ)
    gc_checked_at: Mapped[datetime | None] = mapped_column(TSTZ)  # last listing of registered revisions
    gc_request_handled_id: Mapped[int | None] = mapped_column(BigInteger)  # the `paas gc` request it answered


class DeploymentColour(Base):
    """Which colour a progressive deployment's new release goes to, per process (chosen once)."""

    __tablename__ = "deployment_colours"
    __table_args__ = (CheckConstraint("colour IN ('blue', 'green')", name="colour"),)

    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), primary_key=True)
    process: Mapped[str] = mapped_column(Text, primary_key=True)
    colour: Mapped[str] = mapped_column(Text)


class DeploymentRequest(Base):
    """A steering request on a deployment (cancel, abort, promote, gc): inserted, never updated.

    Who asked and when is the record; the worker acts on it at its next safe point.
    """

    __tablename__ = "deployment_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('cancel', 'abort', 'promote', 'gc')", name="kind"),
        Index("uq_deployment_requests_once", "deployment_id", "kind", unique=True,
              postgresql_where=text("kind <> 'gc'")),
        Index("ix_deployment_requests_deployment", "deployment_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    kind: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)


class TaskDefinition(Base):
    """Task-definition ARNs paas registered, by family and release: immutable facts AWS told us."""

    __tablename__ = "task_definitions"
    __table_args__ = (
        ForeignKeyConstraint(["app_id"], ["apps.id"]),
        ForeignKeyConstraint(["environment_id"], ["environments.id"]),
    )

    app_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family: Mapped[str] = mapped_column(Text, primary_key=True)
    task_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    arn: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)


class ListenerRule(Base):
    """The priority allocated to a web process's rule, from its listener's free ones."""

    __tablename__ = "listener_rules"
    __table_args__ = (
        ForeignKeyConstraint(["app_id"], ["apps.id"]),
        ForeignKeyConstraint(["environment_id"], ["environments.id"]),
        UniqueConstraint("listener_arn", "priority"),
        CheckConstraint("priority BETWEEN 1 AND 50000", name="priority_range"),
    )

    app_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process: Mapped[str] = mapped_column(Text, primary_key=True)
    listener_arn: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer)
    allocated_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)


TASK_RUN_KINDS = ("run", "release", "job")


class TaskRun(Base):
    """A task paas started or saw: `paas run`, a release phase, a scheduled job's. History: a
    trigger keeps who ran what, and a stopped run, unchanged (migration 0006)."""

    __tablename__ = "task_runs"
    __table_args__ = (
        ForeignKeyConstraint(["app_id"], ["apps.id"]),
        ForeignKeyConstraint(["environment_id"], ["environments.id"]),
        CheckConstraint(_in("kind", TASK_RUN_KINDS), name="kind"),
        CheckConstraint("(kind = 'job') = (job IS NOT NULL)", name="job_named"),
        CheckConstraint("(kind = 'release') = (deployment_id IS NOT NULL)", name="release_of_deployment"),
        Index("ix_task_runs_app_env_created", "app_id", "environment_id", text("created_at DESC")),
        Index("ix_task_runs_created", text("created_at DESC")),
        Index("ix_task_runs_open", "app_id", "environment_id",
              postgresql_where=text("stopped_at IS NULL AND task_arn IS NOT NULL")),
        Index("uq_task_runs_one_release_phase", "deployment_id", unique=True,
              postgresql_where=text("kind = 'release'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    app_id: Mapped[int] = mapped_column(Integer)
    environment_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(Text)
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    job: Mapped[str | None] = mapped_column(Text)
    process: Mapped[str] = mapped_column(Text)
    command: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    cpu: Mapped[int | None] = mapped_column(Integer)
    memory: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(Text)
    task_arn: Mapped[str | None] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    started_at: Mapped[datetime | None] = mapped_column(TSTZ)
    stopped_at: Mapped[datetime | None] = mapped_column(TSTZ)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    stop_code: Mapped[str | None] = mapped_column(Text)
    stopped_reason: Mapped[str | None] = mapped_column(Text)
    container_reason: Mapped[str | None] = mapped_column(Text)
    log_tail: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))


class JobSchedule(Base):
    """A job's EventBridge Scheduler schedule as a worker last applied it."""

    __tablename__ = "job_schedules"
    __table_args__ = (
        ForeignKeyConstraint(["app_id"], ["apps.id"]),
        ForeignKeyConstraint(["environment_id"], ["environments.id"]),
    )

    app_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(Text, primary_key=True)
    expression: Mapped[str] = mapped_column(Text)
    task_definition: Mapped[str] = mapped_column(Text)
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    applied_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)


NOTIFY_EVENTS = notify.EVENTS  # defined once, in the domain
_NOTIFY_EVENT_ARRAY = "ARRAY[" + ", ".join(f"'{e}'" for e in NOTIFY_EVENTS) + "]::text[]"


class NotifyTarget(Base):
    """A webhook of an app (every environment, or one). Its URL and signing secret are SSM
    SecureString parameters, named here; `url_display` is the redacted scheme://host/…."""

    __tablename__ = "notify_targets"
    __table_args__ = (
        CheckConstraint(_in("format", notify.FORMATS), name="format"),
        CheckConstraint(f"cardinality(events) > 0 AND events <@ {_NOTIFY_EVENT_ARRAY}", name="known_events"),
        CheckConstraint("(removed_at IS NULL) = (removed_by IS NULL)", name="removed_by"),
        Index("ix_notify_targets_app", "app_id", postgresql_where=text("removed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    environment_id: Mapped[int | None] = mapped_column(ForeignKey("environments.id"))
    store_environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    format: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    url_param: Mapped[str] = mapped_column(Text, unique=True)
    secret_param: Mapped[str] = mapped_column(Text)
    url_display: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    removed_at: Mapped[datetime | None] = mapped_column(TSTZ)
    removed_by: Mapped[str | None] = mapped_column(Text)


class NotifyOutbox(Base):
    """One notification to one target, written in the transaction of the event; delivered at
    least once by the workers (paas/reconciler/notify.py), `key` its Idempotency-Key."""

    __tablename__ = "notify_outbox"
    __table_args__ = (
        CheckConstraint(_in("state", notify.DELIVERY_STATES), name="state"),
        CheckConstraint(f"event = ANY({_NOTIFY_EVENT_ARRAY})", name="known_event"),
        CheckConstraint("(state = 'pending') = (finished_at IS NULL)", name="finished_iff_done"),
        Index("ix_notify_outbox_pending", "target_id", "id", postgresql_where=text("state = 'pending'")),
        Index("ix_notify_outbox_target", "target_id", text("id DESC")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(UUID(as_uuid=False), unique=True, server_default=text("gen_random_uuid()"))
    target_id: Mapped[int] = mapped_column(ForeignKey("notify_targets.id"))
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    environment_id: Mapped[int | None] = mapped_column(ForeignKey("environments.id"))
    event: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    lease_owner: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[datetime | None] = mapped_column(TSTZ)
    claim_token: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    finished_at: Mapped[datetime | None] = mapped_column(TSTZ)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class Pipeline(Base):
    """An app's delivery pipeline (paas.toml's [pipeline]) with its own due time and lease."""

    __tablename__ = "pipelines"
    __table_args__ = (
        ForeignKeyConstraint(["app_id"], ["apps.id"]),
        Index("ix_pipelines_run_after", "run_after"),
    )

    app_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    updated_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    run_after: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    lease_owner: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[datetime | None] = mapped_column(TSTZ)
    resync_after: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)


PUSH_STATES = ("active", "failed", "superseded", "released")


class ImagePush(Base):
    """A pushed image that counts for an app's pipeline, recorded once per digest."""

    __tablename__ = "image_pushes"
    __table_args__ = (
        ForeignKeyConstraint(["app_id"], ["apps.id"]),
        UniqueConstraint("app_id", "digest"),
        CheckConstraint(_in("source", ("event", "resync")), name="source"),
        CheckConstraint(_in("state", PUSH_STATES), name="state"),
        Index("ix_image_pushes_active", "app_id", postgresql_where=text("state = 'active'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    app_id: Mapped[int] = mapped_column(Integer)
    repository: Mapped[str] = mapped_column(Text)
    tag: Mapped[str | None] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(Text)
    image: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    pushed_at: Mapped[datetime | None] = mapped_column(TSTZ)
    queued_at: Mapped[datetime | None] = mapped_column(TSTZ)
    seen_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    state: Mapped[str] = mapped_column(Text, server_default=text("'active'"))
    ended_at: Mapped[datetime | None] = mapped_column(TSTZ)
    end_reason: Mapped[str | None] = mapped_column(Text)
    approval_notified: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))


class ImageCheck(Base):
    """The integration tests of a push: one ECS task of the image, and how it ended."""

    __tablename__ = "image_checks"
    __table_args__ = (
        ForeignKeyConstraint(["app_id"], ["apps.id"]),
        ForeignKeyConstraint(["environment_id"], ["environments.id"]),
        CheckConstraint(_in("state", ("running", "passed", "failed")), name="state"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    push_id: Mapped[int] = mapped_column(ForeignKey("image_pushes.id"), unique=True)
    app_id: Mapped[int] = mapped_column(Integer)
    environment_id: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(Text)
    command: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    task_definition_arn: Mapped[str | None] = mapped_column(Text)
    task_arn: Mapped[str | None] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    started_at: Mapped[datetime | None] = mapped_column(TSTZ)
    finished_at: Mapped[datetime | None] = mapped_column(TSTZ)
    state: Mapped[str] = mapped_column(Text, server_default=text("'running'"))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    stop_code: Mapped[str | None] = mapped_column(Text)
    stopped_reason: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    log_tail: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))


class Promotion(Base):
    """A push promoted into a stage: the deployment it created and the evidence it was made on."""

    __tablename__ = "promotions"
    __table_args__ = (
        ForeignKeyConstraint(["app_id"], ["apps.id"]),
        ForeignKeyConstraint(["environment_id"], ["environments.id"]),
        ForeignKeyConstraint(["upstream_environment_id"], ["environments.id"]),
        UniqueConstraint("push_id", "environment_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    push_id: Mapped[int] = mapped_column(ForeignKey("image_pushes.id"))
    app_id: Mapped[int] = mapped_column(Integer)
    environment_id: Mapped[int] = mapped_column(Integer)
    stage: Mapped[int] = mapped_column(Integer)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    upstream_environment_id: Mapped[int | None] = mapped_column(Integer)
    upstream_release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    upstream_known_good_at: Mapped[datetime | None] = mapped_column(TSTZ)
    approver: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None] = mapped_column(TSTZ)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))


class PipelineApproval(Base):
    """`paas approve`: a person lets a push into a stage that asks for approval."""

    __tablename__ = "pipeline_approvals"
    __table_args__ = (
        ForeignKeyConstraint(["environment_id"], ["environments.id"]),
        UniqueConstraint("push_id", "environment_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    push_id: Mapped[int] = mapped_column(ForeignKey("image_pushes.id"))
    environment_id: Mapped[int] = mapped_column(Integer)
    approver: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)


class AwsPace(Base):
    """One AWS operation's request pace for one account, shared by every worker (paas/db/paces.py)."""

    __tablename__ = "aws_paces"
    __table_args__ = (
        CheckConstraint("floor > 0 AND rate >= floor AND ceiling >= floor", name="rate_range"),
        CheckConstraint("length(account) <= 512 AND length(operation) <= 128", name="key_length"),
    )

    account: Mapped[str] = mapped_column(Text, primary_key=True)
    operation: Mapped[str] = mapped_column(Text, primary_key=True)
    rate: Mapped[float] = mapped_column(Float)
    ceiling: Mapped[float] = mapped_column(Float)
    floor: Mapped[float] = mapped_column(Float)
    next_slot: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    last_cut: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    started_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    ok_since: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
    ok_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    slow_start: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    throttles: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(TSTZ, server_default=CLOCK)
