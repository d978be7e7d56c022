"""Desired state from the database: a handful of queries per reconcile, whatever the app's size."""

from __future__ import annotations

from typing import Any

from paas.db.sql import Db, Row
from paas.domain.manifest import Manifest
from paas.planner.desired import DeploymentSpec, Desired, EnvSpec, ReleaseSpec

_RELEASE_SQL = """
SELECT r.id, r.version, r.image_digest, r.formation, r.manifest, r.known_good_at,
       i.reference AS image, COALESCE(r.image_digest, i.digest) AS digest, cv.vars, cv.secrets,
       src.version AS td_version
  FROM releases r
  JOIN images i ON i.id = r.image_id
  JOIN config_versions cv ON cv.id = r.config_version_id
  LEFT JOIN releases src ON src.id = r.copied_from_id
"""


def _release(r: Row | None) -> ReleaseSpec | None:
    if r is None:
        return None
    return ReleaseSpec(
        id=r.id, version=r.version, image=r.image, digest=r.digest, vars=dict(r.vars),
        secrets=dict(r.secrets), formation=dict(r.formation), manifest=Manifest.from_json(r.manifest),
        known_good=r.known_good_at is not None, td_version=r.td_version,
    )


def release_by_id(db: Db, release_id: int) -> ReleaseSpec | None:
    return _release(db.one(_RELEASE_SQL + " WHERE r.id = %(i)s", i=release_id))


def release_by_version(db: Db, app_id: int, env_id: int, version: int) -> ReleaseSpec | None:
    return _release(db.one(
        _RELEASE_SQL + " WHERE r.app_id = %(a)s AND r.environment_id = %(e)s AND r.version = %(v)s",
        a=app_id, e=env_id, v=version,
    ))


def _deployment(db: Db, row: Row | None, app_id: int, env_id: int, with_applied: bool) -> DeploymentSpec | None:
    if row is None:
        return None
    opts: dict[str, Any] = dict(row.options or {})
    target = None
    if opts.get("rolling_back_to"):
        target = release_by_version(db, app_id, env_id, int(opts["rolling_back_to"]))
    applied: dict = {}
    if with_applied:
        applied = {r.k: r.at for r in db.all(
            "SELECT step AS k, min(at) AS at FROM deployment_events "
            "WHERE deployment_id = %(d)s AND kind = 'step' GROUP BY step",
            d=row.id,
        )}
    return DeploymentSpec(
        id=row.id, state=row.state, strategy=row.strategy, options=opts, created_at=row.created_at,
        started_at=row.started_at, release=release_by_id(db, row.release_id), rollback_target=target,
        applied=applied,
    )


def load_desired(db: Db, app_id: int, env_id: int) -> tuple[Desired, dict[str, Any]]:
    """Desired state plus the last observation record (caches the planner may use)."""
    head = db.one(
        """
        SELECT a.name AS app, a.app_type, a.gc_policy, e.*,
               (SELECT data FROM observations o WHERE o.app_id = a.id AND o.environment_id = e.id) AS observation
          FROM apps a, environments e WHERE a.id = %(a)s AND e.id = %(e)s
        """,
        a=app_id, e=env_id,
    )
    deps = db.all(
        """
        SELECT * FROM deployments WHERE app_id = %(a)s AND environment_id = %(e)s
           AND state IN ('pending', 'in_progress') ORDER BY id
        """,
        a=app_id, e=env_id,
    )
    active_row = next((r for r in deps if r.state == "in_progress"), None)
    pending_row = next((r for r in reversed(deps) if r.state == "pending"), None)
    current = db.one(
        """
        SELECT id, finished_at, options->>'gc_requested_at' AS gc_requested_at,
               CASE WHEN state = 'rolled_back' THEN rolled_back_to_id ELSE release_id END AS release_id
          FROM deployments WHERE app_id = %(a)s AND environment_id = %(e)s
           AND state IN ('succeeded', 'rolled_back')
         ORDER BY finished_at DESC, id DESC LIMIT 1
        """,
        a=app_id, e=env_id,
    )
    active = _deployment(db, active_row, app_id, env_id, True)
    exclude = active.release.id if active else -1
    known_good = _release(db.one(
        _RELEASE_SQL + """ WHERE r.app_id = %(a)s AND r.environment_id = %(e)s
           AND r.known_good_at IS NOT NULL AND r.id <> %(x)s ORDER BY r.version DESC LIMIT 1""",
        a=app_id, e=env_id, x=exclude,
    ))
    observation = dict(head.observation or {})
    env = EnvSpec(
        id=head.id, name=head.name, region=head.region, cluster=head.cluster, listener_arn=head.listener_arn,
        vpc_id=head.vpc_id, subnets=tuple(head.subnets or ()), security_groups=tuple(head.security_groups or ()),
    )
    desired = Desired(
        app=head.app, app_id=app_id, app_type=head.app_type, env=env, active=active,
        pending=_deployment(db, pending_row, app_id, env_id, False),
        current=release_by_id(db, current.release_id) if current else None,
        current_deployment_id=current.id if current else None,
        current_finished_at=current.finished_at if current else None,
        known_good=known_good,
        active_colour={p: v.get("active_colour", "blue")
                       for p, v in observation.get("processes", {}).items()},
        gc_overrides=dict(head.gc_policy or {}),
        gc_state={**(observation.get("gc") or {}),
                  "requested_at": current.gc_requested_at if current else None},
    )
    extra = {"env_row": head, "observation": observation}
    return desired, extra
