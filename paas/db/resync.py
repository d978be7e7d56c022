"""The statements of an environment resync: a fixed number whatever the number of apps.

One read of what every steady app in the environment should run (its live release, from
`paas_live_releases`, and the task definitions paas registered), and one batch of writes for
the results: observations refreshed, drift recorded on each app's live deployment, drifted
apps queued so their own reconcile reverts the change.
"""

from __future__ import annotations

from dataclasses import dataclass

from paas.db import queue
from paas.db.records import EnvironmentRecord, maybe
from paas.db.sql import Db, jsonb


@dataclass(frozen=True)
class SteadyApp:
    app_id: int
    app: str
    deployment_id: int
    version: int
    kind: str
    formation: dict
    observation: dict
    source_version: int | None
    source_formation: dict | None


_STEADY_SQL = """
SELECT a.id AS app_id, a.name AS app, l.deployment_id, r.version, r.kind, r.formation, o.data AS observation,
       src.version AS source_version, src.formation AS source_formation
  FROM paas_live_releases l
  JOIN apps a ON a.id = l.app_id
  JOIN releases r ON r.id = l.release_id
  LEFT JOIN releases src ON src.id = r.copied_from_id
  JOIN observations o ON o.app_id = l.app_id AND o.environment_id = l.environment_id
 WHERE l.environment_id = %(e)s
   AND NOT EXISTS (SELECT 1 FROM deployments x WHERE x.app_id = l.app_id AND x.environment_id = %(e)s
                     AND x.state IN ('pending', 'in_progress'))
"""


def claim_environment(db: Db, interval: float) -> EnvironmentRecord | None:
    """The environment most overdue for a resync, pushed `interval` seconds ahead. Commits."""
    row = db.one(
        """
        UPDATE environments SET resync_after = now() + make_interval(secs => %(i)s)
         WHERE id = (SELECT id FROM environments WHERE resync_after <= now()
                      ORDER BY resync_after LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING id, name, region, cluster, listener_arn, vpc_id, subnets, security_groups, role_arn,
                  alb_security_group, assign_public_ip, app_domain, require_message, created_at
        """,
        i=interval,
    )
    db.commit()
    return maybe(EnvironmentRecord, row)


def steady_apps(db: Db, env_id: int) -> tuple[list[SteadyApp], dict[tuple[int, str], str]]:
    """Steady apps with their live release, and (app id, "family:release") → task definition ARN."""
    apps = [SteadyApp(**{k: r[k] for k in SteadyApp.__dataclass_fields__}) for r in db.all(_STEADY_SQL, e=env_id)]
    tds = {(r.app_id, f"{r.family}:{r.task_version}"): r.arn for r in db.all(
        "SELECT app_id, family, task_version, arn FROM task_definitions WHERE environment_id = %(e)s", e=env_id)}
    return apps, tds


def record(db: Db, env_id: int, counts: dict[int, dict], drifted: list[dict]) -> None:
    """Observations refreshed, drift recorded and queued: three statements at most. Commits."""
    if counts:
        db.execute(
            """
            UPDATE observations o
               SET data = jsonb_set(o.data, '{resync}', v.c::jsonb), observed_at = clock_timestamp()
              FROM unnest(%(ids)s::int[], %(cs)s::text[]) AS v(app_id, c)
             WHERE o.app_id = v.app_id AND o.environment_id = %(e)s
            """,
            ids=list(counts), cs=[jsonb(c) for c in counts.values()], e=env_id,
        )
    if drifted:
        db.execute(
            """
            INSERT INTO deployment_events (deployment_id, kind, step, message, data)
            SELECT d, 'drift', 'resync', m, x::jsonb
              FROM unnest(%(d)s::bigint[], %(m)s::text[], %(x)s::text[]) AS v(d, m, x)
            """,
            d=[x["deployment_id"] for x in drifted],
            m=[f"drift: {x['service']} has {x['what']}; reverting to v{x['version']}" for x in drifted],
            x=[jsonb({"service": x["service"], "process": x["process"], "what": x["what"]}) for x in drifted],
        )
        db.execute(
            """
            INSERT INTO work_queue (app_id, environment_id, run_after)
            SELECT DISTINCT a, %(e)s, now() FROM unnest(%(a)s::int[]) AS v(a)
            ON CONFLICT (app_id, environment_id) DO UPDATE SET run_after = now(), enqueued_at = clock_timestamp()
            """,
            a=[x["app_id"] for x in drifted], e=env_id,
        )
        db.execute("SELECT pg_notify(%(c)s, 'resync')", c=queue.CHANNEL)
    db.commit()
