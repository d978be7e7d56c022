"""The desired-state load: what one reconcile pass reads about one app+environment.

A fixed handful of statements whatever the app's size, in the caller's (read) transaction. The
release that is live comes from `paas_live_releases`, the same definition the CLI and the ops
views use.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from paas.db.read_records import DeploymentRecord, JobScheduleRecord, SteeringRecord, TaskRunRecord
from paas.db.records import AppRecord, EnvironmentRecord, of
from paas.db.sql import Db


@dataclass(frozen=True)
class ReleaseRow:
    """A release with what a task definition needs: image, digest, env vars, secret references."""

    id: int
    version: int
    kind: str
    image: str
    digest: str | None
    vars: dict
    secrets: dict
    formation: dict
    manifest: dict
    known_good_at: datetime | None
    source_version: int | None  # the release a rollback copies
    source_formation: dict | None


@dataclass(frozen=True)
class Head:
    app: AppRecord
    env: EnvironmentRecord
    observation: dict
    gc_checked_at: datetime | None
    gc_request_handled_id: int | None
    live_deployment_id: int | None
    live_release_id: int | None
    live_finished_at: datetime | None
    known_good_release_id: int | None  # newest known-good release other than the one in progress
    rule_priorities: dict[str, int]  # web process → its rule's priority on the environment's listener


@dataclass(frozen=True)
class InFlight:
    deployment: DeploymentRecord
    colours: dict[str, str]
    steering: tuple[SteeringRecord, ...]
    applied: dict[str, datetime]  # step key → when first applied (in_progress only)
    last_wait: str | None
    release_run: TaskRunRecord | None = None  # its release-phase task, once started
    recorded_stops: frozenset[str] = frozenset()  # task ARNs of its `task_stopped` events
    stops_by_release: dict[int, int] = field(default_factory=dict)  # release version → its tasks' recorded stops


@dataclass(frozen=True)
class Tasks:
    """What a pass needs about tasks: runs still open, job schedules applied, recent job runs."""

    open_runs: tuple[TaskRunRecord, ...]
    job_schedules: tuple[JobScheduleRecord, ...]
    job_runs: dict[str, bool]  # job task ARN (last two hours) → recorded as stopped


_HEAD = """
SELECT row_to_json(a) AS app,
       row_to_json(e) AS env,
       o.data AS observation, o.gc_checked_at, o.gc_request_handled_id,
       l.deployment_id AS live_deployment_id, l.release_id AS live_release_id, l.deployed_at AS live_finished_at,
       (SELECT r.id FROM releases r WHERE r.app_id = a.id AND r.environment_id = e.id
           AND r.known_good_at IS NOT NULL
           AND r.id NOT IN (SELECT x.release_id FROM deployments x WHERE x.app_id = a.id
                               AND x.environment_id = e.id AND x.state = 'in_progress')
         ORDER BY r.version DESC LIMIT 1) AS known_good_release_id,
       (SELECT jsonb_object_agg(lr.process, lr.priority) FROM listener_rules lr
         WHERE lr.app_id = a.id AND lr.environment_id = e.id AND lr.listener_arn = e.listener_arn) AS rule_priorities
  FROM apps a
  CROSS JOIN (SELECT id, name, region, cluster, listener_arn, vpc_id, subnets, security_groups, role_arn,
                     alb_security_group, assign_public_ip, app_domain, require_message, created_at
                FROM environments WHERE id = %(e)s) e
  LEFT JOIN observations o ON o.app_id = a.id AND o.environment_id = e.id
  LEFT JOIN paas_live_releases l ON l.app_id = a.id AND l.environment_id = e.id
 WHERE a.id = %(a)s
"""


def head(db: Db, app_id: int, env_id: int) -> Head:
    r = db.one(_HEAD, a=app_id, e=env_id)
    app = of(AppRecord, {**r.app, "created_at": datetime.fromisoformat(r.app["created_at"])})
    env = of(EnvironmentRecord, {**r.env, "created_at": datetime.fromisoformat(r.env["created_at"])})
    return Head(app=app, env=env, observation=dict(r.observation or {}), gc_checked_at=r.gc_checked_at,
                gc_request_handled_id=r.gc_request_handled_id, live_deployment_id=r.live_deployment_id,
                live_release_id=r.live_release_id, live_finished_at=r.live_finished_at,
                known_good_release_id=r.known_good_release_id, rule_priorities=dict(r.rule_priorities or {}))


def in_flight(db: Db, app_id: int, env_id: int) -> list[InFlight]:
    """Pending and in-progress deployments, oldest first, each with its colours, steering
    requests, applied steps (in progress only) and the last wait it recorded."""
    rows = db.all(
        """
        SELECT d.*,
               COALESCE((SELECT jsonb_object_agg(c.process, c.colour) FROM deployment_colours c
                          WHERE c.deployment_id = d.id), '{}'::jsonb) AS colour_map,
               COALESCE((SELECT jsonb_agg(row_to_json(q) ORDER BY q.id) FROM deployment_requests q
                          WHERE q.deployment_id = d.id), '[]'::jsonb) AS steering_rows,
               CASE WHEN d.state = 'in_progress' THEN
                   COALESCE((SELECT jsonb_object_agg(x.step, x.at) FROM (
                                SELECT step, min(at) AS at FROM deployment_events
                                 WHERE deployment_id = d.id AND kind = 'step' GROUP BY step) x), '{}'::jsonb)
               END AS applied_steps,
               (SELECT ev.data->>'topic' FROM deployment_events ev
                 WHERE ev.deployment_id = d.id AND ev.kind IN ('progress', 'gate')
                 ORDER BY ev.id DESC LIMIT 1) AS last_wait,
               (SELECT row_to_json(t) FROM task_runs t WHERE t.deployment_id = d.id AND t.kind = 'release')
                   AS release_run,
               COALESCE((SELECT jsonb_agg(jsonb_build_array(ev.data->>'task_arn', ev.data->'release'))
                           FROM deployment_events ev
                          WHERE ev.deployment_id = d.id AND ev.kind = 'task_stopped'), '[]'::jsonb) AS stops
          FROM deployments d
         WHERE d.app_id = %(a)s AND d.environment_id = %(e)s AND d.state IN ('pending', 'in_progress')
         ORDER BY d.id
        """,
        a=app_id, e=env_id,
    )
    out = []
    for r in rows:
        steering = tuple(of(SteeringRecord, {**q, "requested_at": datetime.fromisoformat(q["requested_at"])})
                         for q in r.steering_rows)
        applied = {k: datetime.fromisoformat(v) for k, v in (r.applied_steps or {}).items()}
        out.append(InFlight(of(DeploymentRecord, r), dict(r.colour_map), steering, applied, r.last_wait,
                            _run_from_json(r.release_run), frozenset(arn for arn, _ in r.stops if arn),
                            dict(Counter(rel for _, rel in r.stops if isinstance(rel, int)))))
    return out


_RUN_TIMES = ("created_at", "started_at", "stopped_at")


def _run_from_json(j: dict | None) -> TaskRunRecord | None:
    if j is None:
        return None
    return of(TaskRunRecord, {**j, **{k: datetime.fromisoformat(j[k]) if j.get(k) else None for k in _RUN_TIMES}})


def tasks(db: Db, app_id: int, env_id: int) -> Tasks:
    """One statement: open runs, applied job schedules and the last two hours' job runs."""
    r = db.one(
        """
        SELECT ARRAY(SELECT row_to_json(t) FROM task_runs t
                      WHERE t.app_id = %(a)s AND t.environment_id = %(e)s AND t.stopped_at IS NULL
                        AND t.task_arn IS NOT NULL AND t.kind <> 'job' ORDER BY t.id) AS open_runs,
               ARRAY(SELECT row_to_json(j) FROM job_schedules j
                      WHERE j.app_id = %(a)s AND j.environment_id = %(e)s ORDER BY j.job) AS schedules,
               COALESCE((SELECT jsonb_object_agg(t.task_arn, t.stopped_at IS NOT NULL) FROM task_runs t
                          WHERE t.app_id = %(a)s AND t.environment_id = %(e)s AND t.kind = 'job'
                            AND t.created_at > now() - interval '2 hours'), '{}'::jsonb) AS job_runs
        """,
        a=app_id, e=env_id)
    schedules = tuple(of(JobScheduleRecord, {**j, "applied_at": datetime.fromisoformat(j["applied_at"])})
                      for j in r.schedules)
    return Tasks(tuple(_run_from_json(j) for j in r.open_runs), schedules, dict(r.job_runs))


def releases(db: Db, ids: Iterable[int]) -> dict[int, ReleaseRow]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = db.all(
        """
        SELECT r.id, r.version, r.kind, i.reference AS image, COALESCE(r.image_digest, i.digest) AS digest,
               cv.vars, cv.secrets, r.formation, r.manifest, r.known_good_at,
               src.version AS source_version, src.formation AS source_formation
          FROM releases r
          JOIN images i ON i.id = r.image_id
          JOIN config_versions cv ON cv.id = r.config_version_id
          LEFT JOIN releases src ON src.id = r.copied_from_id
         WHERE r.id = ANY(%(ids)s)
        """,
        ids=wanted,
    )
    return {r.id: of(ReleaseRow, r) for r in rows}


def task_definitions(db: Db, app_id: int, env_id: int) -> dict[str, str]:
    """"family:release" → ARN of every task definition paas registered for the app here."""
    return {f"{r.family}:{r.task_version}": r.arn for r in db.all(
        "SELECT family, task_version, arn FROM task_definitions WHERE app_id = %(a)s AND environment_id = %(e)s",
        a=app_id, e=env_id)}


def gc_request(db: Db, deployment_id: int | None) -> SteeringRecord | None:
    """The newest `paas gc` request on the live deployment."""
    if deployment_id is None:
        return None
    r = db.one("SELECT * FROM deployment_requests WHERE deployment_id = %(d)s AND kind = 'gc' "
               "ORDER BY id DESC LIMIT 1", d=deployment_id)
    return None if r is None else of(SteeringRecord, r)
