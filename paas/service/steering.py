"""Steering a deployment in flight: cancel, abort, promote.

A steering command never waits behind a worker: it inserts a request row (who, what, when) and
an event, wakes a worker, and returns. The worker acts on it at its next safe point; a pending
deployment is cancelled at once. A request made twice is refused with one line.
"""

from __future__ import annotations

from paas.db import steering as requests
from paas.db.read_records import DeploymentRecord
from paas.db.sql import Db
from paas.domain import validate as v
from paas.domain.errors import Conflict, NotFound, UserError
from paas.service.catalog import require_app_env


def cancel(db: Db, deployment_id: int, *, actor: str) -> DeploymentRecord:
    """Cancel a deployment that has not started; one in progress rolls back at a safe point."""
    v.actor(actor)
    dep = requests.find_deployment(db, deployment_id)
    if dep is None:
        raise NotFound(f"no deployment {deployment_id}")
    if dep.state == "pending" and requests.cancel_pending(db, dep.id, actor, f"cancelled by {actor} before it started"):
        pass
    elif dep.state in ("pending", "in_progress"):
        if not requests.request_steering(
                db, dep.id, "cancel", actor,
                f"cancel requested by {actor}: the worker rolls back to the last known-good release at the next "
                "safe point",
                dep.app_id, dep.environment_id):
            raise Conflict(f"deployment {deployment_id} is already being cancelled")
    else:
        raise Conflict(f"deployment {deployment_id} is already {dep.state}")
    return requests.find_deployment(db, deployment_id)


def _in_flight(db: Db, app_name: str, env_name: str | None, verb: str, actor: str) -> DeploymentRecord:
    v.actor(actor)
    app, env = require_app_env(db, app_name, env_name)
    dep = requests.in_flight(db, app.id, env.id)
    if dep is None:
        raise UserError(f"nothing to {verb}: {app.name} has no deployment in flight in {env.name}")
    return dep


def promote(db: Db, app_name: str, env_name: str | None, *, actor: str) -> DeploymentRecord:
    """Release a canary held by --pause-at (the gate must still pass)."""
    dep = _in_flight(db, app_name, env_name, "promote", actor)
    if dep.strategy != "canary" or dep.pause_at is None:
        raise UserError(f"nothing to promote: deployment {dep.id} is {dep.strategy} without --pause-at")
    if not requests.request_steering(db, dep.id, "promote", actor, f"promotion requested by {actor}", dep.app_id,
                                     dep.environment_id):
        raise UserError(f"deployment {dep.id} is already promoted")
    return dep


def abort(db: Db, app_name: str, env_name: str | None, *, actor: str) -> DeploymentRecord:
    """Roll the deployment in flight back at once (traffic first, in one call)."""
    dep = _in_flight(db, app_name, env_name, "abort", actor)
    if dep.state == "pending" and requests.cancel_pending(db, dep.id, actor, f"aborted by {actor} before it started"):
        return dep
    if not requests.request_steering(db, dep.id, "abort", actor, f"abort requested by {actor}: rolling back",
                                     dep.app_id,
                                     dep.environment_id):
        raise UserError(f"deployment {dep.id} is already being aborted")
    return dep
