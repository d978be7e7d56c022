"""`paas run` (a one-off task of the live release) and `paas tasks` (list, stop).

`paas run APP [-e ENV] [--process P] [--cpu N --memory M] [--detach] -- CMD ARGS...` starts CMD as
an ECS task of the live release's task definition and streams its log lines (stdout) until it
stops, then exits with its exit code (a task stopped for another reason: exit 1 and the reason).
Who ran what is recorded (paas/service/tasks.py explains the CLI's own AWS calls); Ctrl-C stops
following, not the task, and says how to stop it.
"""

from __future__ import annotations

import shlex
import time

import click

from paas.cli.common import (
    actor_option, actor_or_default, database, env_option, human_seconds, json_option, print_json, print_table,
    transaction,
)
from paas.domain import validate as v
from paas.domain.errors import PaasError, UserError


class _RunCommand(click.Command):
    """Everything after the first ``--`` is the command, untouched by option parsing."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            i = args.index("--")
            ctx.meta["paas.run.command"] = tuple(args[i + 1:])
            args = args[:i]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [*super().collect_usage_pieces(ctx), "-- CMD [ARGS]..."]


def _poll() -> float:
    from paas.settings import Durations

    return Durations().log_poll


@click.command(cls=_RunCommand)
@click.argument("app")
@env_option
@click.option("--process", "-p", help="Whose task definition runs it (default: web, else the first process).")
@click.option("--cpu", type=int, help="Fargate cpu units for this task (default: the process's).")
@click.option("--memory", type=int, help="Fargate memory in MiB for this task (default: the process's).")
@click.option("--detach", "-d", is_flag=True, help="Print the task id and return; the task runs on.")
@actor_option
@json_option
def run(app, env, process, cpu, memory, detach, actor, as_json):
    """Run a command as a one-off task of APP's live release.

    paas run APP -- CMD ARGS...: the task's log lines print as they arrive, and paas exits with
    the task's exit code. Ctrl-C stops following, not the task.

    \b
    Examples:
      paas run shop -e staging -- manage migrate --plan
      paas run shop --detach -- manage rebuild_index
    """
    from paas.domain import names
    from paas.reconciler.drivers import driver_for
    from paas.service import tasks as svc

    command = click.get_current_context().meta.get("paas.run.command")
    if not command:
        raise UserError("no command given: put it after --, e.g. paas run APP -- manage migrate")
    v.name(app, "app name")
    who = actor_or_default(actor)
    with database() as db:
        p = svc.prepare(db, app, env, command, process=process, cpu=cpu, memory=memory)
    driver = driver_for(p.env)
    with database() as db:
        td = svc.task_definition(db, driver, p)
    with transaction() as db:
        rec = svc.record(db, p, who)
    try:
        arn, group = svc.start(driver, p, rec, td)
    except PaasError as e:
        with transaction() as db:
            svc.failed_to_start(db, rec.id, str(e))
        raise
    with transaction() as db:
        svc.started(db, rec.id, arn)
    tid = names.task_id(arn)
    where = f"{p.app.name} v{p.release_version} ({p.process}) in {p.env.name}"
    if detach:
        with transaction() as db:
            svc.hand_to_workers(db, p)
        if as_json:
            print_json({"run_id": rec.id, "task_id": tid, "task_arn": arn, "app": p.app.name,
                        "environment": p.env.name, "release": f"v{p.release_version}", "process": p.process})
        else:
            click.echo(tid)
            click.echo(f"task {tid} runs `{shlex.join(p.command)}` on {where}; follow it: paas logs "
                       f"{p.app.name} -e {p.env.name} --task {tid} -f; stop it: paas tasks stop {p.app.name} {tid} "
                       f"-e {p.env.name}", err=True)
        return
    click.echo(f"running `{shlex.join(p.command)}` on {where} as task {tid}", err=True)
    out = (lambda e: click.echo(e.message, err=True)) if as_json else (lambda e: click.echo(e.message))
    poll = _poll()
    try:
        final, tail = svc.follow_task(driver, p.env.cluster, arn, group, names.log_stream(p.process, arn),
                                      on_line=out, sleep=time.sleep, interval=poll, settle=2 * poll)
    except KeyboardInterrupt:
        with transaction() as db:
            svc.hand_to_workers(db, p)
        click.echo(f"\npaas: task {tid} keeps running; stop it with: paas tasks stop {p.app.name} {tid} "
                   f"-e {p.env.name}", err=True)
        raise SystemExit(130) from None
    with transaction() as db:
        svc.finished(db, rec.id, final, tail)
    code = svc.exit_code_of(final)
    exited = final.stop_code in (None, "EssentialContainerExited") and final.exit_code is not None
    if as_json:
        with database() as db:
            print_json(svc.run_json(svc.listing(db, rec.id)))
    click.echo(f"task {tid} exited with code {code}" if exited else f"task {tid} stopped: {final.why()}", err=True)
    raise SystemExit(code)


class _TasksGroup(click.Group):
    """`paas tasks APP` lists; `paas tasks stop APP TASK` stops (`paas tasks list APP` works too)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_TasksGroup)
def tasks():
    """One-off tasks: list them, or stop one."""


def _state(r: dict) -> str:
    if r["state"] == "running":
        return "running"
    if r["exit_code"] is not None and r["state"] in ("succeeded", "failed"):
        return f"{r['state']} (exit {r['exit_code']})"
    return f"{r['state']}: {r['stopped_reason'] or r['stop_code'] or '?'}"


@tasks.command("list")
@click.argument("app")
@env_option
@click.option("--limit", "-n", type=int, default=20, show_default=True, help="At most N tasks.")
@click.option("--all", "all_kinds", is_flag=True, help="Also release-phase and scheduled-job tasks.")
@json_option
def tasks_list(app, env, limit, all_kinds, as_json):
    """APP's recent one-off tasks, newest first.

    All environments unless --env / $PAAS_ENV; --all adds release-phase and job tasks.

    \b
    Example:
      paas tasks checkout -e staging
    """
    from paas.service.history import check_limit
    from paas.service.tasks import recent

    check_limit(limit)
    with database() as db:
        rows = recent(db, app, env, limit=limit, all_kinds=all_kinds)
    if as_json:
        print_json(rows)
        return
    print_table(["id", "task", "env", "kind", "release", "process", "command", "actor", "started", "duration",
                 "state"],
                [(r["run_id"], r["task_id"], r["environment"], r["job"] and f"job {r['job']}" or r["kind"],
                  _v(r["release_version"]), r["process"], r["command"], r["actor"], r["created_at"],
                  human_seconds(r["duration_seconds"]) if r["duration_seconds"] is not None else None, _state(r))
                 for r in rows])


@tasks.command("stop")
@click.argument("app")
@click.argument("task", metavar="TASK")
@env_option
@actor_option
@json_option
def tasks_stop(app, task, env, actor, as_json):
    """Stop a one-off task of APP.

    TASK is a run id, task id or task ARN from `paas tasks APP`; its end is recorded once it
    has stopped.

    \b
    Example:
      paas tasks stop checkout 3f2a9c0e -e staging
    """
    from paas.domain import names
    from paas.reconciler.drivers import driver_for
    from paas.service import tasks as svc
    from paas.service.catalog import require_app_env

    v.name(app, "app name")
    with database() as db:
        found = svc.find(db, app, task)
        _, e = require_app_env(db, app, env or found.environment)
    if e.name != found.environment:
        raise UserError(f"task {task} ran in {found.environment}, not {e.name}")
    arn = svc.stop(driver_for(e), found, e.cluster, actor_or_default(actor))
    with transaction() as db:
        svc.hand_to_workers(db, found.run)
    if as_json:
        print_json({"run_id": found.run.id, "task_id": names.task_id(arn), "task_arn": arn, "stop_requested": True})
    else:
        click.echo(f"task {names.task_id(arn)} is stopping (see: paas tasks {app} -e {e.name})")


def _v(version: int | None) -> str | None:
    return f"v{version}" if version is not None else None


def history_cells(r: dict) -> tuple:
    """A one-off run as a row of `paas history`'s table."""
    state = r["state"] if r["exit_code"] is None else f"{r['state']} (exit {r['exit_code']})"
    return (f"run {r['run_id']}", r["app"], r["environment"], _v(r["release_version"]), None, "run", state, r["actor"],
            r["command"], r["created_at"],
            human_seconds(r["duration_seconds"]) if r["duration_seconds"] is not None else None)
