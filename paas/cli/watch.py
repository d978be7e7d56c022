"""`paas watch APP` and `paas deployments watch ID`: re-attach to a deployment in flight.

Both follow from the database exactly as ``--wait`` does (paas/cli/follow.py): the timeline so
far, then events as workers record them, a progress line, and at the end the verdict with why
it failed and what to run next. `paas watch APP` picks the app's deployment in flight in the
environment (in progress, else the newest pending), else its newest one.
"""

from __future__ import annotations

import click

from paas.cli.common import database, env_option, json_option
from paas.domain import validate as v


def _timeout(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    return None if value is None else float(v.duration(value, "--timeout"))


timeout_option = click.option("--timeout", callback=_timeout, metavar="DURATION",
                              help="Stop following after this long (e.g. 90s, 15m); the deployment goes on.")


@click.command("watch")
@click.argument("deployment_id", metavar="ID", type=int)
@timeout_option
@json_option
def deployments_watch(deployment_id, timeout, as_json):
    """Follow deployment ID until it finishes.

    Exit 0 when it succeeded, 1 otherwise; Ctrl-C stops following, not the deployment.

    \b
    Example:
      paas deployments watch 1234 --timeout 15m
    """
    from paas.cli.follow import follow

    raise SystemExit(follow(deployment_id, as_json=as_json, timeout=timeout))


@click.command()
@click.argument("app")
@env_option
@timeout_option
@json_option
def watch(app, env, timeout, as_json):
    """Follow APP's deployment in flight (else its newest) to the end.

    Example: `paas watch checkout -e staging`.
    """
    from paas.cli.follow import follow
    from paas.db import reads
    from paas.domain.errors import NotFound
    from paas.service.catalog import require_app_env

    v.name(app, "app name")
    with database() as db:
        a, e = require_app_env(db, app, env)
        dep_id = reads.latest_deployment_id(db, a.id, e.id)
    if dep_id is None:
        raise NotFound(f"{a.name} has no deployment in {e.name} yet")
    if not as_json:
        click.echo(f"following deployment {dep_id} of {a.name} in {e.name}", err=True)
    raise SystemExit(follow(dep_id, as_json=as_json, timeout=timeout))
