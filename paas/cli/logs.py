"""`paas logs APP [--process P] [--since 1h] [--task ID] [-f] [--json]`: what APP's tasks logged.

One line per event: time, process, task id, message, from the app's CloudWatch Logs group
(paas/service/logs.py). ``-f`` follows until Ctrl-C (or ``--timeout``). With ``--json`` the
events are a JSON list, or one JSON object per line while following.
"""

from __future__ import annotations

import time

import click

from paas.cli.common import database, env_option, json_option, print_json
from paas.domain import validate as v


def _line(e) -> str:
    from datetime import datetime

    at = datetime.fromtimestamp(e.timestamp / 1000).strftime("%Y-%m-%d %H:%M:%S")
    parts = e.stream.split("/")
    process = parts[0] if len(parts) == 3 else "-"
    return f"{at}  {process:<10} {parts[-1][:12]:<12}  {e.message}"


@click.command()
@click.argument("app")
@env_option
@click.option("--process", "-p", help="Only this process's tasks.")
@click.option("--since", "-s", default="1h", show_default=True, help="How far back: 90s, 15m, 2h, 7d.")
@click.option("--task", "-t", "task", help="Only this task (its id or ARN, e.g. from `paas tasks`).")
@click.option("--follow", "-f", "follow", is_flag=True, help="Keep printing new lines as they arrive.")
@click.option("--timeout", metavar="DURATION", help="With -f: stop following after this long.")
@json_option
def logs(app, env, process, since, task, follow, timeout, as_json):
    """Log lines of APP's tasks, oldest first.

    \b
    Examples:
      paas logs shop -e staging --since 15m
      paas logs shop -e staging --process web -f
      paas logs shop -e staging --task 3f2a9c0e --json
    """
    import json

    from paas.reconciler.drivers import driver_for
    from paas.service import logs as svc
    from paas.settings import Durations

    v.name(app, "app name")
    limit = v.duration(timeout, "--timeout") if timeout is not None else None
    with database() as db:
        q = svc.query(db, app, env, process=process, since=since, task=task, now=time.time())
        from paas.service.catalog import get_env

        driver = driver_for(get_env(db, q.env))
    task_id = task.rsplit("/", 1)[-1] if task else None
    if not follow:
        events = svc.read(driver, q, task_id)
        if as_json:
            print_json([svc.event_json(e) for e in events])
        else:
            for e in events:
                click.echo(_line(e))
        return
    deadline = None if limit is None else time.monotonic() + limit
    try:
        for e in svc.follow(driver, q, task=task_id, sleep=time.sleep, interval=Durations().log_poll,
                            stop=lambda: deadline is not None and time.monotonic() >= deadline):
            if as_json:
                click.echo(json.dumps(svc.event_json(e), default=str))
            else:
                click.echo(_line(e))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
