"""Steering progressive deployments: promote a paused canary, abort one in flight."""

from __future__ import annotations

import click

from paas.cli.common import actor_option, actor_or_default, env_option, json_option, print_json, transaction
from paas.domain import validate as v


@click.command()
@click.argument("app")
@env_option
@actor_option
@json_option
@click.option("--wait", is_flag=True, help="Follow the deployment until it finishes.")
def promote(app, env, actor, as_json, wait):
    """Let a canary held by --pause-at continue to its next step."""
    from paas.service.releases import promote as do_promote

    v.name(app, "app name")
    with transaction() as db:
        dep = do_promote(db, app, env, actor=actor_or_default(actor))
    _done(dep, "promotion requested", as_json, wait)


@click.command()
@click.argument("app")
@env_option
@actor_option
@json_option
@click.option("--wait", is_flag=True, help="Follow the deployment until it finishes.")
def abort(app, env, actor, as_json, wait):
    """Roll back the deployment in flight at once."""
    from paas.service.releases import abort as do_abort

    v.name(app, "app name")
    with transaction() as db:
        dep = do_abort(db, app, env, actor=actor_or_default(actor))
    _done(dep, "abort requested", as_json, wait)


def _done(dep, what: str, as_json: bool, wait: bool) -> None:
    if as_json and not wait:
        print_json({"deployment_id": dep.id, "requested": what})
    elif not as_json:
        click.echo(f"deployment {dep.id}: {what}")
    if wait:
        from paas.cli.follow import follow

        raise SystemExit(follow(dep.id, as_json=as_json))
