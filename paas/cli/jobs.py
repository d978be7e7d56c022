"""`paas jobs APP`: scheduled jobs (paas.toml ``[jobs.NAME]``), their next and last runs.

From the database only (no AWS call); workers keep the schedules and record the runs they see.
"""

from __future__ import annotations

import click

from paas.cli.common import database, env_option, json_option, print_json, print_table
from paas.domain import validate as v


@click.command()
@click.argument("app")
@env_option
@json_option
def jobs(app, env, as_json):
    """APP's scheduled jobs, their next and last runs.

    Each job's schedule, command, state, next run, last run and last exit code, from the
    database (workers keep the schedules and record the runs they see).

    \b
    Example:
      paas jobs checkout -e production
    """
    from paas.service.jobs import jobs as list_jobs

    v.name(app, "app name")
    with database() as db:
        out = list_jobs(db, app, env)
    if as_json:
        print_json(out)
        return
    if not out["jobs"]:
        click.echo(f"{out['app']} has no scheduled jobs in {out['environment']} "
                   "(declare them in paas.toml: [jobs.NAME] schedule = \"rate(1 hour)\", command = \"...\")")
        return
    print_table(["job", "schedule", "command", "process", "state", "release", "next run", "last run", "last exit"],
                [(j["job"], j["schedule"], j["command"], j["process"], j["state"],
                  f"v{j['release_version']}" if j["release_version"] is not None else None, j["next_run_at"],
                  j["last_run_at"], j["last_exit_code"] if j["last_exit_code"] is not None else
                  (j["last_run_state"] if j["last_run_state"] == "running" else None)) for j in out["jobs"]],
                title=f"{out['app']} in {out['environment']} (live release {'v' + str(out['release_version']) if out['release_version'] is not None else '-'}; times local, "
                      "schedules UTC)")
