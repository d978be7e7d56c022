"""Deploy, config, scale, secret and rollback requests: each a new release plus a deployment.

Every request runs in the caller's single transaction: the queue row is locked first (see
`paas.db.queue.enqueue`), so concurrent requests for one app+environment are serialised and
release versions stay consecutive with no gaps; then the release, the deployment, the events
and the NOTIFY are written together, or nothing is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paas.db import queue
from paas.db.events import event
from paas.db.sql import Db, Row, jsonb
from paas.domain import validate as v
from paas.domain.errors import Conflict, NotFound, UserError
from paas.domain.manifest import Manifest, default_manifest
from paas.service.catalog import get_app, get_env


@dataclass
class Requested:
    deployment_id: int
    release_version: int
    app: str
    environment: str
    strategy: str
    superseded: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "release": f"v{self.release_version}",
            "release_version": self.release_version,
            "app": self.app,
            "environment": self.environment,
            "strategy": self.strategy,
            "superseded": self.superseded,
            "notes": self.notes,
        }


def new_config_version(db: Db, app_id: int, env_id: int, vars_: dict[str, str],
                       secrets: dict[str, Any], actor: str) -> Row:
    return db.one(
        """
        INSERT INTO config_versions (app_id, environment_id, version, vars, secrets, actor)
        SELECT %(a)s, %(e)s, COALESCE(max(version), 0) + 1, %(vars)s::jsonb, %(secrets)s::jsonb, %(actor)s
          FROM config_versions WHERE app_id = %(a)s AND environment_id = %(e)s
        RETURNING *
        """,
        a=app_id, e=env_id, vars=jsonb(vars_), secrets=jsonb(secrets), actor=actor,
    )


def _sync_processes(db: Db, app_id: int, manifest: Manifest) -> None:
    procs = list(manifest.processes.values())
    db.execute(
        """
        INSERT INTO processes (app_id, name, command, port, health_check_path)
        SELECT %(a)s, * FROM unnest(%(n)s::text[], %(c)s::text[], %(p)s::int[], %(h)s::text[])
        ON CONFLICT (app_id, name) DO UPDATE
           SET command = EXCLUDED.command, port = EXCLUDED.port, health_check_path = EXCLUDED.health_check_path
        """,
        a=app_id, n=[p.name for p in procs], c=[p.command for p in procs], p=[p.port for p in procs],
        h=[p.health_check_path for p in procs],
    )


def _create(db: Db, app: Row, env: Row, *, kind: str, image: v.ImageRef, config_version_id: int,
            formation: dict[str, Any], manifest: Manifest, strategy: str, actor: str,
            message: str | None, options: dict[str, Any], copied_from_id: int | None = None) -> Requested:
    """The one place a release and its deployment are born."""
    if env.require_message and not (message and message.strip()):
        raise UserError(f"environment {env.name!r} requires a message: add -m \"why\"")
    v.choice(strategy, v.STRATEGIES, "strategy")
    # The caller holds the app+environment's queue-row lock (`_locked`), so the version below
    # cannot race. Two statements: the release, then the deployment with everything it implies
    # (pending ones superseded, their events and its own, the NOTIFY) — the request path is
    # measured in round trips (bench/cli_latency).
    rel = db.one(
        """
        WITH img AS (
            INSERT INTO images (reference, repository, tag, digest) VALUES (%(ref)s, %(repo)s, %(tag)s, %(dig)s)
            ON CONFLICT (reference) DO UPDATE SET reference = EXCLUDED.reference
            RETURNING id
        )
        INSERT INTO releases (app_id, environment_id, version, kind, image_id, image_digest,
                              config_version_id, formation, manifest, copied_from_id, actor, message)
        SELECT %(a)s, %(e)s, COALESCE(max(r.version), 0) + 1, %(k)s, (SELECT id FROM img), %(dig)s, %(cv)s,
               %(f)s::jsonb, %(m)s::jsonb, %(cf)s, %(actor)s, %(msg)s
          FROM releases r WHERE r.app_id = %(a)s AND r.environment_id = %(e)s
        RETURNING id, version
        """,
        a=app.id, e=env.id, k=kind, ref=str(image), repo=image.repository, tag=image.tag, dig=image.digest,
        cv=config_version_id, f=jsonb(formation), m=jsonb(manifest.to_json()), cf=copied_from_id,
        actor=actor, msg=message,
    )
    version = rel.version
    row = db.one(
        """
        WITH dep AS (
            INSERT INTO deployments (app_id, environment_id, release_id, strategy, options, actor, message)
            VALUES (%(a)s, %(e)s, %(r)s, %(s)s, %(o)s::jsonb, %(actor)s, %(msg)s) RETURNING id
        ), sup AS (
            UPDATE deployments SET state = 'superseded', finished_at = now(),
                   superseded_by_id = (SELECT id FROM dep)
             WHERE app_id = %(a)s AND environment_id = %(e)s AND state = 'pending'
            RETURNING id
        ), sup_events AS (
            INSERT INTO deployment_events (deployment_id, kind, message, data, actor)
            SELECT sup.id, 'superseded',
                   'superseded by deployment ' || (SELECT id FROM dep) || ' (v' || %(v)s || ') before it started',
                   jsonb_build_object('superseded_by', (SELECT id FROM dep)), %(actor)s
              FROM sup
        ), req_event AS (
            INSERT INTO deployment_events (deployment_id, kind, message, data, actor)
            SELECT dep.id, 'requested', %(what)s,
                   %(data)s::jsonb || jsonb_build_object('superseded',
                       COALESCE((SELECT jsonb_agg(id ORDER BY id) FROM sup), '[]'::jsonb)), %(actor)s
              FROM dep
        )
        SELECT (SELECT id FROM dep) AS id, ARRAY(SELECT id FROM sup ORDER BY id) AS superseded,
               pg_notify(%(chan)s, %(key)s) AS notified
        """,
        a=app.id, e=env.id, r=rel.id, s=strategy, o=jsonb(options), actor=actor, msg=message, v=version,
        what=f"{kind} of v{version} requested ({strategy})",
        data=jsonb({"kind": kind, "image": str(image), "options": options}),
        chan=queue.CHANNEL, key=f"{app.id}:{env.id}",
    )
    dep_id, superseded = row.id, list(row.superseded)
    return Requested(dep_id, version, app.name, env.name, strategy, superseded)


def _formation(manifest: Manifest, previous: dict[str, Any] | None) -> dict[str, Any]:
    """Sizes come from the manifest; counts stay where `paas scale` last put them."""
    out = {}
    for p in manifest.processes.values():
        prev = (previous or {}).get(p.name)
        out[p.name] = {"count": prev["count"] if prev else p.count, "cpu": p.cpu, "memory": p.memory}
    return out


def deploy(db: Db, app_name: str, env_name: str, image: str, *, actor: str, message: str | None = None,
           strategy: str | None = None, manifest: Manifest | None = None,
           options: dict[str, Any] | None = None) -> Requested:
    ref = v.image_ref(image)
    app, env, prev, cfg = _locked(db, app_name, env_name)
    if manifest is None:
        manifest = Manifest.from_json(prev.manifest) if prev else default_manifest(app.app_type)
    _sync_processes(db, app.id, manifest)
    cfg = cfg or new_config_version(db, app.id, env.id, {}, {}, actor)
    return _create(
        db, app, env, kind="deploy", image=ref, config_version_id=cfg.id,
        formation=_formation(manifest, prev.formation if prev else None), manifest=manifest,
        strategy=strategy or manifest.strategy.default, actor=actor, message=message,
        options=options or {},
    )


def _locked(db: Db, app_name: str, env_name: str) -> tuple[Row, Row, Row | None, Row | None]:
    """App, environment and latest release (and config), read after taking the app+environment's
    queue lock. Three round trips: this runs on every request."""
    v.name(app_name, "app name")
    if env_name:
        v.name(env_name, "environment name")
    head = db.one(
        "SELECT (SELECT row_to_json(a) FROM apps a WHERE a.name = %(a)s) AS app, "
        "(SELECT row_to_json(e) FROM environments e WHERE e.name = %(e)s) AS env",
        a=app_name, e=env_name,
    )
    if head.app is None:
        get_app(db, app_name)  # raises the one-line NotFound
    if head.env is None:
        get_env(db, env_name)
    app, env = Row(head.app), Row(head.env)
    queue.enqueue(db, app.id, env.id, notify=False)
    latest = db.one(
        """
        SELECT (SELECT row_to_json(x) FROM (
                    SELECT r.*, i.reference AS image FROM releases r JOIN images i ON i.id = r.image_id
                     WHERE r.app_id = %(a)s AND r.environment_id = %(e)s ORDER BY r.version DESC LIMIT 1) x) AS rel,
               (SELECT row_to_json(c) FROM (
                    SELECT * FROM config_versions WHERE app_id = %(a)s AND environment_id = %(e)s
                     ORDER BY version DESC LIMIT 1) c) AS cfg
        """,
        a=app.id, e=env.id,
    )
    return app, env, (Row(latest.rel) if latest.rel else None), (Row(latest.cfg) if latest.cfg else None)


def change_config(db: Db, app_name: str, env_name: str, *, actor: str, set_vars: dict[str, str] | None = None,
                  unset: list[str] | None = None, secrets: dict[str, Any] | None = None,
                  message: str | None = None, kind: str = "config") -> tuple[Row, Requested | None]:
    """A new config version, and a release of it when the app has been deployed here before."""
    for k in (set_vars or {}):
        v.env_key(k)
    for k in (unset or []):
        v.env_key(k)
    app, env, prev, cur = _locked(db, app_name, env_name)
    vars_ = dict(cur.vars) if cur else {}
    secs = dict(cur.secrets) if cur else {}
    missing = [k for k in (unset or []) if k not in vars_ and k not in secs]
    if missing:
        raise UserError(f"config key {missing[0]!r} is not set for {app.name} in {env.name}")
    vars_.update(set_vars or {})
    secs.update(secrets or {})
    for k in unset or []:
        vars_.pop(k, None)
        secs.pop(k, None)
    clash = sorted(set(vars_) & set(secs))
    if clash:
        raise UserError(f"{clash[0]!r} is already a secret; unset it before setting a plain value")
    cfg = new_config_version(db, app.id, env.id, vars_, secs, actor)
    if prev is None:
        return cfg, None
    manifest = Manifest.from_json(prev.manifest)
    req = _create(
        db, app, env, kind=kind, image=v.image_ref(prev.image), config_version_id=cfg.id,
        formation=prev.formation, manifest=manifest, strategy=manifest.strategy.default
        if manifest.strategy.default != "canary" else "rolling",
        actor=actor, message=message, options={"config_version": cfg.version},
    )
    return cfg, req


def scale(db: Db, app_name: str, env_name: str, counts: dict[str, int], *, actor: str,
          message: str | None = None) -> Requested:
    app, env, prev, _ = _locked(db, app_name, env_name)
    if prev is None:
        raise UserError(f"{app.name} has no release in {env.name} yet: deploy before scaling")
    unknown = sorted(set(counts) - set(prev.formation))
    if unknown:
        raise UserError(
            f"unknown process {unknown[0]!r} for {app.name}: processes are {', '.join(sorted(prev.formation))}"
        )
    formation = {k: {**f, "count": counts.get(k, f["count"])} for k, f in prev.formation.items()}
    return _create(
        db, app, env, kind="scale", image=v.image_ref(prev.image), config_version_id=prev.config_version_id,
        formation=formation, manifest=Manifest.from_json(prev.manifest), strategy="rolling",
        actor=actor, message=message, options={"scale": counts},
    )


def rollback(db: Db, app_name: str, env_name: str, *, actor: str, to_version: int | None = None,
             message: str | None = None, strategy: str | None = None) -> Requested:
    """A new release copying an older one: history stays append-only."""
    app, env, prev, _ = _locked(db, app_name, env_name)
    if prev is None:
        raise UserError(f"{app.name} has no release in {env.name} to roll back")
    if to_version is None:
        # The release that was live before the current one: on a blue-green or canary app the
        # previous colour still runs it (a weight flip); otherwise it is redeployed.
        target = db.one(
            """
            SELECT r.*, i.reference AS image
              FROM deployments d
              JOIN releases r ON r.id = CASE WHEN d.state = 'rolled_back' THEN d.rolled_back_to_id
                                             ELSE d.release_id END
              JOIN images i ON i.id = r.image_id
             WHERE d.app_id = %(a)s AND d.environment_id = %(e)s AND d.state IN ('succeeded', 'rolled_back')
               AND (r.image_id, r.config_version_id, r.formation) IS DISTINCT FROM
                   (%(img)s, %(cv)s, %(f)s::jsonb)
             ORDER BY d.finished_at DESC, d.id DESC LIMIT 1
            """,
            a=app.id, e=env.id, img=prev.image_id, cv=prev.config_version_id, f=jsonb(prev.formation),
        )
        if target is None:
            raise UserError(f"{app.name} has no earlier live release in {env.name} to roll back to "
                            "(use --to vN)")
    else:
        target = db.one(
            """
            SELECT r.*, i.reference AS image FROM releases r JOIN images i ON i.id = r.image_id
             WHERE r.app_id = %(a)s AND r.environment_id = %(e)s AND r.version = %(v)s
            """,
            a=app.id, e=env.id, v=to_version,
        )
        if target is None:
            raise UserError(f"{app.name} has no release v{to_version} in {env.name} (latest is v{prev.version})")
    notes = []
    if target.config_version_id != prev.config_version_id:
        notes.append(f"this rollback also changes config: v{target.version} uses a different config version "
                     "(env vars or secrets) than the current release")
    manifest = Manifest.from_json(target.manifest)
    if strategy is None:
        # After a blue-green or canary deploy the previous colour may still run the target:
        # blue-green then makes the rollback one weight flip (or a deploy to the idle colour
        # when it is gone). Rolling apps roll back in place.
        last = db.scalar(
            "SELECT strategy FROM deployments WHERE app_id = %(a)s AND environment_id = %(e)s "
            "AND state = 'succeeded' ORDER BY finished_at DESC LIMIT 1", a=app.id, e=env.id)
        strategy = "blue-green" if last in ("blue-green", "canary") else (
            "rolling" if manifest.strategy.default == "canary" else manifest.strategy.default)
    req = _create(
        db, app, env, kind="rollback", image=v.image_ref(target.image),
        config_version_id=target.config_version_id, formation=target.formation, manifest=manifest,
        strategy=strategy,
        actor=actor, message=message or f"rollback to v{target.version}",
        options={"rollback_to": target.version}, copied_from_id=target.copied_from_id or target.id,
    )
    req.notes.extend(notes)
    return req


def cancel(db: Db, deployment_id: int, *, actor: str) -> Row:
    """Cancel a deployment that has not started; one in progress is cancelled by the worker at a safe point."""
    dep = db.one("SELECT * FROM deployments WHERE id = %(i)s FOR UPDATE", i=deployment_id)
    if dep is None:
        raise NotFound(f"no deployment {deployment_id}")
    if dep.state == "pending":
        db.execute("UPDATE deployments SET state = 'cancelled', finished_at = now() WHERE id = %(i)s",
                   i=deployment_id)
        event(db, deployment_id, "cancelled", "cancelled before it started", actor=actor)
    elif dep.state == "in_progress":
        opts = dict(dep.options)
        if opts.get("cancel_requested"):
            raise Conflict(f"deployment {deployment_id} is already being cancelled")
        opts["cancel_requested"] = True
        db.execute("UPDATE deployments SET options = %(o)s::jsonb WHERE id = %(i)s", o=jsonb(opts), i=deployment_id)
        event(db, deployment_id, "cancel_requested",
              "cancel requested: the worker rolls back to the last known-good release at the next safe point",
              actor=actor)
        queue.enqueue(db, dep.app_id, dep.environment_id)
    else:
        raise Conflict(f"deployment {deployment_id} is already {dep.state}")
    return db.one("SELECT * FROM deployments WHERE id = %(i)s", i=deployment_id)


def _in_flight(db: Db, app_name: str, env_name: str, verb: str) -> Row:
    app, env = get_app(db, app_name), get_env(db, env_name)
    dep = db.one(
        """
        SELECT * FROM deployments WHERE app_id = %(a)s AND environment_id = %(e)s
           AND state IN ('pending', 'in_progress') ORDER BY id DESC LIMIT 1 FOR UPDATE
        """,
        a=app.id, e=env.id,
    )
    if dep is None:
        raise UserError(f"nothing to {verb}: {app.name} has no deployment in flight in {env.name}")
    return dep


def promote(db: Db, app_name: str, env_name: str, *, actor: str) -> Row:
    """Release a canary held by --pause-at (the gate must still pass)."""
    dep = _in_flight(db, app_name, env_name, "promote")
    if dep.strategy != "canary" or dep.options.get("pause_at") is None:
        raise UserError(f"nothing to promote: deployment {dep.id} is {dep.strategy} without --pause-at")
    if dep.options.get("promote_requested"):
        raise UserError(f"deployment {dep.id} is already promoted")
    db.execute("UPDATE deployments SET options = options || '{\"promote_requested\": true}'::jsonb WHERE id = %(i)s",
               i=dep.id)
    event(db, dep.id, "promote_requested", "promotion requested", actor=actor)
    queue.enqueue(db, dep.app_id, dep.environment_id)
    return dep


def abort(db: Db, app_name: str, env_name: str, *, actor: str) -> Row:
    """Roll the deployment in flight back at once (traffic first, in one call)."""
    dep = _in_flight(db, app_name, env_name, "abort")
    if dep.state == "pending":
        db.execute("UPDATE deployments SET state = 'cancelled', finished_at = now() WHERE id = %(i)s", i=dep.id)
        event(db, dep.id, "cancelled", "aborted before it started", actor=actor)
        return dep
    if dep.options.get("abort_requested"):
        raise UserError(f"deployment {dep.id} is already being aborted")
    db.execute("UPDATE deployments SET options = options || '{\"abort_requested\": true}'::jsonb WHERE id = %(i)s",
               i=dep.id)
    event(db, dep.id, "abort_requested", "abort requested: rolling back", actor=actor)
    queue.enqueue(db, dep.app_id, dep.environment_id)
    return dep
