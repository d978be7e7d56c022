"""Commands that ask for a change: deploy, config, scale, rollback; and `open`.

Each validates everything before opening the database, writes release + deployment + queue
row in one transaction, prints the deployment and returns. `--wait` then follows the
deployment until it finishes (exit 0 on success, 1 on failure or rollback). After a deploy the
app's URL is printed when its routes name a host (its own, or the environment's app domain).
"""

from __future__ import annotations

import os

import click

from paas.cli.common import (
    Group, actor_option, actor_or_default, app_argument, env_option, json_option, message_option, print_json,
    print_table, resolve_app, split_app, transaction, verbose_option, wait_option, wait_timeout,
)
from paas.domain import validate as v
from paas.domain.errors import UserError


def _report(req, as_json: bool, wait: bool, verbose: bool = False) -> None:
    if as_json and not wait:
        print_json(req.to_json())
        return
    if not as_json:
        for note in req.notes:
            click.echo(f"note: {note}", err=True)
        sup = f"; supersedes deployment {', '.join('#' + str(i) for i in req.superseded)}" if req.superseded else ""
        click.echo(f"deployment #{req.deployment_id} requested: {req.app} release v{req.release_version} to "
                   f"{req.environment} ({req.strategy}{sup})")
    if wait:
        from paas.cli.follow import follow

        code = follow(req.deployment_id, as_json=as_json, verbose=verbose, timeout=wait_timeout())
        if code == 0 and not as_json:
            _print_urls(req.environment, req.urls)
        raise SystemExit(code)
    _print_urls(req.environment, req.urls)


def _simulated(environment: str) -> bool:
    from paas.settings import read_dev_state

    return read_dev_state().get("env") == environment


def _print_urls(environment: str, urls: dict[str, str], prefix: str = "") -> None:
    if not urls:
        return
    sim = " (simulated by paas dev: no DNS name, nothing answers there)" if _simulated(environment) else ""
    for proc, url in urls.items():
        who = f" ({proc})" if len(urls) > 1 else ""
        click.echo(f"{prefix}{url}{who}{sim}")


def _load_manifest(path: str | None):
    """--manifest PATH, else ./paas.toml when present: read with a size limit, strict UTF-8."""
    from paas.domain.manifest import read_manifest

    if path is None:
        if not os.path.exists("paas.toml"):
            return None
        path = "paas.toml"
    return read_manifest(path)


@click.command()
@app_argument
@click.option("--image", "-i", required=True,
              help="Image reference: registry/app:1.2, or name@sha256:<64 hex> to pin a digest.")
@env_option
@click.option("--strategy", "-s", type=click.Choice(v.STRATEGIES),
              help="How the release replaces the current one (default: paas.toml's [strategy] default, else rolling).")
@click.option("--steps", help="Canary traffic steps in percent, rising and ending at 100, e.g. 10,50,100.")
@click.option("--pause-at", type=int, help="Canary: hold at this step (a percentage of --steps) until `paas promote`.")
@message_option
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False),
              help="The paas.toml to deploy with (default: ./paas.toml when present).")
@actor_option
@json_option
@wait_option
@verbose_option
def deploy(app, image, env, strategy, steps, pause_at, message, manifest_path, actor, as_json, wait, verbose):
    """Deploy an image as a new release of APP.

    Reads ./paas.toml (or --manifest) when present: processes, routing, health checks and
    strategy defaults; without one the app keeps its previous release's. Returns as soon as
    the request is recorded; --wait follows it.

    \b
    Examples:
      paas deploy checkout --image registry.example.com/checkout:1.4.2 -e staging -m "new basket"
      paas deploy checkout -i registry.example.com/checkout:1.5 -e production --strategy canary --steps 10,50,100 --wait
      paas deploy --image registry.example.com/checkout:1.5     # in a folder whose paas.toml has app = "checkout"
    """
    from paas.service.releases import deploy as do_deploy

    v.image_ref(image)
    manifest = _load_manifest(manifest_path)
    if app is None:
        if manifest is None or manifest.app is None:
            raise UserError("no app given: name it (paas deploy APP ...) or add app = \"NAME\" to paas.toml")
        app = manifest.app
    v.name(app, "app name")
    canary_steps = None
    if steps is not None:
        try:
            parsed = [int(s) for s in steps.split(",")]
        except ValueError:
            raise UserError(f"invalid --steps {v.show(steps)}: expected percentages like 10,100") from None
        canary_steps = v.canary_steps(parsed)
    if pause_at is not None:
        allowed = canary_steps or list(manifest.strategy.canary_steps if manifest else (10, 100))
        if pause_at not in allowed or pause_at == 100:
            raise UserError(f"invalid --pause-at {pause_at}: it must name a canary step below 100 ({allowed})")
    if (steps is not None or pause_at is not None) and (strategy or (manifest and manifest.strategy.default)) != "canary":
        raise UserError("--steps and --pause-at apply to --strategy canary")
    who = actor_or_default(actor)
    with transaction() as db:
        req = do_deploy(db, app, env, image, actor=who, message=message, strategy=strategy, manifest=manifest,
                        canary_steps=canary_steps, pause_at=pause_at)
    _report(req, as_json, wait, verbose)


@click.group(cls=Group)
def config():
    """Environment variables: each change is a new release."""


def _has_equals(first: str, count: int) -> bool:
    return "=" not in first


@config.command("set")
@click.argument("args", nargs=-1, required=True, metavar="[APP] KEY=VALUE...")
@env_option
@message_option
@actor_option
@json_option
@wait_option
@verbose_option
def config_set(args, env, message, actor, as_json, wait, verbose):
    """Set environment variables of APP (a new release).

    Values may hold any text but NUL: at most 32 KiB each, 500 keys and 48 KiB in all.
    Secrets go through `paas secrets set` instead.

    \b
    Example:
      paas config set checkout LOG_LEVEL=debug FEATURE_X=1 -e staging
    """
    app, pairs = split_app(args, _has_equals, "KEY=VALUE")
    values = v.key_values(pairs)
    _change(app, env, actor, message, as_json, wait, verbose, set_vars=values)


def _app_then_names(first: str, count: int) -> bool:
    """`[APP] NAME...`: the first of two or more arguments is the app when it looks like one
    (names of env vars are usually upper case, app names never)."""
    return count >= 2 and v.NAME_RE.fullmatch(first) is not None


@config.command("unset")
@click.argument("args", nargs=-1, required=True, metavar="[APP] KEY...")
@env_option
@message_option
@actor_option
@json_option
@wait_option
@verbose_option
def config_unset(args, env, message, actor, as_json, wait, verbose):
    """Remove environment variables of APP (a new release).

    Secrets are removed with `paas secrets unset`.

    \b
    Example:
      paas config unset checkout FEATURE_X -e staging
    """
    app, keys = split_app(args, _app_then_names, "KEY")
    for k in keys:
        v.env_key(k)
    _change(app, env, actor, message, as_json, wait, verbose, unset=list(keys))


def _change(app, env, actor, message, as_json, wait, verbose, **change):
    from paas.service.releases import change_config

    who = actor_or_default(actor)
    with transaction() as db:
        cfg, req = change_config(db, app, env, actor=who, message=message, **change)
    if req is None:
        if as_json:
            print_json({"config_version": cfg.version, "deployment_id": None})
        else:
            click.echo(f"config v{cfg.version} saved; it takes effect with {app}'s first deploy")
        return
    if not as_json:
        click.echo(f"config v{cfg.version}", err=True)
    _report(req, as_json, wait, verbose)


@config.command("show")
@app_argument
@env_option
@click.option("--version", "version", help="A config version, e.g. v3 (default: the one the current release uses).")
@json_option
def config_show(app, env, version, as_json):
    """Show APP's env vars and which keys are secrets.

    A secret's value is never shown: only where it is stored.

    \b
    Example:
      paas config show checkout -e staging
    """
    from paas.cli.common import database
    from paas.service.config import config_version

    app = resolve_app(app)
    wanted = v.version_label(version) if version else None
    with database() as db:
        row = config_version(db, app, env, wanted)
    vars_ = dict(row.vars) if row else {}
    secrets = dict(row.secrets) if row else {}
    if as_json:
        print_json({"app": app, "environment": env, "config_version": row.version if row else None,
                    "vars": vars_, "secrets": secrets})
        return
    from paas.cli.table import Col

    rows = [(k, val, "-", None) for k, val in sorted(vars_.items())]
    rows += [(k, "(hidden)", "yes", f"version {s.get('version')} of {s.get('arn')}") for k, s in sorted(secrets.items())]
    rows.sort(key=lambda r: r[0])
    print_table([Col("key", keep=True), Col("value", floor=12), Col("secret", keep=True),
                 Col("stored as", floor=12, drop=1)], rows,
                title=f"{app} in {env}: config v{row.version}" if row else f"{app} in {env}: no config yet")


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="[APP] PROCESS=COUNT...")
@env_option
@message_option
@actor_option
@json_option
@wait_option
@verbose_option
def scale(args, env, message, actor, as_json, wait, verbose):
    """Change how many tasks each process of APP runs.

    Each change is a new release, built on the current one.

    \b
    Example:
      paas scale checkout web=3 worker=2 -e staging
    """
    from paas.service.releases import scale as do_scale

    app, pairs = split_app(args, _has_equals, "PROCESS=COUNT")
    counts = v.scale_pairs(pairs)
    who = actor_or_default(actor)
    with transaction() as db:
        req = do_scale(db, app, env, counts, actor=who, message=message)
    _report(req, as_json, wait, verbose)


@click.command()
@app_argument
@env_option
@click.option("--to", "to", help="Release to return to, e.g. v3 (default: the release that was live before the "
              "current one).")
@click.option("--with-formation", is_flag=True,
              help="Also restore the target's process counts and sizes (default: keep today's formation).")
@click.option("--run-release-phase", is_flag=True,
              help="Run the target's [release] command again before its services change (default: not).")
@message_option
@actor_option
@json_option
@wait_option
@verbose_option
def rollback(app, env, to, with_formation, run_release_phase, message, actor, as_json, wait, verbose):
    """Roll APP back to an older release (as a new release).

    The new release has the older release's image, config and manifest.

    The formation (counts, cpu, memory) stays as it is now unless --with-formation.

    \b
    Examples:
      paas rollback checkout -e staging            # to the release live before the current one
      paas rollback checkout -e staging --to v12
    """
    from paas.service.releases import rollback as do_rollback

    app = resolve_app(app)
    to_version = v.version_label(to) if to else None
    who = actor_or_default(actor)
    with transaction() as db:
        req = do_rollback(db, app, env, actor=who, to_version=to_version, message=message,
                          with_formation=with_formation, run_release_phase=run_release_phase)
    _report(req, as_json, wait, verbose)


@click.command("open")
@app_argument
@env_option
@click.option("--print", "print_only", is_flag=True, help="Only print the URL; do not start a browser.")
@json_option
def open_app(app, env, print_only, as_json):
    """Print APP's URL (and open it in a browser on a terminal).

    The host is the app's `[routing] host`, else APP.<app domain> of the environment.

    \b
    Example:
      paas open checkout -e staging
    """
    from paas.cli.common import database
    from paas.service.releases import app_urls

    app = resolve_app(app)
    with database() as db:
        a, e, urls = app_urls(db, app, env)
    if as_json:
        print_json({"app": a.name, "environment": e.name, "urls": urls, "simulated": _simulated(e.name)})
        return
    if not urls:
        raise UserError(f"{a.name} has no URL in {e.name}: its routes name no host and the environment has no "
                        "app domain (set [routing] host in paas.toml, or --app-domain on the environment)")
    _print_urls(e.name, urls)
    if not print_only and not _simulated(e.name) and click.get_text_stream("stdout").isatty():
        click.launch(next(iter(urls.values())))
