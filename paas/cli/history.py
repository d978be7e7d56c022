"""Commands that read what happened: releases, status, history, deployments show/cancel.

All read the metadata database only (no AWS call): `paas status` shows what the reconciler last
observed. Every one takes `--json` with the field names documented in the README.
"""

from __future__ import annotations

import click

from paas.cli.common import (
    actor_option, actor_or_default, database, env_option, fmt, human_seconds, json_option, print_json,
    print_table, state_style, transaction,
)


def _duration(seconds):
    return None if seconds is None else human_seconds(seconds)


@click.command()
@click.argument("app")
@env_option
@click.option("--limit", "-n", type=int, default=50, show_default=True, help="At most N releases (0: all).")
@json_option
def releases(app, env, limit, as_json):
    """An app's releases, newest first (all environments unless --env / $PAAS_ENV)."""
    from paas.service.history import releases as list_releases

    with database() as db:
        rows = list_releases(db, app, env, limit)
    if as_json:
        print_json(rows)
        return
    print_table(
        ["env", "release", "kind", "image", "digest", "config", "formation", "actor", "message", "created",
         "known-good", "deploy"],
        [(r["environment"], r["release"], r["kind"], r["image"], _short_digest(r["image_digest"]),
          f"v{r['config_version']}", r["formation_summary"], r["actor"], r["message"], r["created_at"],
          r["known_good_at"] is not None, r["deployment_state"]) for r in rows],
        styles={"deploy": state_style},
    )


def _short_digest(d: str | None) -> str | None:
    if not d:
        return None
    algo, _, hexpart = d.partition(":")
    return f"{algo}:{hexpart[:12]}"


@click.command()
@click.argument("app", required=False)
@env_option
@click.option("--limit", "-n", type=int, default=20, show_default=True, help="At most N deployments (0: all).")
@click.option("--since", help="Only deployments created in this window, e.g. 24h, 7d.")
@json_option
def history(app, env, limit, since, as_json):
    """Deployments, newest first: of APP, or of every app (from the paas_deploy_history view)."""
    from paas.service.history import history as read_history

    with database() as db:
        rows = read_history(db, app=app, env=env, since=since, limit=limit)
    if as_json:
        print_json(rows)
        return
    from paas.cli.run import history_cells

    print_table(
        ["id", "app", "env", "release", "image", "strategy", "state", "actor", "message", "created", "duration"],
        [history_cells(r) if r.get("type") == "run" else
         (r["deployment_id"], r["app"], r["environment"], r["release"], r["image"], r["strategy"], r["state"],
          r["actor"], r["message"], r["created_at"], _duration(r["duration_seconds"])) for r in rows],
        styles={"state": state_style},
    )


@click.group()
def deployments():
    """One deployment: its timeline, or cancelling it."""


@deployments.command("show")
@click.argument("deployment_id", metavar="ID", type=int)
@json_option
def deployments_show(deployment_id, as_json):
    """A deployment and its event timeline."""
    from paas.service.history import deployment

    with database() as db:
        d = deployment(db, deployment_id)
    if as_json:
        print_json(d)
        return
    click.echo(f"deployment {d['deployment_id']}: {d['app']} {d['release']} ({d['release_kind']}) to "
               f"{d['environment']}, {d['strategy']}, {d['state']}")
    lines = [
        ("image", d["image"] + (f" ({d['image_digest']})" if d["image_digest"] else "")),
        ("actor", d["actor"]),
        ("message", d["message"]),
        ("created", fmt(d["created_at"])),
        ("started", fmt(d["started_at"])),
        ("finished", fmt(d["finished_at"])),
        ("duration", _duration(d["duration_seconds"])),
        ("current step", d["current_step"]),
        ("superseded by", d["superseded_by_id"]),
        ("rolled back", f"v{d['rolled_back_from_version']} -> v{d['rolled_back_to_version']}"
         if d["rolled_back_to_version"] else None),
        ("error", d["error"]),
    ]
    for k, val in lines:
        if val is not None:
            click.echo(f"  {k + ':':<15}{fmt(val)}")
    print_table(["at", "kind", "step", "message", "aws request id"],
                [(e["at"], e["kind"], e["step"], e["message"], e["aws_request_id"]) for e in d["events"]],
                title="events")
    if d.get("failure"):
        from paas.cli.follow import print_failure

        click.echo("why it failed:")
        print_failure(d["failure"])


@deployments.command("cancel")
@click.argument("deployment_id", metavar="ID", type=int)
@actor_option
@json_option
def deployments_cancel(deployment_id, actor, as_json):
    """Cancel a pending deployment (one in progress is rolled back by the worker at a safe point)."""
    from paas.service.steering import cancel

    with transaction() as db:
        row = cancel(db, deployment_id, actor=actor_or_default(actor))
    cancel_requested = row.state != "cancelled"
    if as_json:
        print_json({"deployment_id": row.id, "state": row.state, "cancel_requested": cancel_requested})
    elif row.state == "cancelled":
        click.echo(f"deployment {row.id} cancelled")
    else:
        click.echo(f"deployment {row.id} is {row.state}: cancel requested, the worker rolls it back at the "
                   "next safe point")


@click.command()
@click.argument("app")
@env_option
@json_option
def status(app, env, as_json):
    """What the reconciler last observed for APP (no AWS call), the deployment in flight, the current release."""
    from paas.service.history import age, status as read_status

    with database() as db:
        s = read_status(db, app, env)
    if as_json:
        print_json(s)
        return
    cur = s["current_release"]
    click.echo(f"{s['app']} in {s['environment']}")
    click.echo("  current release: " + (f"{cur['release']} {cur['image']} (deployed {fmt(cur['deployed_at'])}"
                                         f"{', known-good' if cur['known_good_at'] else ''})" if cur else
                                         "none has finished yet"))
    dep = s["deployment"]
    if dep:
        step = f", step {dep['current_step']}" if dep.get("current_step") else ""
        click.echo(f"  deployment:      {dep['deployment_id']} {dep['release']} {dep['strategy']} "
                   f"{dep['state']}{step} (by {dep['actor']})")
    else:
        click.echo("  deployment:      none in flight")
    if s["observed_at"] is None:
        click.echo("  observed:        not yet (no reconcile has observed this app here; run `paas worker`)")
        return
    click.echo(f"  observed:        {fmt(s['observed_at'])} ({human_seconds(age(s['observed_at']) or 0)} ago)")
    print_table(
        ["process", "release", "image", "desired", "running", "healthy", "weights", "active", "rollout"],
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
