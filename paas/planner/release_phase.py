"""Release phase: ``[release] command`` runs as a one-off task of the new release before any
service changes or traffic moves (as Heroku's release phase does for migrations).

Inside every strategy, after the stack and the task definitions and before the first service
step (pure; one Step, like the recipes):

1. no task yet → `RunReleaseTask` (``startedBy`` and the RunTask ``clientToken`` derive from the
   deployment id, so a worker that crashed after sending it finds that task instead of
   starting a second one);
2. the task runs → Wait; past the release timeout (``[release] timeout``, else the rollout
   deadline) → `StopTask`, and it ends as a stopped task below;
3. it stopped (recorded by `paas.planner.tasks.record_step`, with exit code, reasons and its
   last log lines) → exit 0: on to the services; anything else: `Finish` failed with the exit
   code (or the stopped reason) and the last lines. Nothing on the services has changed.

Which releases run it: deploys and config or secret changes (new code, or new configuration a
migration may read); not scale requests (the same image and config); a rollback only when
asked (``paas rollback --run-release-phase``): its migrations ran when it was first deployed. A
deployment rolling back never runs it.
"""

from __future__ import annotations

from datetime import datetime

from paas.domain import names
from paas.domain.observed import Observed
from paas.planner import build
from paas.planner import steps as s
from paas.planner.desired import DeploymentSpec, Desired, Policy, TaskRun

KINDS = ("deploy", "config", "secret")
LAST_LINES = 5  # log lines quoted in the deployment's error


def wanted(dep: DeploymentSpec) -> bool:
    if dep.release.manifest.release is None or dep.rolling_back:
        return False
    if dep.run_release_phase is not None:
        return dep.run_release_phase
    return dep.release.kind in KINDS


def failure(run: TaskRun) -> str:
    """One line: what the release task did, and the last lines it logged."""
    what = f"release phase `{run.command_line}` (task {names.task_id(run.task_arn or '')})"
    if run.exit_code is not None and run.stop_code in (None, "EssentialContainerExited"):
        out = f"{what} exited with code {run.exit_code}"
    else:
        reason = run.stopped_reason or run.stop_code or "stopped"
        out = f"{what} stopped: {reason}" + (f" (exit code {run.exit_code})" if run.exit_code is not None else "")
    if run.container_reason:
        out += f"; {run.container_reason}"
    tail = [line for line in run.log_tail if line.strip()][-LAST_LINES:]
    if tail:
        out += "; last lines: " + " | ".join(tail)
    return out


def step(d: Desired, dep: DeploymentSpec, obs: Observed, policy: Policy, now: datetime) -> s.Step | None:
    """The release phase's next step, or None once it succeeded (or the release has none)."""
    if not wanted(dep):
        return None
    rp = dep.release.manifest.release
    process = dep.release.manifest.task_process(rp.process)
    run = dep.release_run
    if run is None:
        started_by = names.release_started_by(d.app, d.env.name, dep.id, dep.created_at.isoformat())
        spec = build.task_run_spec(d, dep.release, process, rp.command, obs, started_by)
        if spec is None:  # the caller plans task definitions first; this is a safety net
            return s.Wait(f"release phase waits for the {process} task definition", policy.poll_interval)
        return s.RunReleaseTask(f"release phase: run `{rp.command}` as a one-off task of v{dep.release.version} "
                                f"({process})", dep.id, process, dep.release.version, rp.command, spec)
    if run.stopped:
        if run.succeeded:
            return None
        return s.Finish(failure(run), dep.id, "failed")
    task = obs.tasks.get(run.task_arn or "")
    timeout = rp.timeout_seconds or policy.rollout_deadline
    elapsed = (now - run.created_at).total_seconds()
    if elapsed > timeout and (task is None or task.desired_status != "STOPPED") and run.task_arn:
        return s.StopTask(f"release phase ran longer than {timeout:.0f}s: stopping task {names.task_id(run.task_arn)}",
                          d.env.cluster, run.task_arn, f"paas: release phase timed out after {timeout:.0f}s",
                          dep.id)
    status = task.last_status.lower() if task is not None else "starting"
    return s.Wait(f"release phase: `{run.command_line}` {status} (task {names.task_id(run.task_arn or '')})",
                  policy.poll_interval, topic=f"release phase {status}")
