"""Schema management: upgrade, status, roles."""

from __future__ import annotations

import click

from paas.cli.common import json_option, print_json


@click.group()
def db():
    """The metadata database."""


@db.command()
def upgrade():
    """Apply migrations up to the latest schema."""
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
    """Schema revision, and whether migrations are pending."""
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
    """Create least-privilege roles paas_cli, paas_worker, paas_readonly."""
    from paas.cli.common import transaction
    from paas.db.roles import ROLES, create_roles

    with transaction() as d:
        created = create_roles(d)
    for r in ROLES:
        click.echo(f"{r}: {'created' if r in created else 'exists'}, grants applied")
