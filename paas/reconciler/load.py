"""Desired state for the planner, from the storage layer's load (`paas.db.state`)."""

from __future__ import annotations

from dataclasses import dataclass

from paas import clock
from paas.db import state
from paas.db.records import EnvironmentRecord
from paas.db.sql import Db
from paas.domain.manifest import Manifest
from paas.db.read_records import TaskRunRecord
from paas.planner.desired import (
    DeploymentSpec, Desired, EnvSpec, JobRecord, ReleaseSpec, TaskRun, reusable_task_version,
)


@dataclass(frozen=True)
class Loaded:
    desired: Desired
    env: EnvironmentRecord  # which driver (region, role) reaches this environment
    observation: dict  # the last observation record
    task_definitions: dict[str, str]  # "family:release" → ARN registered earlier
    gc_request_id: int | None  # the newest `paas gc` request not yet answered


def _release(r: state.ReleaseRow | None) -> ReleaseSpec | None:
    if r is None:
        return None
    return ReleaseSpec(
        id=r.id, version=r.version, image=r.image, digest=r.digest, vars=dict(r.vars), secrets=dict(r.secrets),
        formation=dict(r.formation), manifest=Manifest.from_json(r.manifest), known_good=r.known_good_at is not None,
        td_version=reusable_task_version(r.formation, r.source_version, r.source_formation),
        copied_from=r.source_version if r.kind == "rollback" else None, kind=r.kind,
    )


def task_run(r: TaskRunRecord | None) -> TaskRun | None:
    if r is None:
        return None
    return TaskRun(id=r.id, kind=r.kind, task_arn=r.task_arn, process=r.process, command=tuple(r.command),
                   created_at=r.created_at, deployment_id=r.deployment_id, job=r.job, stopped_at=r.stopped_at,
                   exit_code=r.exit_code, stop_code=r.stop_code, stopped_reason=r.stopped_reason,
                   container_reason=r.container_reason, log_tail=tuple(r.log_tail))


def _deployment(f: state.InFlight | None, rels: dict[int, state.ReleaseRow]) -> DeploymentSpec | None:
    if f is None:
        return None
    d = f.deployment
    kinds = {q.kind for q in f.steering}
    v = clock.virtual  # the planner reads every time on the clock the emulator and the worker share
    return DeploymentSpec(
        id=d.id, state=d.state, strategy=d.strategy, created_at=v(d.created_at), started_at=v(d.started_at),
        release=_release(rels[d.release_id]),
        rollback_target=_release(rels.get(d.rolled_back_to_id)) if d.rolled_back_to_id else None,
        applied={k: v(t) for k, t in f.applied.items()}, canary_steps=d.canary_steps, pause_at=d.pause_at,
        bake_seconds=d.bake_seconds, step_deadline_seconds=d.step_deadline_seconds, colours=f.colours,
        rollback_started_at=v(d.rollback_started_at), rollback_reason=d.rollback_reason, end_state=d.end_state,
        cancel_requested="cancel" in kinds, abort_requested="abort" in kinds, promote_requested="promote" in kinds,
        last_wait=f.last_wait, actor=d.actor, run_release_phase=d.run_release_phase,
        release_run=task_run(f.release_run), recorded_stops=f.recorded_stops,
        failed_tasks=f.stops_by_release,
    )


def load_desired(db: Db, app_id: int, env_id: int) -> Loaded:
    h = state.head(db, app_id, env_id)
    flights = state.in_flight(db, app_id, env_id)
    active = next((f for f in flights if f.deployment.state == "in_progress"), None)
    pending = next((f for f in reversed(flights) if f.deployment.state == "pending"), None)
    ids = [h.live_release_id, h.known_good_release_id]
    for f in (active, pending):
        if f is not None:
            ids += [f.deployment.release_id, f.deployment.rolled_back_to_id]
    rels = state.releases(db, ids)
    known_good = h.known_good_release_id
    gc_req = state.gc_request(db, h.live_deployment_id)
    observation = h.observation
    env = h.env
    tasks = state.tasks(db, app_id, env_id)
    desired = Desired(
        app=h.app.name, app_id=app_id, app_type=h.app.app_type,
        env=EnvSpec(id=env.id, name=env.name, region=env.region, cluster=env.cluster,
                    listener_arn=env.listener_arn, vpc_id=env.vpc_id, subnets=tuple(env.subnets),
                    security_groups=tuple(env.security_groups), alb_security_group=env.alb_security_group,
                    assign_public_ip=env.assign_public_ip, app_domain=env.app_domain),
        active=_deployment(active, rels), pending=_deployment(pending, rels),
        current=_release(rels.get(h.live_release_id)) if h.live_release_id else None,
        current_deployment_id=h.live_deployment_id, current_finished_at=clock.virtual(h.live_finished_at),
        known_good=_release(rels.get(known_good)) if known_good else None,
        active_colour={p: v.get("active_colour", "blue") for p, v in observation.get("processes", {}).items()},
        gc_overrides=dict(h.app.gc_policy or {}),
        gc_state={"checked_at": clock.virtual(h.gc_checked_at).isoformat() if h.gc_checked_at else None,
                  "requested_at": clock.virtual(gc_req.requested_at).isoformat() if gc_req else None,
                  "request_handled": (clock.virtual(gc_req.requested_at).isoformat()
                                      if gc_req and gc_req.id == h.gc_request_handled_id else None)},
        rule_priorities=h.rule_priorities,
        open_runs=tuple(task_run(r) for r in tasks.open_runs),
        job_schedules={j.job: JobRecord(j.job, j.expression, j.task_definition, j.release_id, j.applied_at)
                       for j in tasks.job_schedules},
        job_runs=tasks.job_runs,
    )
    return Loaded(desired=desired, env=env, observation=observation,
                  task_definitions=state.task_definitions(db, app_id, env_id),
                  gc_request_id=gc_req.id if gc_req else None)

