"""`--wait`: follow a deployment from the database until it finishes.

The CLI never calls AWS: it prints the deployment's events as workers record them (AWS request
ids only with --verbose; `paas deployments show` always has them), plus the last observed
counts and health on a terminal, and exits 0 on success and 1 on failure, rollback,
cancellation or supersession. With --json it prints, once the deployment has finished, the
same document as `paas deployments show ID --json`.
"""

from __future__ import annotations

import sys
import time

import click

from paas.cli.common import database, print_json

DONE_OK = ("succeeded",)
DONE = ("succeeded", "failed", "rolled_back", "superseded", "cancelled")
KIND_WIDTH = 9  # "requested", "traffic", "progress"; longer kinds take the room they need


def _counts(obs: dict | None) -> str:
    if not obs:
        return ""
    parts = []
    for p, v in sorted((obs.get("processes") or {}).items()):
        h = v.get("healthy_count")
        parts.append(f"{p}: {v.get('running_count', 0)}/{v.get('desired_count', 0)} running"
                     + (f", {h} healthy" if h is not None else ""))
    return "; ".join(parts)


def event_line(e, verbose: bool = False) -> str:
    """HH:MM:SS (local time)  kind  message; the AWS request id on its own line when verbose."""
    kind = e.kind
    line = f"{e.at.astimezone().strftime('%H:%M:%S')}  {kind:<{KIND_WIDTH}} {e.message}"
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


def follow(deployment_id: int, as_json: bool = False, interval: float = 0.3, timeout: float | None = None,
           verbose: bool = False) -> int:
    last_event = 0
    tty = sys.stderr.isatty() and not as_json
    started = time.monotonic()
    status_len = 0
    from paas.db import reads

    with database("paas-follow") as db:
        db.conn.autocommit = True
        version = None
        while True:
            dep = reads.deployment(db, deployment_id)
            if version is None:
                version = reads.release_version_of(db, dep.release_id)
            events = reads.events(db, deployment_id, after_id=last_event)
            for e in events:
                last_event = e.id
                if as_json:
                    continue
                if tty and status_len:
                    click.echo("\r" + " " * status_len + "\r", nl=False, err=True)
                    status_len = 0
                click.echo(event_line(e, verbose), err=True)
            if dep.state in DONE:
                break
            if tty:
                obs = reads.observation(db, dep.app_id, dep.environment_id)
                line = f"  {dep.state} {time.monotonic() - started:5.0f}s  {_counts(obs.data if obs else None)}"
                click.echo("\r" + line.ljust(status_len), nl=False, err=True)
                status_len = len(line)
            if timeout is not None and time.monotonic() - started > timeout:
                click.echo(f"paas: gave up waiting after {timeout:.0f}s; deployment #{deployment_id} is {dep.state}",
                           err=True)
                return 1
            time.sleep(interval)
    if tty and status_len:
        click.echo("\r" + " " * status_len + "\r", nl=False, err=True)
    if as_json:
        from paas.service.history import deployment

        with database("paas-follow") as db:
            print_json(deployment(db, deployment_id))
    else:
        click.echo(verdict(dep, version))
    return 0 if dep.state in DONE_OK else 1
