"""Commands that read what happened: releases, status, history, deployments show/cancel.

All read the metadata database only (no AWS call): `paas status` shows what the reconciler last
observed. Every one takes `--json` with the field names documented in the README. Tables fit
the terminal (paas.cli.table): deployment ids, releases, image tags and states are never cut.
"""

from __future__ import annotations

import click

from paas.cli.common import (
    Group, actor_option, actor_or_default, app_argument, complete_apps, database, env_option, fmt, human_seconds, json_option,
    print_json, print_table, resolve_app, transaction,
)
from paas.cli.table import Col, state_style


def _duration(seconds):
    return None if seconds is None else human_seconds(seconds)


def _limit_option(default: int, what: str):
    return click.option("--limit", "-n", type=int, default=default, show_default=True,
                        help=f"At most N {what}, newest first (0: all, up to 10,000).")


@click.command()
@app_argument
@env_option
@_limit_option(50, "releases")
@json_option
def releases(app, env, limit, as_json):
    """APP's releases, newest first.

    All environments unless --env or $PAAS_ENV names one.

    \b
    Example:
      paas releases checkout -e production --limit 10
    """
    from paas.service.history import releases as list_releases

    app = resolve_app(app)
    with database() as db:
        rows = list_releases(db, app, env, limit)
    if as_json:
        print_json(rows)
        return
    print_table(
        [Col("env", keep=True), Col("release", keep=True), Col("kind", drop=6), Col("image", image=True),
         Col("digest", drop=9, floor=12), Col("config", drop=7), Col("formation", drop=8, floor=10),
         Col("actor", drop=4, floor=8), Col("message", drop=3, floor=10), Col("created", drop=5, floor=99),
         Col("known-good", keep=True), Col("deployment", keep=True, style=state_style)],
        [(r["environment"], f"v{r['version']}", r["kind"], r["image"], _short_digest(r["image_digest"]),
          f"v{r['config_version']}", r["formation_summary"], r["actor"], r["message"], r["created_at"],
          r["known_good_at"] is not None, r["deployment_state"]) for r in rows],
    )


def _short_digest(d: str | None) -> str | None:
    if not d:
        return None
    algo, _, hexpart = d.partition(":")
    return f"{algo}:{hexpart[:12]}"


@click.command()
@click.argument("app", required=False, shell_complete=complete_apps)
@env_option
@_limit_option(20, "deployments")
@click.option("--since", help="Only deployments created in this window, e.g. 24h, 7d (at most 10 years).")
@json_option
def history(app, env, limit, since, as_json):
    """Deployments, newest first: of APP, or of every app.

    The rows of the paas_deploy_history view.

    \b
    Examples:
      paas history checkout
      paas history --since 24h -e production --limit 0
    """
    from paas.service.history import history as read_history

    with database() as db:
        rows = read_history(db, app=app, env=env, since=since, limit=limit)
    if as_json:
        print_json(rows)
        return
    from paas.cli.run import history_cells

    print_table(
        [Col("deployment", keep=True), Col("app", keep=True), Col("env", keep=True), Col("release", keep=True),
         Col("image", image=True), Col("strategy", drop=5), Col("state", keep=True, style=state_style),
         Col("actor", drop=3, floor=8), Col("message", drop=2, floor=10), Col("created", drop=4, floor=99),
         Col("took", drop=6, align="right")],
        [history_cells(r) if r.get("type") == "run" else
         (r["deployment_id"], r["app"], r["environment"], f"v{r['release_version']}", r["image"], r["strategy"],
          r["state"], r["actor"], r["message"], r["created_at"], _duration(r["duration_seconds"])) for r in rows],
    )


@click.group(cls=Group)
def deployments():
    """One deployment: its timeline, or cancelling it."""


@deployments.command("show")
@click.argument("deployment_id", metavar="ID", type=int)
@json_option
def deployments_show(deployment_id, as_json):
    """A deployment and its timeline, with every AWS request id.

    \b
    Example:
      paas deployments show 1234
    """
    from paas.service.history import deployment

    with database() as db:
        d = deployment(db, deployment_id)
    if as_json:
        print_json(d)
        return
    click.echo(f"deployment #{d['deployment_id']}: {d['app']} release v{d['release_version']} "
               f"({d['release_kind']}) to {d['environment']}, {d['strategy']}, {d['state']}")
    rb = d.get("rollback")
    lines = [
        ("image", d["image"] + (f" ({d['image_digest']})" if d["image_digest"] else "")),
        ("actor", d["actor"]),
        ("message", d["message"]),
        ("created", _when(d["created_at"])),
        ("started", _when(d["started_at"])),
        ("finished", _when(d["finished_at"])),
        ("duration", _duration(d["duration_seconds"])),
        ("current step", d["current_step"]),
        ("superseded by", f"deployment #{d['superseded_by_id']}" if d["superseded_by_id"] else None),
        ("rolled back", f"v{d['rolled_back_from_version']} → v{d['rolled_back_to_version']}"
         if d["rolled_back_to_version"] else None),
        ("rollback reason", rb.get("reason") if rb else None),
        ("error", d["error"]),
    ]
    for q in d.get("steering") or []:
        lines.append((f"{q['kind']} asked", f"by {q['actor']}, {_when(q['requested_at'])}"))
    for k, val in lines:
        if val is not None:
            click.echo(f"  {k + ':':<17}{fmt(val)}")
    if d["events"]:
        click.echo("events (local time):")
    from paas.cli.follow import KIND_WIDTH

    for e in d["events"]:
        kind = e["kind"]
        click.echo(f"  {e['at'].astimezone().strftime('%H:%M:%S')}  {kind:<{KIND_WIDTH}} {e['message']}"
                   + (f"  (by {e['actor']})" if e.get("actor") and e["kind"].endswith("_requested") else ""))
        if e["aws_request_id"]:
            click.echo(f"  {'':>{10 + KIND_WIDTH}}AWS request {e['aws_request_id']}")
    if d.get("failure"):
        from paas.cli.follow import print_failure

        click.echo("why it failed:")
        print_failure(d["failure"])


def _when(ts):
    """Absolute with its UTC offset, plus "5m ago" on a terminal."""
    if ts is None:
        return None
    from paas.cli.table import ago, is_tty, timestamp

    return timestamp(ts, relative=False) + (f" ({ago(ts)})" if is_tty() else "")


@deployments.command("cancel")
@click.argument("deployment_id", metavar="ID", type=int)
@actor_option
@json_option
def deployments_cancel(deployment_id, actor, as_json):
    """Cancel a deployment (one in progress is rolled back).

    A pending deployment is cancelled at once; one in progress is rolled back by the worker at
    its next safe point.

    \b
    Example:
      paas deployments cancel 1234
    """
    from paas.service.steering import cancel

    who = actor_or_default(actor)
    with transaction() as db:
        row = cancel(db, deployment_id, actor=who)
    cancel_requested = row.state != "cancelled"
    if as_json:
        print_json({"deployment_id": row.id, "state": row.state, "cancel_requested": cancel_requested})
    elif row.state == "cancelled":
        click.echo(f"deployment #{row.id} cancelled")
    else:
        click.echo(f"deployment #{row.id} is {row.state}: cancel requested, the worker rolls it back at the "
                   "next safe point")


@click.command()
@app_argument
@env_option
@json_option
def status(app, env, as_json):
    """What the reconciler last observed for APP (no AWS call).

    Also the current release and the deployment in flight.

    \b
    Example:
      paas status checkout -e staging
    """
    from paas.service.history import status as read_status

    app = resolve_app(app)
    with database() as db:
        s = read_status(db, app, env)
    if as_json:
        print_json(s)
        return
    cur = s["current_release"]
    click.echo(f"{s['app']} in {s['environment']}")
    click.echo("  current release: " + (f"v{cur['version']} {cur['image']} (deployed {_when(cur['deployed_at'])}"
                                         f"{', known-good' if cur['known_good_at'] else ''})" if cur else
                                         "none has finished yet"))
    dep = s["deployment"]
    if dep:
        step = f", step {dep['current_step']}" if dep.get("current_step") else ""
        click.echo(f"  in flight:       deployment #{dep['deployment_id']} of release v{dep['release_version']}, "
                   f"{dep['strategy']}, {dep['state']}{step} (by {dep['actor']})")
    else:
        click.echo("  in flight:       nothing")
    if s["observed_at"] is None:
        click.echo("  observed:        not yet (no reconcile has observed this app here; run `paas worker`)")
        return
    click.echo(f"  observed:        {_when(s['observed_at'])}")
    print_table(
        [Col("process", keep=True), Col("release", keep=True), Col("image", image=True), Col("desired", keep=True),
         Col("running", keep=True), Col("healthy", keep=True), Col("weights", drop=2, floor=9),
         Col("active", drop=1), Col("rollout", drop=3, floor=9)],
        [(name, f"v{p['release']}" if p.get("release") is not None else None, p.get("image"),
          p.get("desired_count"), p.get("running_count"), p.get("healthy_count"), _weights(p.get("weights")),
          p.get("active_colour"), p.get("rollout_state")) for name, p in s["processes"].items()],
    )


def _weights(w):
    if not isinstance(w, dict) or not w:
        return None
    return " ".join(f"{k}={val}" for k, val in sorted(w.items()))


from paas.cli.watch import deployments_watch  # noqa: E402  (`paas deployments watch ID`)

deployments.add_command(deployments_watch)
