"""Secrets: values go to AWS Secrets Manager; the database keeps only the ARN and version id.

A value never comes from the command line (it would land in shell history and `ps`): on a
terminal paas prompts for it without echo (twice, so a typo is caught); piped, it reads stdin;
or `--from-file`. `secrets unset` drops the reference from a new config version and release; the
value stays in Secrets Manager, where older releases (and rollbacks to them) still find it.
"""

from __future__ import annotations

import sys

import click

from paas.cli.common import (
    Group, actor_option, actor_or_default, app_argument, database, env_option, json_option, message_option,
    print_json, print_table, resolve_app, split_app, verbose_option, wait_option,
)
from paas.domain import validate as v
from paas.domain.errors import UserError


@click.group(cls=Group)
def secrets():
    """Secret env vars, stored in AWS Secrets Manager."""


def _app_then_name(first: str, count: int) -> bool:
    return count >= 2


def _read_value(name: str, from_file) -> str:
    """From --from-file, else a prompt without echo on a terminal, else stdin (bytes, bounded)."""
    from paas.domain.limits import SECRET_VALUE_MAX_BYTES

    if from_file is not None:
        return v.secret_value(from_file.read(SECRET_VALUE_MAX_BYTES + 3), name)
    if sys.stdin.isatty():
        import getpass

        try:
            first = getpass.getpass(f"value for {name} (not shown): ", stream=sys.stderr)
            again = getpass.getpass(f"again, to confirm: ", stream=sys.stderr)
        except EOFError:
            raise UserError(f"no value given for secret {name}") from None
        if first != again:
            raise UserError(f"the two values for secret {name} differ; nothing was stored")
        return v.secret_value(first, name)
    source = getattr(sys.stdin, "buffer", None)
    raw = source.read(SECRET_VALUE_MAX_BYTES + 3) if source is not None else sys.stdin.read(SECRET_VALUE_MAX_BYTES + 3)
    return v.secret_value(raw, name)  # strict UTF-8, one trailing newline dropped, bounded


@secrets.command("set")
@click.argument("args", nargs=-1, required=True, metavar="[APP] NAME")
@env_option
@click.option("--from-file", type=click.File("rb"), help="Read the value from this file (binary-safe, strict UTF-8).")
@message_option
@actor_option
@json_option
@wait_option
@verbose_option
def secrets_set(args, env, from_file, message, actor, as_json, wait, verbose):
    """Store secret NAME of APP (prompted for, never echoed).

    On a terminal the value is prompted for without echo; piped, it is read from stdin.

    \b
    Examples:
      paas secrets set checkout DB_PASSWORD -e staging             # prompts, nothing echoed
      vault read -field=pw secret/db | paas secrets set checkout DB_PASSWORD -e staging
    """
    from paas.reconciler.drivers import driver_for
    from paas.service.catalog import get_app, get_env
    from paas.service.releases import change_config

    app, rest = split_app(args, _app_then_name, "NAME")
    if len(rest) != 1:
        raise UserError("expected [APP] NAME: the value is never an argument (it is prompted for, or read from "
                        "stdin or --from-file)")
    name = v.secret_name(rest[0])
    who = actor_or_default(actor)
    value = _read_value(name, from_file)
    with database() as db:
        a, e = get_app(db, app), get_env(db, env)
    arn, version = driver_for(e).put_secret(f"/paas/{e.name}/{a.name}/{name}", value)
    del value
    from paas.cli.common import transaction
    from paas.cli.requests import _report

    with transaction() as db:
        cfg, req = change_config(db, app, e.name, actor=who, message=message,
                                 secrets={name: {"arn": arn, "version": version}}, kind="secret")
    if not as_json or req is None:
        click.echo(f"secret {name} stored as version {version} ({arn}); config v{cfg.version}", err=not as_json)
    if req is not None:
        _report(req, as_json, wait, verbose)
    elif as_json:
        print_json({"config_version": cfg.version, "secret": name, "arn": arn, "version": version,
                    "deployment_id": None})


@secrets.command("unset")
@click.argument("args", nargs=-1, required=True, metavar="[APP] NAME...")
@env_option
@message_option
@actor_option
@json_option
@wait_option
@verbose_option
def secrets_unset(args, env, message, actor, as_json, wait, verbose):
    """Stop giving secret NAME to APP (a new release).

    The value stays in Secrets Manager: older releases, and rollbacks to them, still use it.

    \b
    Example:
      paas secrets unset checkout DB_PASSWORD -e staging
    """
    from paas.cli.requests import _change

    app, names = split_app(args, lambda first, count: count >= 2 and v.NAME_RE.fullmatch(first) is not None,
                           "NAME")
    for n in names:
        v.secret_name(n)
    _change(app, env, actor, message, as_json, wait, verbose, unset_secrets=list(names), kind="secret")


@secrets.command("list")
@app_argument
@env_option
@json_option
def secrets_list(app, env, as_json):
    """Names, ARNs and versions of APP's secrets; never values.

    \b
    Example:
      paas secrets list checkout -e staging
    """
    from paas.service.config import config_version

    app = resolve_app(app)
    with database() as db:
        row = config_version(db, app, env)
    items = sorted((row.secrets if row else {}).items())
    if as_json:
        print_json([{"name": k, "arn": s.get("arn"), "version": s.get("version")} for k, s in items])
        return
    from paas.cli.table import Col

    print_table([Col("name", keep=True), Col("version", floor=12), Col("arn", floor=20)],
                [(k, s.get("version"), s.get("arn")) for k, s in items])
