"""Commands that ask for a change: config, scale, rollback; and `open` (deploy: paas.cli.deploy).

Each validates everything before opening the database, writes release + deployment + queue
row in one transaction, prints the deployment and returns. `--wait` then follows the
deployment until it finishes (exit 0 on success, 1 on failure or rollback). After a deploy the
app's URL is printed when its routes name a host (its own, or the environment's app domain).
"""

from __future__ import annotations

import click

from paas.cli.common import (
    Group, actor_option, actor_or_default, app_argument, env_option, json_option, message_option, print_json,
    print_table, resolve_app, split_app, transaction, verbose_option, wait_option,
)
from paas.cli.deploy import _load_manifest, _print_urls, _report, _simulated, deploy  # noqa: F401  (re-exported)
from paas.domain import validate as v
from paas.domain.errors import UserError


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
