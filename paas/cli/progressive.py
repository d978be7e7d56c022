"""Steering progressive deployments: promote a paused canary, abort one in flight, garbage-collect."""

from __future__ import annotations

import click

from paas.cli.common import actor_option, actor_or_default, env_option, json_option, print_json, transaction
from paas.cli.requests import wait_option, wait_timeout
from paas.domain import validate as v


@click.command()
@click.argument("app")
@env_option
@actor_option
@json_option
@wait_option
def promote(app, env, actor, as_json, wait):
    """Let a canary held by --pause-at continue to its next step."""
    from paas.service.steering import promote as do_promote

    v.name(app, "app name")
    with transaction() as db:
        dep = do_promote(db, app, env, actor=actor_or_default(actor))
    _done(dep, "promotion requested", as_json, wait)


@click.command()
@click.argument("app")
@env_option
@actor_option
@json_option
@wait_option
def abort(app, env, actor, as_json, wait):
    """Roll back the deployment in flight at once."""
    from paas.service.steering import abort as do_abort

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

        raise SystemExit(follow(dep.id, as_json=as_json, timeout=wait_timeout()))


@click.command()
@click.argument("app")
@env_option
@actor_option
@click.option("--dry-run", is_flag=True,
              help="Show what GC would remove now and why (and what it keeps); change nothing.")
@json_option
def gc(app, env, actor, dry_run, as_json):
    """Garbage-collect APP: old task-definition revisions, the previous colour after its keep window.

    Without --dry-run, asks a worker to run GC now (only workers act). The policy comes from the
    app type, overridden per app with `paas apps gc-policy`.
    """
    from paas.cli.common import database

    v.name(app, "app name")
    if not dry_run:
        from paas.service.gc import request_gc

        with transaction() as db:
            req = request_gc(db, app, env, actor=actor_or_default(actor))
        if as_json:
            print_json(req)
        else:
            wait = (f"; it runs once deployment {req['waits_for_deployment']} finishes"
                    if req["waits_for_deployment"] else "")
            click.echo(f"garbage collection of {req['app']} in {req['environment']} requested: "
                       f"a worker runs it now{wait} (see: paas history {req['app']})")
        return
    from paas.reconciler.gc import preview
    from paas.service.catalog import get_app, get_env

    with database() as db:
        a, e = get_app(db, app), get_env(db, env)
        out = preview(db, a.id, e.id)
    if as_json:
        print_json(out)
        return
    _print_preview(out)


def _print_preview(out: dict) -> None:
    from paas.cli.common import human_seconds, print_table

    p = out["policy"]
    idle = p["idle_scale_to_zero_seconds"]
    click.echo(f"GC policy for {out['app']} ({out['app_type']}) in {out['environment']}: keep "
               f"{p['keep_task_definitions']} task definition revisions; previous colour kept "
               f"{human_seconds(p['previous_colour_keep_seconds'])}; idle colours scaled to 0: "
               f"{'never' if idle is None else 'after ' + human_seconds(idle)}"
               + (f" (app overrides: {', '.join(sorted(out['overrides']))})" if out["overrides"] else ""))
    if out["waiting_for"]:
        click.echo(f"GC does not run now: waiting for {out['waiting_for']}")
    if not out["remove"]:
        click.echo("would remove: nothing")
    else:
        print_table(["would remove", "what", "why"],
                    [("deregister" if a["kind"] == "deregister" else "scale to 0",
                      _short(a.get("arn") or a.get("service")), a["reason"]) for a in out["remove"]])
    if out["keep"]:
        print_table(["keeps", "what", "why"],
                    [(k["kind"].replace("_", " "), _short(k["name"]), k["reason"]) for k in out["keep"]])


def _short(name: str) -> str:
    """family:revision for a task definition ARN (the JSON output keeps the full ARN)."""
    return name.rsplit("/", 1)[-1] if name.startswith("arn:") else name
