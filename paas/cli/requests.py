"""Commands that ask for a change: deploy, config, scale, rollback.

Each validates everything before opening the database, writes release + deployment + queue
row in one transaction, prints the deployment id and returns. `--wait` then follows the
deployment until it finishes (exit 0 on success, 1 on failure or rollback).
"""

from __future__ import annotations

import os

import click

from paas.cli.common import actor_option, actor_or_default, env_option, json_option, print_json, print_table, transaction
from paas.domain import validate as v
from paas.domain.errors import UserError

def _wait_timeout(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta["paas.wait_timeout"] = v.duration(value, "--timeout")


def wait_option(f):
    """--wait (follow the deployment until it finishes) and --timeout (stop following after)."""
    f = click.option("--timeout", callback=_wait_timeout, expose_value=False, metavar="DURATION",
                     help="With --wait: stop following after this long (e.g. 90s, 15m); the deployment goes on.")(f)
    return click.option("--wait", is_flag=True, help="Follow the deployment until it finishes.")(f)


def wait_timeout() -> float | None:
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get("paas.wait_timeout") if ctx is not None else None


def _report(req, as_json: bool, wait: bool) -> None:
    if as_json and not wait:
        print_json(req.to_json())
    elif not as_json:
        for note in req.notes:
            click.echo(f"note: {note}", err=True)
        sup = f" (supersedes {', '.join(str(i) for i in req.superseded)})" if req.superseded else ""
        click.echo(f"deployment {req.deployment_id}: {req.app} v{req.release_version} to {req.environment}, "
                   f"{req.strategy}{sup}")
    if wait:
        from paas.cli.follow import follow

        raise SystemExit(follow(req.deployment_id, as_json=as_json, timeout=wait_timeout()))


def _load_manifest(path: str | None):
    from paas.domain.manifest import parse_manifest

    if path is None:
        if not os.path.exists("paas.toml"):
            return None
        path = "paas.toml"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UserError(f"cannot read manifest {path}: {e.strerror}") from None
    return parse_manifest(text, path)


@click.command()
@click.argument("app")
@click.option("--image", "-i", required=True, help="Image reference, e.g. registry/app:1.2 or name@sha256:...")
@env_option
@click.option("--strategy", "-s", type=click.Choice(v.STRATEGIES), help="Default: paas.toml, else rolling.")
@click.option("--steps", help="Canary traffic steps in percent, e.g. 10,50,100.")
@click.option("--pause-at", type=int, help="Canary: hold at this step until `paas promote`.")
@click.option("--message", "-m", help="Why (required by some environments).")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False), help="Default: ./paas.toml when present.")
@actor_option
@json_option
@wait_option
def deploy(app, image, env, strategy, steps, pause_at, message, manifest_path, actor, as_json, wait):
    """Deploy IMAGE as a new release of APP."""
    from paas.service.releases import deploy as do_deploy

    v.name(app, "app name")
    v.image_ref(image)
    manifest = _load_manifest(manifest_path)
    canary_steps = None
    if steps is not None:
        try:
            parsed = [int(s) for s in steps.split(",")]
        except ValueError:
            raise UserError(f"invalid --steps {steps!r}: expected percentages like 10,100") from None
        canary_steps = v.canary_steps(parsed)
    if pause_at is not None:
        allowed = canary_steps or list(manifest.strategy.canary_steps if manifest else (10, 100))
        if pause_at not in allowed or pause_at == 100:
            raise UserError(f"invalid --pause-at {pause_at}: it must name a canary step below 100 ({allowed})")
    if (steps is not None or pause_at is not None) and (strategy or (manifest and manifest.strategy.default)) != "canary":
        raise UserError("--steps and --pause-at apply to --strategy canary")
    with transaction() as db:
        req = do_deploy(db, app, env, image, actor=actor_or_default(actor), message=message,
                        strategy=strategy, manifest=manifest, canary_steps=canary_steps, pause_at=pause_at)
    _report(req, as_json, wait)


@click.group()
def config():
    """Environment variables: each change is a new config version and release."""


@config.command("set")
@click.argument("app")
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
@env_option
@click.option("--message", "-m")
@actor_option
@json_option
@wait_option
def config_set(app, pairs, env, message, actor, as_json, wait):
    """Set KEY=VALUE pairs."""
    v.name(app, "app name")
    values = v.key_values(pairs)
    _change(app, env, actor, message, as_json, wait, set_vars=values)


@config.command("unset")
@click.argument("app")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@env_option
@click.option("--message", "-m")
@actor_option
@json_option
@wait_option
def config_unset(app, keys, env, message, actor, as_json, wait):
    """Remove keys."""
    v.name(app, "app name")
    for k in keys:
        v.env_key(k)
    _change(app, env, actor, message, as_json, wait, unset=list(keys))


def _change(app, env, actor, message, as_json, wait, **change):
    from paas.service.releases import change_config

    with transaction() as db:
        cfg, req = change_config(db, app, env, actor=actor_or_default(actor), message=message, **change)
    if req is None:
        if as_json:
            print_json({"config_version": cfg.version, "deployment_id": None})
        else:
            click.echo(f"config v{cfg.version} saved; it takes effect with {app}'s first deploy")
        return
    if not as_json:
        click.echo(f"config v{cfg.version}", err=True)
    _report(req, as_json, wait)


@config.command("show")
@click.argument("app")
@env_option
@click.option("--version", "version", help="A config version (default: latest).")
@json_option
def config_show(app, env, version, as_json):
    """Show env vars and secret references (never secret values)."""
    from paas.cli.common import database
    from paas.service.config import config_version

    v.name(app, "app name")
    wanted = v.version_label(version) if version else None
    with database() as db:
        row = config_version(db, app, env, wanted)
    vars_ = dict(row.vars) if row else {}
    secrets = dict(row.secrets) if row else {}
    if as_json:
        print_json({"app": app, "environment": env, "config_version": row.version if row else None,
                    "vars": vars_, "secrets": secrets})
        return
    rows = [(k, val, "") for k, val in sorted(vars_.items())]
    rows += [(k, "(secret)", f"{s.get('arn')} version {s.get('version')}") for k, s in sorted(secrets.items())]
    print_table(["key", "value", "secret reference"], rows,
                title=f"{app} in {env}: config v{row.version}" if row else f"{app} in {env}: no config yet")


@click.command()
@click.argument("app")
@click.argument("pairs", nargs=-1, required=True, metavar="PROCESS=COUNT...")
@env_option
@click.option("--message", "-m")
@actor_option
@json_option
@wait_option
def scale(app, pairs, env, message, actor, as_json, wait):
    """Change process counts, e.g. `paas scale checkout web=3 worker=2`."""
    from paas.service.releases import scale as do_scale

    v.name(app, "app name")
    counts = v.scale_pairs(pairs)
    with transaction() as db:
        req = do_scale(db, app, env, counts, actor=actor_or_default(actor), message=message)
    _report(req, as_json, wait)


@click.command()
@click.argument("app")
@env_option
@click.option("--to", "to", help="Release to return to, e.g. v3 (default: the release that was live before the "
              "current one).")
@click.option("--with-formation", is_flag=True,
              help="Also restore the target's process counts and sizes (default: keep today's formation).")
@click.option("--run-release-phase", is_flag=True,
              help="Run the target's [release] command again before its services change (default: not).")
@click.option("--message", "-m", help="Why (required by some environments).")
@actor_option
@json_option
@wait_option
def rollback(app, env, to, with_formation, run_release_phase, message, actor, as_json, wait):
    """Roll APP back: a new release with an older release's image, config and manifest.

    The formation (counts, cpu, memory) stays as it is now unless --with-formation.
    Example: `paas rollback checkout -e staging --to v12`.
    """
    from paas.service.releases import rollback as do_rollback

    v.name(app, "app name")
    to_version = v.version_label(to) if to else None
    with transaction() as db:
        req = do_rollback(db, app, env, actor=actor_or_default(actor), to_version=to_version, message=message,
                          with_formation=with_formation, run_release_phase=run_release_phase)
    _report(req, as_json, wait)
