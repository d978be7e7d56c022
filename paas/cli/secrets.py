"""Secrets: values go to AWS Secrets Manager; the database keeps only the ARN and version id."""

from __future__ import annotations

import sys

import click

from paas.cli.common import actor_option, actor_or_default, database, env_option, json_option, print_json, print_table
from paas.cli.requests import wait_option
from paas.domain import validate as v
from paas.domain.errors import UserError

@click.group()
def secrets():
    """Secret env vars (stored in Secrets Manager, pinned by ARN and version id)."""


@secrets.command("set")
@click.argument("app")
@click.argument("name")
@env_option
@click.option("--from-file", type=click.File("rb"), help="Read the value from a file instead of stdin.")
@click.option("--message", "-m")
@actor_option
@json_option
@wait_option
def secrets_set(app, name, env, from_file, message, actor, as_json, wait):
    """Store secret NAME for APP, read from stdin (never from the command line)."""
    from paas.reconciler.drivers import driver_for
    from paas.service.catalog import get_app, get_env
    from paas.service.releases import change_config

    v.name(app, "app name")
    v.secret_name(name)
    from paas.domain.limits import SECRET_VALUE_MAX_BYTES

    if from_file is None and sys.stdin.isatty():
        click.echo(f"value for {name} (end with Ctrl-D):", err=True)
    source = from_file or getattr(sys.stdin, "buffer", None)
    raw = source.read(SECRET_VALUE_MAX_BYTES + 3) if source is not None else sys.stdin.read().encode()
    value = v.secret_value(raw, name)  # strict UTF-8, one trailing newline dropped, bounded
    with database() as db:
        a, e = get_app(db, app), get_env(db, env)
    arn, version = driver_for(e).put_secret(f"/paas/{e.name}/{a.name}/{name}", value)
    del value
    from paas.cli.common import transaction
    from paas.cli.requests import _report

    with transaction() as db:
        cfg, req = change_config(db, app, e.name, actor=actor_or_default(actor), message=message,
                                 secrets={name: {"arn": arn, "version": version}}, kind="secret")
    if not as_json or req is None:
        click.echo(f"secret {name} stored as version {version} ({arn}); config v{cfg.version}", err=not as_json)
    if req is not None:
        _report(req, as_json, wait)
    elif as_json:
        print_json({"config_version": cfg.version, "secret": name, "arn": arn, "version": version,
                    "deployment_id": None})


@secrets.command("list")
@click.argument("app")
@env_option
@json_option
def secrets_list(app, env, as_json):
    """Names, ARNs and versions; never values."""
    from paas.service.config import config_version

    v.name(app, "app name")
    with database() as db:
        row = config_version(db, app, env)
    items = sorted((row.secrets if row else {}).items())
    if as_json:
        print_json([{"name": k, "arn": s.get("arn"), "version": s.get("version")} for k, s in items])
        return
    print_table(["name", "version", "arn"], [(k, s.get("version"), s.get("arn")) for k, s in items])
