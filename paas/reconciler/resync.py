"""Periodic resync of steady apps, one environment at a time, at a cost that does not grow per app.

One query reads what every steady service in the environment should run (from the last
observation and the current release), DescribeServices checks them ten at a time (AWS's
limit), and a fixed number of statements record the results: observations refreshed, drift
recorded as an event on the app's current deployment, and drifted apps queued so their own
reconcile reverts the change. No CloudFormation, ELB or CloudWatch call is made here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from paas.aws.driver import Driver
from paas.db import queue
from paas.db.sql import Db, Row, jsonb
from paas.domain.specs import family

log = logging.getLogger("paas.resync")

_EXPECTED_SQL = """
WITH cur AS (
    SELECT DISTINCT ON (d.app_id) d.app_id, d.id AS deployment_id,
           CASE WHEN d.state = 'rolled_back' THEN d.rolled_back_to_id ELSE d.release_id END AS release_id
      FROM deployments d
     WHERE d.environment_id = %(e)s AND d.state IN ('succeeded', 'rolled_back')
     ORDER BY d.app_id, d.finished_at DESC, d.id DESC
)
SELECT a.id AS app_id, a.name AS app, cur.deployment_id, r.version, r.formation, o.data,
       COALESCE(src.version, r.version) AS task_version
  FROM cur
  JOIN apps a ON a.id = cur.app_id
  JOIN releases r ON r.id = cur.release_id
  LEFT JOIN releases src ON src.id = r.copied_from_id
  JOIN observations o ON o.app_id = cur.app_id AND o.environment_id = %(e)s
 WHERE NOT EXISTS (SELECT 1 FROM deployments x WHERE x.app_id = cur.app_id AND x.environment_id = %(e)s
                     AND x.state IN ('pending', 'in_progress'))
"""


@dataclass
class ResyncResult:
    services: int = 0
    drifted: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def claim_environment(db: Db, interval: float) -> Row | None:
    """The environment most overdue for a resync, pushed `interval` seconds ahead. Commits."""
    row = db.one(
        """
        UPDATE environments SET resync_after = now() + make_interval(secs => %(i)s)
         WHERE id = (SELECT id FROM environments WHERE resync_after <= now()
                      ORDER BY resync_after LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING *
        """,
        i=interval,
    )
    db.commit()
    return row


def _expected(env_name: str, rows: list[Row]) -> dict[str, dict]:
    """service name → what it should be running, from the last observation of each steady app."""
    out: dict[str, dict] = {}
    for r in rows:
        tds = (r.data or {}).get("task_definitions", {})
        for proc, want in (r.formation or {}).items():
            pobs = (r.data or {}).get("processes", {}).get(proc, {})
            colour = pobs.get("active_colour", "blue")
            svc = (pobs.get("colours", {}).get(colour) or {}).get("service") or f"{r.app}-{proc}-{colour}"
            td = tds.get(f"{family(r.app, env_name, proc)}:{r.task_version}")  # a rollback reuses its source's
            if td is None:
                continue  # never observed: the app's own reconcile handles it
            out[svc] = {"app_id": r.app_id, "app": r.app, "deployment_id": r.deployment_id, "process": proc,
                        "colour": colour, "task_definition": td, "count": int(want.get("count", 0)),
                        "version": r.version}
    return out


def resync_environment(db: Db, env: Row, driver: Driver) -> ResyncResult:
    rows = db.all(_EXPECTED_SQL, e=env.id)
    db.commit()
    expected = _expected(env.name, rows)
    res = ResyncResult(services=len(expected))
    if not expected:
        return res
    seen = driver.describe_services(env.cluster, sorted(expected))
    counts: dict[int, dict] = {}
    for name, want in expected.items():
        svc = seen.get(name)
        if svc is None or svc.status != "ACTIVE":
            res.missing.append(name)
            res.drifted.append({**want, "service": name, "what": "service missing"})
            continue
        diffs = []
        if svc.task_definition != want["task_definition"]:
            diffs.append(f"task definition {svc.task_definition.rsplit('/', 1)[-1]} "
                         f"(expected {want['task_definition'].rsplit('/', 1)[-1]})")
        if svc.desired != want["count"]:
            diffs.append(f"desired count {svc.desired} (expected {want['count']})")
        if diffs:
            res.drifted.append({**want, "service": name, "what": "; ".join(diffs)})
        counts.setdefault(want["app_id"], {})[want["process"]] = {
            "running_count": svc.running, "desired_count": svc.desired}

    # Fixed number of statements whatever the number of services.
    if counts:
        db.execute(
            """
            UPDATE observations o
               SET data = jsonb_set(o.data, '{resync}', v.c::jsonb), observed_at = now()
              FROM unnest(%(ids)s::int[], %(cs)s::text[]) AS v(app_id, c)
             WHERE o.app_id = v.app_id AND o.environment_id = %(e)s
            """,
            ids=list(counts), cs=[jsonb(c) for c in counts.values()], e=env.id,
        )
    if res.drifted:
        db.execute(
            """
            INSERT INTO deployment_events (deployment_id, kind, step, message, data)
            SELECT d, 'drift', 'resync', m, x::jsonb
              FROM unnest(%(d)s::bigint[], %(m)s::text[], %(x)s::text[]) AS v(d, m, x)
            """,
            d=[x["deployment_id"] for x in res.drifted],
            m=[f"drift: {x['service']} has {x['what']}; reverting to v{x['version']}" for x in res.drifted],
            x=[jsonb({"service": x["service"], "process": x["process"], "what": x["what"]}) for x in res.drifted],
        )
        db.execute(
            """
            INSERT INTO work_queue (app_id, environment_id, run_after)
            SELECT DISTINCT a, %(e)s, now() FROM unnest(%(a)s::int[]) AS v(a)
            ON CONFLICT (app_id, environment_id) DO UPDATE SET run_after = now(), enqueued_at = clock_timestamp()
            """,
            a=[x["app_id"] for x in res.drifted], e=env.id,
        )
        db.execute("SELECT pg_notify(%(c)s, 'resync')", c=queue.CHANNEL)
    db.commit()
    if res.drifted:
        log.info("drift found", extra={"fields": {"environment": env.name, "drifted": len(res.drifted)}})
    return res
