"""`--wait`, `paas watch`, `paas deployments watch`: follow a deployment until it finishes.

The CLI never calls AWS here: it prints the deployment's events as workers record them, and a
progress line (the strategy's step, running and healthy counts, traffic weights, failed tasks)
from the last observation: kept up to date in place on a terminal, printed when it changes
otherwise (identical consecutive lines are shown once); AWS request ids only with --verbose
(`paas deployments show` always has them). With --json it prints, once the deployment has
finished, the same document as `paas deployments show ID --json`. Exit 0 on success; 1 on failure,
rollback, cancellation, supersession or ``--timeout``; a failure ends with why (the reason, the
task that shows it and its last log lines) and the next command to run.

Following is not the deployment: Ctrl-C stops following and says how to watch again (exit 130);
the deployment goes on. A request no worker has claimed within `UNCLAIMED_AFTER` seconds (still
pending, nothing of the app in progress, its queue row not leased) says so, once.
"""

from __future__ import annotations

import sys
import time

import click

from paas.cli.common import database, print_json

DONE_OK = ("succeeded",)
DONE = ("succeeded", "failed", "rolled_back", "superseded", "cancelled")
UNCLAIMED_AFTER = 10.0
KIND_WIDTH = 9  # "requested", "traffic", "progress"; longer kinds take the room they need


def event_line(e, verbose: bool = False) -> str:
    """HH:MM:SS (local time)  kind  message; the AWS request id on its own line when verbose."""
    line = f"{e.at.astimezone().strftime('%H:%M:%S')}  {e.kind:<{KIND_WIDTH}} {e.message}"
    if verbose and e.aws_request_id:
        line += f"\n{'':>{10 + KIND_WIDTH}}AWS request {e.aws_request_id}"
    return line


def verdict(dep, version: int) -> str:
    what = f"deployment #{dep.id} (release v{version})"
    reason = f": {dep.error}" if dep.error else ""
    return {"succeeded": f"{what} succeeded",
            "failed": f"{what} FAILED{reason}",
            "rolled_back": f"{what} ROLLED BACK{reason}",
            "superseded": f"{what} was superseded by a newer deployment",
            "cancelled": f"{what} was cancelled"}[dep.state]


def _processes(obs: dict | None) -> list[str]:
    parts = []
    for p, v in sorted(((obs or {}).get("processes") or {}).items()):
        h = v.get("healthy_count")
        text = f"{p} {v.get('running_count', 0)}/{v.get('desired_count', 0)} running" + (
            f", {h} healthy" if h is not None else "")
        w = v.get("weights") or {}
        if any(w.values()):
            text += " (" + " / ".join(f"{c} {w[c]}%" for c in sorted(w)) + ")"
        parts.append(text)
    return parts


def progress_line(state: str, step: str | None, obs: dict | None, failed: int) -> str:
    """What is going on, in one line: state, step, counts, weights, failed tasks."""
    parts = [state] + ([f"step {step}"] if step else []) + _processes(obs)
    if failed:
        parts.append(f"{failed} failed task{'s' if failed != 1 else ''}")
    return "  " + " · ".join(parts)


def print_failure(f: dict | None) -> None:
    """Why a deployment failed: the reason, the task that shows it, its last lines, what to run next."""
    if not f:
        return
    t = f.get("task")
    if t:
        where = " ".join(x for x in (t.get("process"), f"v{t['release']}" if t.get("release") else None) if x)
        why = [t.get("stopped_reason") or t.get("stop_code") or "stopped"]
        if t.get("exit_code") is not None:
            why.append(f"exit code {t['exit_code']}")
        if t.get("container_reason"):
            why.append(t["container_reason"])
        what = "release phase task" if t.get("kind") == "release" else "task"
        click.echo(f"  {what} {t.get('task_id')}{f' ({where})' if where else ''} stopped: {'; '.join(why)}")
        if t.get("log_tail"):
            click.echo("  last log lines:")
            for line in t["log_tail"]:
                click.echo(f"    | {line}")
    if f.get("failed_tasks", 0) > 1:
        click.echo(f"  ({f['failed_tasks']} tasks failed in all)")
    for i, cmd in enumerate(f.get("next") or []):
        click.echo(f"  {'next:' if i == 0 else '     '} {cmd}")


class _Status:
    """The progress line: rewritten in place on a terminal, printed when it changes otherwise."""

    def __init__(self, tty: bool) -> None:
        self.tty, self.width, self.last = tty, 0, None

    def clear(self) -> None:
        if self.tty and self.width:
            click.echo("\r" + " " * self.width + "\r", nl=False, err=True)
            self.width = 0

    def show(self, line: str, elapsed: float) -> None:
        if self.tty:
            text = f"{line} · {elapsed:.0f}s"
            click.echo("\r" + text.ljust(self.width), nl=False, err=True)
            self.width = len(text)
        elif line != self.last:
            click.echo(line, err=True)
        self.last = line


def follow(deployment_id: int, as_json: bool = False, interval: float = 0.3, timeout: float | None = None,
           verbose: bool = False) -> int:
    """Follow until the deployment finishes; the exit code for the command."""
    try:
        return _follow(deployment_id, as_json, interval, timeout, verbose)
    except KeyboardInterrupt:
        click.echo(f"\npaas: stopped following; deployment {deployment_id} continues "
                   f"(watch it again: paas deployments watch {deployment_id})", err=True)
        return 130


def _follow(deployment_id: int, as_json: bool, interval: float, timeout: float | None, verbose: bool) -> int:
    from paas.db import reads
    from paas.domain.errors import NotFound

    last_event = 0
    failed = 0
    status = _Status(sys.stderr.isatty() and not as_json)
    started = time.monotonic()
    warned = False
    with database("paas-follow") as db:
        db.conn.autocommit = True
        version = None
        while True:
            dep = reads.deployment(db, deployment_id)
            if dep is None:
                raise NotFound(f"no deployment {deployment_id}")
            if version is None:
                version = reads.release_version_of(db, dep.release_id)
            for e in reads.events(db, deployment_id, after_id=last_event):
                last_event = e.id
                failed += e.kind == "task_stopped" and (e.data or {}).get("kind") != "release"
                if as_json:
                    continue
                status.clear()
                click.echo(event_line(e, verbose), err=True)
            if dep.state in DONE:
                break
            elapsed = time.monotonic() - started
            if not as_json:
                obs = reads.observation(db, dep.app_id, dep.environment_id)
                status.show(progress_line(dep.state, dep.current_step, obs.data if obs else None, failed), elapsed)
            if dep.state == "pending" and not warned and elapsed >= UNCLAIMED_AFTER:
                leased, in_progress = reads.claim_state(db, dep.app_id, dep.environment_id)
                if not leased and not in_progress:
                    status.clear()
                    click.echo("paas: no worker has claimed this request: is `paas worker` running?", err=True)
                    warned = True
            if timeout is not None and elapsed > timeout:
                status.clear()
                click.echo(f"paas: gave up waiting after {timeout:g}s; deployment #{deployment_id} is {dep.state} "
                           f"and continues (watch it again: paas deployments watch {deployment_id})", err=True)
                return 1
            time.sleep(interval)
        from paas.service.failures import explain

        failure = None if as_json else explain(db, deployment_id)
        if as_json:
            from paas.service.history import deployment

            document = deployment(db, deployment_id)
    status.clear()
    if as_json:
        print_json(document)
    else:
        click.echo(verdict(dep, version))
        print_failure(failure)
    return 0 if dep.state in DONE_OK else 1
