"""`paas pipeline APP`, `paas pipeline set APP` and `paas approve APP --env ENV vN`.

From the database only (no AWS call): workers notice pushes, run the checks and promote.
"""

from __future__ import annotations

import click

from paas.cli.common import (
    Group, actor_option, actor_or_default, database, env_option, json_option, print_json, print_table,
    resolve_app, transaction,
)
from paas.domain import validate as v


class PipelineGroup(Group):
    """`paas pipeline APP` shows; `paas pipeline set APP` declares."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


@click.group(cls=PipelineGroup, invoke_without_command=False)
def pipeline():
    """A delivery pipeline: its stages, what waits and why.

    \b
    Examples:
      paas pipeline checkout [--json]
      paas pipeline set checkout [--manifest paas.toml]
    """


@pipeline.command("show")
@click.argument("app", required=False)
@json_option
def show(app, as_json):
    """Each stage's release, what waits and why, the last failure.

    What waits: checks running, soaking until a time, waiting for approval.

    \b
    Example:
      paas pipeline show checkout --json
    """
    from paas.service.pipeline import show as show_pipeline

    app = resolve_app(app)
    with database() as db:
        out = show_pipeline(db, app)
    if as_json:
        print_json(out)
        return
    click.echo(f"{out['app']}: pushes of {out['repository']} tagged {out['tags']}, tested with "
               f"`{out['test_command']}`")
    rows = []
    for c in out["checking"]:
        rows.append(("checks", "-", c["tag"], c["waiting_for"]))
    for s in out["stages"]:
        rel = f"v{s['release_version']}" if s["release_version"] is not None else "-"
        tag = (s["pipeline_release"] or {}).get("tag") or "-"
        waiting = "; ".join(f"{w['tag']}: {w['waiting_for']}" for w in s["waiting"] if w["waiting_for"]) or "-"
        name = s["environment"] + (" (approval)" if s["approval"] else "")
        rows.append((name, rel, tag, waiting))
    print_table(["stage", "release", "tag", "waiting"], rows)
    f = out["last_failure"]
    if f:
        from paas.cli.common import fmt

        click.echo(f"last failure: {f['tag'] or f['digest']}: {f['reason']} ({fmt(_dt(f['at']))})")
        for line in f["log_tail"][-3:]:
            click.echo(f"  | {v.CONTROL_RE.sub('?', line)}")


def _dt(iso: str | None):
    from datetime import datetime

    return datetime.fromisoformat(iso) if iso else None


@pipeline.command("set")
@click.argument("app", required=False)
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False),
              help="The paas.toml whose [pipeline] to declare (default: ./paas.toml).")
@actor_option
@json_option
def set_(app, manifest_path, actor, as_json):
    """Declare APP's pipeline from paas.toml's [pipeline].

    Bad config (an unknown environment, a stage twice, a negative soak) is refused with one
    line and exit code 2.

    \b
    Example:
      paas pipeline set checkout --manifest paas.toml
    """
    from paas.domain.errors import UserError
    from paas.domain.manifest import read_manifest
    from paas.service.pipeline import set_pipeline

    path = manifest_path or "paas.toml"
    app = resolve_app(app, path)
    import os

    if not os.path.exists(path):
        raise UserError(f"no manifest at {v.CONTROL_RE.sub('?', path)}: pass --manifest PATH")
    m = read_manifest(path)
    with transaction() as db:
        out = set_pipeline(db, app, m.pipeline, actor=actor_or_default(actor))
    if as_json:
        print_json(out)
        return
    stages = " → ".join(s["environment"] for s in out["pipeline"]["stages"])
    click.echo(f"pipeline of {out['app']} {'declared' if out['created'] else 'updated'}: "
               f"{out['pipeline']['repository']}:{out['pipeline']['tags']} → checks → {stages}")


@click.command()
@click.argument("app")
@env_option
@click.argument("release")
@actor_option
@json_option
def approve(app, env, release, actor, as_json):
    """Approve the release waiting for a stage that asks for approval.

    RELEASE is the waiting release's version in the stage before (vN, as `paas pipeline APP`
    shows it), or the pushed tag for a first stage.

    \b
    Example:
      paas approve checkout --env production v12
    """
    from paas.service.pipeline import approve as approve_release

    v.name(app, "app name")
    v.line(release, "release", 200)
    with transaction() as db:
        out = approve_release(db, app, env, release, actor=actor_or_default(actor))
    if as_json:
        print_json(out)
        return
    again = " (it was approved before)" if out["already_approved"] else ""
    click.echo(f"approved {out['app']} {release} ({out['tag'] or out['digest']}) for {out['environment']} "
               f"by {out['approver']}{again}")
