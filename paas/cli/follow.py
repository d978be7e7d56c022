"""`--wait`: follow a deployment from the database until it finishes.

The CLI never calls AWS: it prints the deployment's events as workers record them, plus the
last observed counts and health, and exits 0 on success and 1 on failure, rollback,
cancellation or supersession.
"""

from __future__ import annotations

import sys
import time

import click

from paas.cli.common import database, print_json

DONE_OK = ("succeeded",)
DONE = ("succeeded", "failed", "rolled_back", "superseded", "cancelled")


def _counts(obs: dict | None) -> str:
    if not obs:
        return ""
    parts = []
    for p, v in sorted((obs.get("processes") or {}).items()):
        h = v.get("healthy_count")
        parts.append(f"{p}: {v.get('running_count', 0)}/{v.get('desired_count', 0)} running"
                     + (f", {h} healthy" if h is not None else ""))
    return "; ".join(parts)


def follow(deployment_id: int, as_json: bool = False, interval: float = 0.3, timeout: float | None = None) -> int:
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
                rid = f"  (request {e.aws_request_id})" if e.aws_request_id else ""
                click.echo(f"{e.at.astimezone().strftime('%H:%M:%S')}  {e.kind:<16} {e.message}{rid}", err=True)
            if dep.state in DONE:
                break
            if tty:
                obs = reads.observation(db, dep.app_id, dep.environment_id)
                line = f"  {dep.state} {time.monotonic() - started:5.0f}s  {_counts(obs.data if obs else None)}"
                click.echo("\r" + line.ljust(status_len), nl=False, err=True)
                status_len = len(line)
            if timeout is not None and time.monotonic() - started > timeout:
                click.echo(f"paas: gave up waiting after {timeout:.0f}s; deployment {deployment_id} is {dep.state}",
                           err=True)
                return 1
            time.sleep(interval)
    if tty and status_len:
        click.echo("\r" + " " * status_len + "\r", nl=False, err=True)
    if as_json:
        with database("paas-follow") as db:
            evs = reads.events(db, deployment_id)
        print_json({"deployment_id": dep.id, "state": dep.state, "release": f"v{version}",
                    "release_version": version, "error": dep.error,
                    "events": [{"id": e.id, "at": e.at, "kind": e.kind, "step": e.step, "message": e.message,
                                "data": e.data, "aws_request_id": e.aws_request_id} for e in evs]})
    else:
        verdict = {"succeeded": "succeeded", "failed": f"FAILED: {dep.error or ''}".rstrip(": "),
                   "rolled_back": f"ROLLED BACK: {dep.error or ''}".rstrip(": "),
                   "superseded": "superseded by a newer deployment", "cancelled": "cancelled"}[dep.state]
        click.echo(f"deployment {deployment_id} (v{version}) {verdict}")
    return 0 if dep.state in DONE_OK else 1
