"""Notification targets: the use cases behind `paas notify add/list/remove/deliveries`.

The CLI stores a target's URL and signing secret in SSM first (through the store
environment's driver) and then records the target with the parameters' names; the database
never sees either value.
"""

from __future__ import annotations

from typing import Any

from paas.db import notifications as n
from paas.db.records import AppRecord, EnvironmentRecord
from paas.db.sql import Db
from paas.domain.errors import NotFound, UserError
from paas.service.catalog import get_app, get_env


def scope(db: Db, app: str, env: str | None, store_env: str | None) -> tuple[AppRecord, EnvironmentRecord | None,
                                                                          EnvironmentRecord]:
    """The app, the environment the target is limited to (None: all) and the environment whose
    driver stores its parameters (the target's own, else `store_env`)."""
    a = get_app(db, app)
    e = get_env(db, env) if env else None
    if e is not None:
        if store_env and store_env != e.name:
            raise UserError("--store-env: a target of one environment keeps its URL in that environment's account")
        return a, e, e
    if not store_env:
        raise UserError("a target of every environment needs --store-env (or $PAAS_ENV): the environment whose "
                        "AWS account keeps the URL in SSM")
    return a, None, get_env(db, store_env)


def record(db: Db, app: AppRecord, env: EnvironmentRecord | None, store: EnvironmentRecord, *, fmt: str,
           events: tuple[str, ...], url_param: str, secret_param: str, url_display: str, actor: str) -> int:
    return n.add_target(db, app_id=app.id, environment_id=env.id if env else None, store_environment_id=store.id,
                        fmt=fmt, events=events, url_param=url_param, secret_param=secret_param,
                        url_display=url_display, actor=actor)


def _target_json(r: Any) -> dict[str, Any]:
    return {"id": r.target_id, "app": r.app, "environment": r.environment, "format": r.format,
            "events": list(r.events), "url": r.url, "actor": r.actor, "created_at": r.created_at,
            "removed_at": r.removed_at, "pending": r.pending, "delivered": r.delivered, "dead": r.dead,
            "oldest_pending_at": r.oldest_pending_at, "last_delivered_at": r.last_delivered_at,
            "last_error": r.last_error}


def list_targets(db: Db, app: str, *, removed: bool = False) -> list[dict[str, Any]]:
    a = get_app(db, app)
    return [_target_json(r) for r in n.targets(db, a.id, removed=removed)]


def remove(db: Db, app: str, target_id: int, actor: str) -> dict[str, Any]:
    """Stamp the target removed; returns where its parameters are, for the CLI to delete."""
    a = get_app(db, app)
    t = n.target(db, a.id, target_id)
    if t is None:
        raise NotFound(f"{a.name} has no notification target {target_id} (see: paas notify list {a.name})")
    if not n.remove_target(db, a.id, target_id, actor):
        raise NotFound(f"notification target {target_id} of {a.name} was already removed")
    return {"id": target_id, "app": a.name, "store_environment": t.store_environment,
            "parameters": [t.url_param, t.secret_param], "url": t.url_display}


def store_env_of(db: Db, app: str, target_id: int) -> tuple[Any, EnvironmentRecord]:
    """An active target and the environment whose driver stores its parameters."""
    a = get_app(db, app)
    t = n.target(db, a.id, target_id)
    if t is None or t.removed_at is not None:
        raise NotFound(f"{a.name} has no notification target {target_id} (see: paas notify list {a.name})")
    return t, get_env(db, t.store_environment)


def deliveries(db: Db, app: str, target_id: int | None, limit: int) -> list[dict[str, Any]]:
    a = get_app(db, app)
    return [{"id": r.id, "key": str(r.key), "target_id": r.target_id, "event": r.event, "environment": r.environment,
             "state": r.state, "attempts": r.attempts, "created_at": r.created_at,
             "next_attempt_at": r.next_attempt_at if r.state == "pending" else None, "finished_at": r.finished_at,
             "last_status": r.last_status, "last_error": r.last_error}
            for r in n.deliveries(db, a.id, target_id=target_id, limit=limit)]
