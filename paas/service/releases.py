"""Deploy, config, secret, scale and rollback requests: each a new release plus a deployment.

The rules, each stated once here and enforced by the storage layer's queries:

- A request locks its app+environment's queue row first, so versions stay consecutive, and
  writes release, deployment, events and NOTIFY in the caller's one transaction, or nothing.
- Config, secret and scale requests build on the newest release that is live or on its way
  (`paas.db.requests.base_release`), never on one that failed, was rolled back, aborted or
  cancelled. A rejected image comes back only through an explicit `paas deploy` of it, or
  `paas rollback --to` its release (with a warning).
- `paas rollback` restores the target's image, config version and manifest and keeps the
  formation as it is now (like Heroku); `--with-formation` takes the target's too. The default
  target is the release that was live before the current one. It does not run the target's
  release phase again (its migrations ran when it was deployed) unless asked
  (`--run-release-phase`).
"""

from __future__ import annotations

from typing import Any

from paas.db import requests
from paas.db.records import AppRecord, BaseRelease, EnvironmentRecord, ProcessRecord, ReleaseRecord
from paas.db.sql import Db
from paas.domain import validate as v
from paas.domain.errors import NotFound, UserError
from paas.domain.manifest import Manifest, default_manifest, manifest_for_app
from paas.domain.urls import web_urls
from paas.service.catalog import require_app_env


class Requested:
    """What a request recorded. A plain class, not a dataclass: it is built on every `paas deploy`,
    where compiling a dataclass's methods at import is measurable (bench/cli_latency)."""

    __slots__ = ("deployment_id", "release_version", "app", "environment", "strategy", "superseded", "notes",
                 "urls")

    def __init__(self, deployment_id: int, release_version: int, app: str, environment: str, strategy: str,
                 superseded: list[int] | None = None, notes: list[str] | None = None,
                 urls: dict[str, str] | None = None) -> None:
        self.deployment_id = deployment_id
        self.release_version = release_version
        self.app = app
        self.environment = environment
        self.strategy = strategy
        self.superseded = [] if superseded is None else superseded
        self.notes = [] if notes is None else notes
        self.urls = {} if urls is None else urls  # web process → where it answers

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self.to_json() == other.to_json()  # type: ignore[attr-defined]
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  (mutable, as the dataclass it replaces)

    def __repr__(self) -> str:
        return f"Requested({', '.join(f'{k}={v!r}' for k, v in self.to_json().items())})"

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "release_version": self.release_version,
            "app": self.app,
            "environment": self.environment,
            "strategy": self.strategy,
            "superseded": self.superseded,
            "notes": self.notes,
            "urls": self.urls,
        }


def _open(db: Db, app_name: str, env_name: str | None) -> tuple[AppRecord, EnvironmentRecord, BaseRelease | None]:
    app, env = require_app_env(db, app_name, env_name)
    requests.lock_for_request(db, app.id, env.id)
    return app, env, requests.base_release(db, app.id, env.id)


def _create(db: Db, app: AppRecord, env: EnvironmentRecord, *, kind: str, image: v.ImageRef,
            config_version_id: int, formation: dict[str, Any], manifest: Manifest, strategy: str, actor: str,
            message: str | None, copied_from_id: int | None = None, canary_steps: list[int] | None = None,
            pause_at: int | None = None, requested: dict[str, Any] | None = None,
            run_release_phase: bool | None = None, processes: list[ProcessRecord] | None = None) -> Requested:
    """The one place a release and its deployment are born (one round trip: the request path is
    measured in round trips, bench/cli_latency)."""
    v.message(message)
    v.actor(actor)
    if env.require_message and not (message and message.strip()):
        raise UserError(f"environment {env.name!r} requires a message: add -m \"why\"")
    v.choice(strategy, v.STRATEGIES, "strategy")
    _rel_id, version, dep_id, superseded = requests.insert_release_and_deployment(
        db, app.id, env.id, kind=kind, image=str(image), repository=image.repository, tag=image.tag,
        digest=image.digest, config_version_id=config_version_id, formation=formation,
        manifest=manifest.to_json(), copied_from_id=copied_from_id, strategy=strategy, actor=actor, message=message,
        canary_steps=canary_steps, pause_at=pause_at, requested=requested, run_release_phase=run_release_phase,
        processes=processes)
    return Requested(dep_id, version, app.name, env.name, strategy, superseded,
                     urls=web_urls(manifest, app.name, env.app_domain))


def _formation(manifest: Manifest, previous: dict[str, Any] | None) -> dict[str, Any]:
    """Sizes come from the manifest; counts stay where `paas scale` last put them."""
    out = {}
    for p in manifest.processes.values():
        prev = (previous or {}).get(p.name)
        out[p.name] = {"count": prev["count"] if prev else p.count, "cpu": p.cpu, "memory": p.memory}
    return out


def _base_config_id(db: Db, app: AppRecord, env: EnvironmentRecord, base: BaseRelease | None, actor: str) -> int:
    if base is not None:
        return base.release.config_version_id
    cfg = requests.latest_config(db, app.id, env.id)  # set before the first deploy
    return (cfg or requests.insert_config(db, app.id, env.id, {}, {}, actor)).id


def deploy(db: Db, app_name: str, env_name: str | None, image: str, *, actor: str, message: str | None = None,
           strategy: str | None = None, manifest: Manifest | None = None, canary_steps: list[int] | None = None,
           pause_at: int | None = None) -> Requested:
    ref = v.image_ref(image)
    app, env, base = _open(db, app_name, env_name)
    if manifest is None:
        manifest = Manifest.from_json(base.release.manifest) if base else default_manifest(app.app_type)
    else:
        pipeline = manifest.pipeline
        manifest = manifest_for_app(manifest, app.name, app.app_type)  # `app` and `type` must agree
        if pipeline is not None:  # paas.toml's [pipeline] is declared with the deploy
            from paas.service.pipeline import set_pipeline

            set_pipeline(db, app.name, pipeline, actor=actor)
    _require_routable(app, env, manifest)
    return _create(
        db, app, env, kind="deploy", image=ref, config_version_id=_base_config_id(db, app, env, base, actor),
        formation=_formation(manifest, base.release.formation if base else None), manifest=manifest,
        strategy=strategy or manifest.strategy.default, actor=actor, message=message,
        canary_steps=canary_steps, pause_at=pause_at,
        requested={"canary_steps": canary_steps, "pause_at": pause_at} if canary_steps or pause_at else None,
        # the app's declared process types, upserted in the release's round trip
        processes=[ProcessRecord(p.name, p.command, p.port, p.health_check_path)
                   for p in manifest.processes.values()],
    )


def _require_routable(app: AppRecord, env: EnvironmentRecord, manifest: Manifest) -> None:
    """Web processes need the environment's listener, VPC, subnets and the ALB's security group
    (the environment's security groups stand in for it, as the build treats them). An
    environment without a listener records requests without routing them (no rule is made)."""
    if not env.listener_arn or not any(p.is_web for p in manifest.processes.values()):
        return
    from paas.domain import environment

    alb = env.alb_security_group or (env.security_groups[0] if env.security_groups else None)
    environment.require_web_ready(
        environment.EnvironmentSettings(region=env.region, cluster=env.cluster, listener_arn=env.listener_arn,
                                        vpc_id=env.vpc_id, subnets=tuple(env.subnets), alb_security_group=alb),
        env.name, app.name)


def _follow_on_strategy(base: BaseRelease, manifest: Manifest) -> str:
    """A change built on a progressive deployment still on its way keeps its gate; otherwise
    config and scale changes roll (a canary of an env var would double every change's time)."""
    if not base.live and base.strategy in ("canary", "blue-green"):
        return base.strategy
    return manifest.strategy.default if manifest.strategy.default != "canary" else "rolling"


def change_config(db: Db, app_name: str, env_name: str | None, *, actor: str,
                  set_vars: dict[str, str] | None = None, unset: list[str] | None = None,
                  secrets: dict[str, Any] | None = None, unset_secrets: list[str] | None = None,
                  message: str | None = None, kind: str = "config") -> tuple[Any, Requested | None]:
    """A new config version, and a release of it when the app has a release to build on here.

    `unset` removes plain variables only and `unset_secrets` secret references only, so
    `paas config unset` never drops a secret by accident. The merged variables are checked as a
    whole (count, sizes, the task definition's budget) before anything is written."""
    for k in (set_vars or {}):
        v.env_key(k)
    for k in (unset or []):
        v.env_key(k)
    for k in (unset_secrets or []):
        v.secret_name(k)
    v.message(message)
    v.actor(actor)
    app, env, base = _open(db, app_name, env_name)
    cur = (requests.config_by_id(db, base.release.config_version_id) if base
           else requests.latest_config(db, app.id, env.id))
    vars_ = dict(cur.vars) if cur else {}
    secs = dict(cur.secrets) if cur else {}
    for k in unset or []:
        if k in secs:
            raise UserError(f"{k!r} is a secret of {app.name} in {env.name}: remove it with "
                            f"paas secrets unset {app.name} {k}")
        if k not in vars_:
            raise UserError(f"config key {k!r} is not set for {app.name} in {env.name}")
    for k in unset_secrets or []:
        if k not in secs:
            plain = " (it is a plain variable: paas config unset)" if k in vars_ else ""
            raise UserError(f"secret {k!r} is not set for {app.name} in {env.name}{plain}")
    vars_.update(set_vars or {})
    secs.update(secrets or {})
    for k in unset or []:
        vars_.pop(k, None)
    for k in unset_secrets or []:
        secs.pop(k, None)
    clash = sorted(set(vars_) & set(secs))
    if clash:
        raise UserError(f"{clash[0]!r} is already a secret; unset it (paas secrets unset) before setting a plain value")
    v.config_vars(vars_)
    cfg = requests.insert_config(db, app.id, env.id, vars_, secs, actor)
    if base is None:
        return cfg, None
    manifest = Manifest.from_json(base.release.manifest)
    req = _create(
        db, app, env, kind=kind, image=v.image_ref(base.release.image), config_version_id=cfg.id,
        formation=base.release.formation, manifest=manifest, strategy=_follow_on_strategy(base, manifest),
        actor=actor, message=message, requested={"config_version": cfg.version, "built_on": base.release.version},
    )
    return cfg, req


def scale(db: Db, app_name: str, env_name: str | None, counts: dict[str, int], *, actor: str,
          message: str | None = None) -> Requested:
    app, env, base = _open(db, app_name, env_name)
    if base is None:
        raise UserError(f"{app.name} has no release in {env.name} yet: deploy before scaling")
    formation = base.release.formation
    unknown = sorted(set(counts) - set(formation))
    if unknown:
        raise UserError(
            f"unknown process {unknown[0]!r} for {app.name}: processes are {', '.join(sorted(formation))}")
    manifest = Manifest.from_json(base.release.manifest)
    return _create(
        db, app, env, kind="scale", image=v.image_ref(base.release.image),
        config_version_id=base.release.config_version_id,
        formation={k: {**f, "count": counts.get(k, f["count"])} for k, f in formation.items()},
        manifest=manifest, strategy=_follow_on_strategy(base, manifest), actor=actor, message=message,
        requested={"scale": counts, "built_on": base.release.version},
    )


def _formation_summary(f: dict[str, Any]) -> str:
    return ", ".join(f"{p}={x.get('count')} ({x.get('cpu')}/{x.get('memory')})" for p, x in sorted(f.items()))


def rollback(db: Db, app_name: str, env_name: str | None, *, actor: str, to_version: int | None = None,
             message: str | None = None, strategy: str | None = None, with_formation: bool = False,
             run_release_phase: bool = False) -> Requested:
    """A new release copying an older one: history stays append-only."""
    app, env, base = _open(db, app_name, env_name)
    if base is None:
        raise UserError(f"{app.name} has no release in {env.name} to roll back")
    current = base.release  # "now": what is live, or the request on its way that will be
    notes: list[str] = []
    if to_version is None:
        live_now = _live_release(db, app, env) or current
        target = requests.previously_live(db, app.id, env.id, live_now)
        if target is None:
            raise UserError(f"{app.name} has no earlier live release in {env.name} to roll back to (use --to vN)")
    else:
        target = requests.release_by_version(db, app.id, env.id, to_version)
        if target is None:
            latest = requests.latest_version(db, app.id, env.id)
            raise NotFound(f"{app.name} has no release v{to_version} in {env.name} (latest is v{latest})")
        rejected = requests.rejection(db, target.id)
        if rejected:
            notes.append(f"v{target.version} was {rejected.replace('_', ' ')} when it was deployed; "
                         "rolling back to it deploys it again")
    if target.config_version_id != current.config_version_id:
        notes.append(f"this rollback also changes config: v{target.version} uses a different config version "
                     "(env vars or secrets) than the current release")
    manifest = Manifest.from_json(target.manifest)
    formation = _rollback_formation(target, current, with_formation)
    if formation != target.formation and not with_formation:
        notes.append(f"formation kept as it is now ({_formation_summary(formation)}); "
                     f"--with-formation takes v{target.version}'s ({_formation_summary(target.formation)})")
    elif formation != current.formation:
        notes.append(f"formation changes: {_formation_summary(current.formation)} → {_formation_summary(formation)}")
    if strategy is None:
        # After a blue-green or canary deploy the previous colour may still run the target:
        # blue-green then makes the rollback one weight flip (or a deploy to the idle colour
        # when it is gone). Rolling apps roll back in place.
        last = requests.last_finished_strategy(db, app.id, env.id)
        strategy = "blue-green" if last in ("blue-green", "canary") else (
            "rolling" if manifest.strategy.default == "canary" else manifest.strategy.default)
    req = _create(
        db, app, env, kind="rollback", image=v.image_ref(target.image), config_version_id=target.config_version_id,
        formation=formation, manifest=manifest, strategy=strategy, actor=actor,
        message=message or f"rollback to v{target.version}", copied_from_id=target.copied_from_id or target.id,
        requested={"rollback_to": target.version, "with_formation": with_formation,
                   **({"run_release_phase": True} if run_release_phase else {})},
        run_release_phase=True if run_release_phase else None,
    )
    if run_release_phase and manifest.release is None:
        notes.append(f"v{target.version} has no [release] command: there is no release phase to run")
    req.notes.extend(notes)
    return req


def _live_release(db: Db, app: AppRecord, env: EnvironmentRecord) -> ReleaseRecord | None:
    from paas.db import reads

    live = reads.live(db, app.id, env.id)
    return None if live is None else requests.release_by_version(db, app.id, env.id, live.release_version)


def _rollback_formation(target: ReleaseRecord, current: ReleaseRecord, with_formation: bool) -> dict[str, Any]:
    """The target's processes at today's counts and sizes, unless asked for the target's own."""
    if with_formation:
        return dict(target.formation)
    return {p: dict(current.formation.get(p) or f) for p, f in target.formation.items()}


def app_urls(db: Db, app_name: str, env_name: str | None) -> tuple[AppRecord, EnvironmentRecord, dict[str, str]]:
    """Where APP answers in the environment: its newest live or on-its-way release's routes."""
    app, env = require_app_env(db, app_name, env_name)
    base = requests.base_release(db, app.id, env.id)
    if base is None:
        raise UserError(f"{app.name} has no release in {env.name} yet: deploy it first")
    return app, env, web_urls(Manifest.from_json(base.release.manifest), app.name, env.app_domain)
