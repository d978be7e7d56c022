"""Garbage-collection requests and per-app policy overrides (the decisions live in planner/gc.py).

`paas gc APP` never acts itself: it marks the current deployment (options.gc_requested_at),
records who asked, and enqueues the app+environment, so the worker that holds the lease runs
GC on its next pass. `paas apps gc-policy` validates and stores the app's overrides.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from paas.db import queue
from paas.db.events import event
from paas.db.sql import Db, Row, jsonb
from paas.domain.errors import UserError
from paas.planner.gc import GcPolicy, policy_for, validate_overrides
from paas.service.catalog import get_app, get_env
from paas.settings import gc_settings


def current_deployment(db: Db, app_id: int, env_id: int) -> Row | None:
    """The deployment whose release runs now (what the reconciler calls current)."""
    return db.one(
        """
        SELECT * FROM deployments WHERE app_id = %(a)s AND environment_id = %(e)s
           AND state IN ('succeeded', 'rolled_back')
         ORDER BY finished_at DESC, id DESC LIMIT 1
        """,
        a=app_id, e=env_id,
    )


def request_gc(db: Db, app_name: str, env_name: str | None, *, actor: str) -> dict[str, Any]:
    app, env = get_app(db, app_name), get_env(db, env_name)
    policy_for(app.app_type, app.gc_policy, gc_settings())  # a bad stored policy is reported, not queued
    dep = current_deployment(db, app.id, env.id)
    if dep is None:
        raise UserError(f"{app.name} has nothing deployed in {env.name}: nothing to collect")
    at = datetime.now(timezone.utc).isoformat()
    db.execute("UPDATE deployments SET options = options || %(o)s::jsonb WHERE id = %(i)s",
               i=dep.id, o=jsonb({"gc_requested_at": at}))
    event(db, dep.id, "gc_requested", "garbage collection requested", actor=actor, data={"requested_at": at})
    in_flight = db.scalar("SELECT min(id) FROM deployments WHERE app_id = %(a)s AND environment_id = %(e)s "
                          "AND state IN ('pending', 'in_progress')", a=app.id, e=env.id)
    queue.enqueue(db, app.id, env.id)
    return {"app": app.name, "environment": env.name, "deployment_id": dep.id, "requested_at": at,
            "waits_for_deployment": in_flight}


def effective_policy(app: Row) -> GcPolicy:
    return policy_for(app.app_type, app.gc_policy, gc_settings())


def set_policy(db: Db, app_name: str, changes: dict[str, Any], *, reset: bool = False) -> tuple[Row, dict]:
    """Merge `changes` (None removes a key) into the app's overrides; returns (app, overrides)."""
    app = get_app(db, app_name)
    overrides = {} if reset else dict(app.gc_policy or {})
    for k, val in changes.items():
        if val is None:
            overrides.pop(k, None)
        else:
            overrides[k] = val
    overrides = validate_overrides(overrides)
    policy_for(app.app_type, overrides)
    row = db.one("UPDATE apps SET gc_policy = %(g)s::jsonb WHERE id = %(i)s RETURNING *",
                 g=jsonb(overrides), i=app.id)
    return row, overrides
