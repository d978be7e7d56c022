"""Schema management: upgrade, status, roles."""

from __future__ import annotations

import click

from paas.cli.common import Group, json_option, print_json


@click.group(cls=Group)
def db():
    """The metadata database: schema, roles, the embedded server."""


@db.command()
def upgrade():
    """Apply migrations up to the latest schema.

    \b
    Example:
      PAAS_DATABASE_URL=postgresql://paas@db.internal/paas paas db upgrade
    """
    from paas.db.migrate import status, upgrade as do_upgrade
    from paas.db.url import redact, resolve

    url = resolve()
    _check_reachable(url)
    do_upgrade(url)
    s = status(url)
    click.echo(f"schema at {s['current']} ({redact(url)})")


def _check_reachable(url: str) -> None:
    from paas.db.sql import connect

    connect(url).close()


@db.command()
@json_option
def status(as_json):
    """Schema revision, and whether migrations are pending.

    Exit code 1 when they are.

    \b
    Example:
      paas db status --json
    """
    from paas.db.migrate import status as do_status
    from paas.db.url import redact, resolve

    url = resolve()
    _check_reachable(url)
    s = do_status(url)
    s["url"] = redact(url)
    if as_json:
        print_json(s)
    else:
        state = "up to date" if s["up_to_date"] else "migrations pending: run `paas db upgrade`"
        click.echo(f"{s['url']}: schema {s['current'] or 'empty'} (head {s['head']}), {state}")
    if not s["up_to_date"]:
        raise SystemExit(1)


@db.command()
def roles():
    """Create the roles paas_cli, paas_worker, paas_readonly.

    Idempotent: run it again after migrations to refresh the grants.

    \b
    Example:
      paas db roles && psql -c 'GRANT paas_readonly TO grafana'
    """
    from paas.cli.common import transaction
    from paas.db.roles import ROLES, create_roles

    with transaction() as d:
        created = create_roles(d)
    for r in ROLES:
        click.echo(f"{r}: {'created' if r in created else 'exists'}, grants applied")


@db.command()
def stop():
    """Stop the embedded PostgreSQL (in $PAAS_HOME/pgdata).

    The next command that needs it starts it again.

    \b
    Example:
      paas db stop
    """
    from paas.db.embedded import stop as stop_server
    from paas.settings import home

    pgdata = home() / "pgdata"
    click.echo(f"embedded PostgreSQL in {pgdata}: " + ("stopped" if stop_server(pgdata) else "was not running"))
