"""Garbage-collection requests and per-app policy overrides (the decisions live in planner/gc.py).

`paas gc APP` never acts itself: it records a `gc` request on the deployment whose release is
live, with who asked, and wakes a worker, so the worker that holds the lease runs GC on its
next pass. `paas apps gc-policy` validates and stores the app's overrides.
"""

from __future__ import annotations

from typing import Any

from paas.db import catalog
from paas.db import steering as requests
from paas.db.records import AppRecord
from paas.db.sql import Db
from paas.domain import validate as v
from paas.domain.errors import UserError
from paas.planner.gc import GcPolicy, policy_for, validate_overrides
from paas.service.catalog import get_app, require_app_env
from paas.settings import gc_settings


def request_gc(db: Db, app_name: str, env_name: str | None, *, actor: str) -> dict[str, Any]:
    v.actor(actor)
    app, env = require_app_env(db, app_name, env_name)
    policy_for(app.app_type, app.gc_policy, gc_settings())  # a bad stored policy is reported, not queued
    dep_id = requests.current_deployment_id(db, app.id, env.id)
    if dep_id is None:
        raise UserError(f"{app.name} has nothing deployed in {env.name}: nothing to collect")
    requests.request_steering(db, dep_id, "gc", actor, f"garbage collection requested by {actor}", app.id, env.id)
    req = requests.steering_of(db, dep_id)[-1]
    waiting = requests.in_flight(db, app.id, env.id)
    return {"app": app.name, "environment": env.name, "deployment_id": dep_id, "requested_at": req.requested_at,
            "waits_for_deployment": waiting.id if waiting else None}


def effective_policy(app: AppRecord) -> GcPolicy:
    return policy_for(app.app_type, app.gc_policy, gc_settings())


def set_policy(db: Db, app_name: str, changes: dict[str, Any], *, reset: bool = False) -> tuple[AppRecord, dict]:
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
    return catalog.set_gc_policy(db, app.id, overrides), overrides
