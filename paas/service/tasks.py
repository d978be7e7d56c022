"""One-off tasks: `paas run`, `paas tasks` and `paas tasks stop`.

`paas run` is interactive, so the CLI starts the task itself with the environment's driver (as
`paas secrets set` writes to AWS itself) rather than asking a worker: a worker would add a
pass's latency to every run and make streaming its logs a worker's business. What only workers
do stays theirs: nothing here touches a deployment. Who ran what is recorded around the AWS
call, in three short transactions: the run first (its id goes into the task's ``startedBy``,
so a RunTask whose answer was lost can be found again), then the task's ARN, then how it ended.
A run the CLI stops following (``--detach``, Ctrl-C, a lost terminal) is handed to the workers:
the app+environment is queued and a worker records the task's end when it sees it stop.

The task is the live release's task definition of the chosen process with the command as a
container override (and cpu/memory as task overrides), in the environment's subnets with its
task security groups plus the stack's, exactly like the services.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Callable

from paas.aws.driver import Driver, LogEvent
from paas.db import queue, reads, state, task_runs
from paas.db.read_records import TaskRunListing, TaskRunRecord
from paas.db.records import AppRecord, EnvironmentRecord
from paas.db.sql import Db
from paas.domain import names
from paas.domain import validate as v
from paas.domain.errors import NotFound, UserError
from paas.domain.manifest import Manifest
from paas.domain.observed import TaskState
from paas.domain.specs import TaskRunSpec, family, stack_name
from paas.planner.desired import reusable_task_version
from paas.service.catalog import get_app, require_app_env

LOG_LINES = 10
MISSING_GRACE = 30.0  # ECS is eventually consistent: a task just started may not be listed yet


@dataclass(frozen=True)
class Prepared:
    """A validated `paas run`: what will run where, before anything is written."""

    app: AppRecord
    env: EnvironmentRecord
    release_id: int
    release_version: int
    task_version: int
    process: str
    command: tuple[str, ...]
    cpu: int | None
    memory: int | None

    @property
    def family(self) -> str:
        return family(self.app.name, self.env.name, self.process)


def prepare(db: Db, app_name: str, env_name: str | None, command: tuple[str, ...], *, process: str | None,
            cpu: int | None, memory: int | None) -> Prepared:
    """Check everything `paas run` was given against the live release; UserError (exit 2) otherwise."""
    if not command or not any(c.strip() for c in command):
        raise UserError("no command given: put it after --, e.g. paas run APP -- manage migrate")
    for word in command:
        v.line(word, "command word", 4096)
    v.command(shlex.join(command))
    if process is not None:
        v.name(process, "process name")
    app, env = require_app_env(db, app_name, env_name)
    live = reads.live(db, app.id, env.id)
    if live is None:
        raise UserError(f"{app.name} has no live release in {env.name}: deploy it first")
    row = state.releases(db, [reads.live_release_id(db, app.id, env.id)]).popitem()[1]
    manifest = Manifest.from_json(row.manifest)
    proc = manifest.task_process(process) if manifest.processes else process
    if proc not in row.formation:
        raise UserError(f"unknown process {proc!r} for {app.name}: processes are {', '.join(sorted(row.formation))}")
    size = row.formation[proc]
    if cpu is not None or memory is not None:
        cpu, memory = v.fargate_size(cpu if cpu is not None else size.get("cpu", 256),
                                     memory if memory is not None else size.get("memory", 512))
    task_version = reusable_task_version(row.formation, row.source_version, row.source_formation) or row.version
    return Prepared(app, env, row.id, row.version, task_version, proc, tuple(command), cpu, memory)


def record(db: Db, p: Prepared, actor: str) -> TaskRunRecord:
    """Transaction 1: who runs what (before RunTask, so its id names the task's startedBy)."""
    v.line(actor, "actor", 200)
    return task_runs.insert_run(db, p.app.id, p.env.id, release_id=p.release_id, process=p.process,
                                command=list(p.command), cpu=p.cpu, memory=p.memory, actor=actor)


def task_definition(db: Db, driver: Driver, p: Prepared) -> str:
    arn = state.task_definitions(db, p.app.id, p.env.id).get(f"{p.family}:{p.task_version}")
    arn = arn or driver.find_task_definition(p.family, p.task_version)
    if arn is None:
        raise NotFound(f"the task definition of {p.app.name} v{p.release_version} ({p.process}) is not registered "
                       "(has a worker deployed it?)")
    return arn


def start(driver: Driver, p: Prepared, run: TaskRunRecord, task_definition_arn: str) -> tuple[str, str]:
    """RunTask (no database transaction open meanwhile); returns (task ARN, log group)."""
    stack = driver.describe_stack(stack_name(p.app.name, p.env.name))
    outputs = stack.outputs if stack else {}
    sg = outputs.get("SecurityGroupId")
    spec = TaskRunSpec(
        cluster=p.env.cluster, task_definition=task_definition_arn, container_name=p.process, command=p.command,
        subnets=tuple(p.env.subnets), security_groups=tuple(p.env.security_groups) + ((sg,) if sg else ()),
        started_by=names.run_started_by(p.app.name, p.env.name, run.id, run.created_at.isoformat()),
        assign_public_ip=p.env.assign_public_ip, cpu=p.cpu,
        memory=p.memory, tags={"paas:app": p.app.name, "paas:env": p.env.name, "paas:process": p.process,
                               "paas:release": str(p.task_version)})
    call = driver.run_task(spec, spec.started_by)
    return call.result["task_arn"], outputs.get("LogGroupName") or names.log_group_name(p.app.name, p.env.name)


def started(db: Db, run_id: int, task_arn: str) -> None:
    """Transaction 2: the task it became."""
    task_runs.set_task_arn(db, run_id, task_arn)


def failed_to_start(db: Db, run_id: int, error: str) -> None:
    task_runs.record_stop(db, run_id, stopped_at=None, exit_code=None, stop_code="RunTaskFailed",
                          stopped_reason=f"RunTask failed: {error}"[:1000])


def listing(db: Db, run_id: int) -> TaskRunListing:
    return task_runs.run(db, run_id)


def finished(db: Db, run_id: int, t: TaskState, log_tail: list[str]) -> bool:
    """Transaction 3: how it ended (False: a worker recorded it first)."""
    return task_runs.record_stop(db, run_id, stopped_at=t.stopped_at, exit_code=t.exit_code,
                                 stop_code=t.stop_code, stopped_reason=t.stopped_reason,
                                 container_reason=t.container_reason, log_tail=log_tail[-LOG_LINES:],
                                 started_at=t.started_at)


def hand_to_workers(db: Db, p_or_run: Prepared | TaskRunRecord) -> None:
    """Queue the app+environment: a worker records the end of a run nobody follows."""
    if isinstance(p_or_run, Prepared):
        queue.enqueue(db, p_or_run.app.id, p_or_run.env.id)
    else:
        queue.enqueue(db, p_or_run.app_id, p_or_run.environment_id)


def exit_code_of(t: TaskState) -> int:
    """The exit code `paas run` exits with: the container's when it exited, else 1."""
    if t.stop_code in (None, "EssentialContainerExited") and t.exit_code is not None:
        return t.exit_code
    return 1


def stream_logs(driver: Driver, group: str, stream: str, since_ms: int, seen: set[str]) -> list[LogEvent]:
    """New events of one task's stream since `since_ms` (ids in `seen` are skipped and added)."""
    out = []
    for e in driver.log_events(group, streams=[stream], start_ms=since_ms):
        if e.event_id not in seen:
            seen.add(e.event_id)
            out.append(e)
    return out


def follow_task(driver: Driver, cluster: str, task_arn: str, group: str, stream: str, *,
                on_line: Callable[[LogEvent], None], sleep: Callable[[float], None],
                interval: float = 1.0, settle: float = 2.0) -> tuple[TaskState, list[str]]:
    """Print the task's lines as they arrive until it stops; (its final state, its last lines).

    After STOPPED the stream is read once more `settle` seconds later: awslogs delivers a
    container's last lines shortly after it exits. A task ECS does not list for `MISSING_GRACE`
    seconds of polling is taken as gone.
    """
    seen: set[str] = set()
    since = 0
    lines: list[str] = []
    missing_for = 0.0
    while True:
        t = driver.task_states(cluster, [task_arn]).get(task_arn)
        for e in stream_logs(driver, group, stream, since, seen):
            since = max(since, e.timestamp)
            lines.append(e.message)
            on_line(e)
        missing_for = missing_for + interval if t is not None and t.last_status == "MISSING" else 0.0
        if t is not None and (t.stopped or missing_for > MISSING_GRACE):
            sleep(settle)
            for e in stream_logs(driver, group, stream, since, seen):
                lines.append(e.message)
                on_line(e)
            if t.last_status == "MISSING":
                t = TaskState(arn=task_arn, task_definition="", last_status="STOPPED", desired_status="STOPPED",
                              stop_code="Missing", stopped_reason="ECS no longer lists this task")
            return t, lines[-LOG_LINES:]
        sleep(interval)


# --- paas tasks -------------------------------------------------------------------------------

def run_json(r: TaskRunListing) -> dict[str, Any]:
    t = r.run
    end = t.stopped_at
    duration = (end - (t.started_at or t.created_at)).total_seconds() if end else None
    return {
        "run_id": t.id, "app": r.app, "environment": r.environment, "kind": t.kind, "job": t.job,
        "release_version": r.release_version, "process": t.process, "command": shlex.join(t.command),
        "actor": t.actor, "task_id": names.task_id(t.task_arn) if t.task_arn else None, "task_arn": t.task_arn,
        "deployment_id": t.deployment_id, "created_at": t.created_at, "started_at": t.started_at,
        "stopped_at": end, "duration_seconds": duration, "state": run_state(t), "exit_code": t.exit_code,
        "stop_code": t.stop_code, "stopped_reason": t.stopped_reason, "container_reason": t.container_reason,
        "log_tail": list(t.log_tail),
    }


def run_state(t: TaskRunRecord) -> str:
    """running | succeeded | failed | stopped (the `paas_task_runs` view's rule)."""
    if t.stopped_at is None:
        return "running"
    if t.exit_code == 0 and t.stop_code in (None, "EssentialContainerExited"):
        return "succeeded"
    return "stopped" if t.stop_code == "UserInitiated" else "failed"


def recent(db: Db, app_name: str, env_name: str | None, *, limit: int = 20, all_kinds: bool = False) -> list[dict]:
    app = get_app(db, app_name)
    env_id = None
    if env_name:
        _, env = require_app_env(db, app_name, env_name)
        env_id = env.id
    kinds = ("run", "release", "job") if all_kinds else ("run",)
    return [run_json(r) for r in task_runs.recent(db, app.id, env_id, kinds=kinds, limit=limit)]


TASK_REF = "a run id (12), a task id (hex) or a task ARN"


def find(db: Db, app_name: str, ref: str) -> TaskRunListing:
    app = get_app(db, app_name)
    if not (ref.isdigit() or all(c.isalnum() or c in ":/-_" for c in ref)) or len(ref) > 2048:
        raise UserError(f"invalid task {v.show(ref)}: expected {TASK_REF}")
    found = task_runs.find(db, app.id, ref)
    if found is None:
        raise NotFound(f"{app.name} has no task {ref!r} that paas ran (see: paas tasks {app.name})")
    return found


def stop(driver: Driver, listing: TaskRunListing, cluster: str, actor: str) -> str:
    """StopTask with a reason naming who asked; the end is recorded when the task has stopped."""
    t = listing.run
    if t.task_arn is None:
        raise UserError(f"run {t.id} never started a task")
    if t.stopped_at is not None:
        raise UserError(f"task {names.task_id(t.task_arn)} already stopped ({run_state(t)})")
    driver.stop_task(cluster, t.task_arn, f"stopped by {actor} (paas tasks stop)",
                     owner={"paas:app": listing.app, "paas:env": listing.environment})
    return t.task_arn

