"""Steering progressive deployments: promote a paused canary, abort one in flight, garbage-collect."""

from __future__ import annotations

import click

from paas.cli.common import (
    actor_option, actor_or_default, app_argument, env_option, json_option, print_json, resolve_app, transaction,
    verbose_option, wait_option, wait_timeout,
)


@click.command()
@app_argument
@env_option
@actor_option
@json_option
@wait_option
@verbose_option
def promote(app, env, actor, as_json, wait, verbose):
    """Let a canary held by --pause-at continue to its next step.

    Its metric gate must still pass at the next step.

    \b
    Example:
      paas promote checkout -e production --wait
    """
    from paas.service.steering import promote as do_promote

    app = resolve_app(app)
    who = actor_or_default(actor)
    with transaction() as db:
        dep = do_promote(db, app, env, actor=who)
    _done(dep, f"promotion requested by {who}", as_json, wait, verbose)


@click.command()
@app_argument
@env_option
@actor_option
@json_option
@wait_option
@verbose_option
def abort(app, env, actor, as_json, wait, verbose):
    """Roll back APP's deployment in flight now, traffic first.

    Web traffic goes back to the stable colour in one call, then the new one is scaled down.

    \b
    Example:
      paas abort checkout -e production
    """
    from paas.service.steering import abort as do_abort

    app = resolve_app(app)
    who = actor_or_default(actor)
    with transaction() as db:
        dep = do_abort(db, app, env, actor=who)
    _done(dep, f"abort requested by {who}", as_json, wait, verbose)


def _done(dep, what: str, as_json: bool, wait: bool, verbose: bool = False) -> None:
    if as_json and not wait:
        print_json({"deployment_id": dep.id, "requested": what})
    elif not as_json:
        click.echo(f"deployment #{dep.id}: {what}")
    if wait:
        from paas.cli.follow import follow

        raise SystemExit(follow(dep.id, as_json=as_json, verbose=verbose, timeout=wait_timeout()))


@click.command()
@app_argument
@env_option
@actor_option
@click.option("--dry-run", is_flag=True,
              help="Show what GC would remove now and why (and what it keeps); change nothing.")
@json_option
def gc(app, env, actor, dry_run, as_json):
    """Garbage-collect APP's old task definitions and idle colours.

    Old task-definition revisions, and the previous colour once its keep window has passed.

    Without --dry-run, asks a worker to run GC now (only workers act). The policy comes from the
    app type, overridden per app with `paas apps gc-policy`.

    \b
    Examples:
      paas gc checkout -e staging --dry-run
      paas gc checkout -e staging
    """
    from paas.cli.common import database

    app = resolve_app(app)
    if not dry_run:
        from paas.service.gc import request_gc

        who = actor_or_default(actor)
        with transaction() as db:
            req = request_gc(db, app, env, actor=who)
        if as_json:
            print_json(req)
        else:
            wait = (f"; it runs once deployment #{req['waits_for_deployment']} finishes"
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
