"""The steps a plan can ask for. Each is plain data; the reconciler applies exactly one.

`key` identifies a step within a deployment so the events can prove no step was applied twice
and a resumed worker knows what was already done.
"""

from __future__ import annotations

from dataclasses import dataclass

from paas.domain.observed import TaskState
from paas.domain.specs import ScheduleSpec, ServiceSpec, StackSpec, TaskDefSpec, TaskRunSpec


@dataclass(frozen=True)
class Step:
    reason: str

    @property
    def key(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class StartDeployment(Step):
    deployment_id: int


@dataclass(frozen=True)
class SupersedeActive(Step):
    deployment_id: int
    by_id: int


@dataclass(frozen=True)
class ApplyStack(Step):
    spec: StackSpec

    @property
    def key(self) -> str:
        return f"ApplyStack:{self.spec.template_hash}"


@dataclass(frozen=True)
class ContinueStackRollback(Step):
    name: str


@dataclass(frozen=True)
class RegisterTaskDefinition(Step):
    process: str
    release: int
    spec: TaskDefSpec

    @property
    def key(self) -> str:
        return f"RegisterTaskDefinition:{self.process}:v{self.release}"


@dataclass(frozen=True)
class CreateService(Step):
    process: str
    spec: ServiceSpec

    @property
    def key(self) -> str:
        return f"CreateService:{self.spec.name}"


@dataclass(frozen=True)
class UpdateService(Step):
    process: str
    spec: ServiceSpec
    drift: bool = False

    @property
    def key(self) -> str:
        return f"UpdateService:{self.spec.name}:{self.spec.task_definition.rsplit(':', 1)[-1]}:{self.spec.desired_count}"


@dataclass(frozen=True)
class BeginRollback(Step):
    to_release: int | None  # None: nothing known-good to go back to


@dataclass(frozen=True)
class Finish(Step):
    deployment_id: int
    state: str  # succeeded | failed | rolled_back | superseded | cancelled


@dataclass(frozen=True)
class MarkKnownGood(Step):
    release_id: int
    version: int


@dataclass(frozen=True)
class Wait(Step):
    """Nothing to do until AWS converges: come back in `seconds`.

    `topic` names what is awaited without the numbers that change every pass (elapsed time,
    counts): the timeline records a wait when it starts and when its topic changes, not per poll.
    """

    seconds: float
    detail: dict | None = None
    topic: str | None = None

    @property
    def what(self) -> str:
        return self.topic or self.reason


@dataclass(frozen=True)
class Idle(Step):
    """Converged: nothing to do until the next request or resync."""

    seconds: float | None = None


@dataclass(frozen=True)
class ChooseColours(Step):
    """Record, once per deployment, which colour each process's new release goes to."""

    colours: dict


@dataclass(frozen=True)
class ShiftTraffic(Step):
    """One ModifyRule call: the atomic weight change that promotes, or takes a release out."""

    process: str
    rule_arn: str
    weights: dict  # target group ARN → weight
    percent: int  # weight of the new colour after the shift
    rollback_to: int | None = None  # set when this shift takes a bad release out
    fail_state: str | None = None  # 'failed' when taken out for being inconclusive at the deadline
    evidence: dict | None = None

    @property
    def key(self) -> str:
        return f"ShiftTraffic:{self.process}:{self.percent}" + (":revert" if self.rollback_to is not None else "")


@dataclass(frozen=True)
class ScaleService(Step):
    process: str
    cluster: str
    name: str
    desired: int
    gc: bool = False  # garbage collection scaling the previous (or an idle) colour down

    @property
    def key(self) -> str:
        return f"ScaleService:{self.name}:{self.desired}"


@dataclass(frozen=True)
class DeregisterTaskDefinition(Step):
    """Garbage collection: one old task-definition revision nothing needs any more."""

    arn: str
    gc: bool = True

    @property
    def key(self) -> str:
        return f"DeregisterTaskDefinition:{self.arn.rsplit('/', 1)[-1]}"


@dataclass(frozen=True)
class GcChecked(Step):
    """Garbage collection found nothing (more) to remove: remember when, so the next listing waits."""

    state: dict


@dataclass(frozen=True)
class AllocateRulePriorities(Step):
    """Store the priorities chosen from the listener's free ones (paas.planner.priorities)."""

    listener_arn: str
    priorities: dict  # web process → priority


@dataclass(frozen=True)
class ReleaseRulePriorities(Step):
    """CloudFormation found a stored priority taken: forget it so the next pass allocates anew."""

    processes: tuple[str, ...]


@dataclass(frozen=True)
class RevertTrafficDrift(Step):
    """Steady state: one ModifyRule putting a rule's weights back to what paas last set."""

    process: str
    rule_arn: str
    weights: dict  # target group ARN → weight
    drift: bool = True

    @property
    def key(self) -> str:
        return f"RevertTrafficDrift:{self.process}"


# --- tasks: release phase, one-off runs, stopped tasks (paas/planner/release_phase.py, tasks.py) ----

@dataclass(frozen=True)
class RunReleaseTask(Step):
    """RunTask of the new release with the `[release]` command, before any service changes."""

    deployment_id: int
    process: str
    release: int
    command_line: str
    spec: TaskRunSpec

    @property
    def key(self) -> str:
        return f"RunReleaseTask:{self.deployment_id}"


@dataclass(frozen=True)
class RecordTaskStopped(Step):
    """A task paas tracks (release phase, `paas run`, a job) stopped: its exit code, reasons and
    last log lines go into `task_runs` (and the deployment's timeline, for a release phase)."""

    run_id: int
    kind: str
    deployment_id: int | None
    task: TaskState
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class StopTask(Step):
    """StopTask: a release phase that ran past its timeout."""

    cluster: str
    task_arn: str
    why: str
    deployment_id: int | None = None

    @property
    def key(self) -> str:
        return f"StopTask:{self.task_arn.rsplit('/', 1)[-1]}"


@dataclass(frozen=True)
class RecordStoppedTasks(Step):
    """Tasks of the deployment in flight that failed: one `task_stopped` event each, ever."""

    deployment_id: int
    tasks: tuple[tuple[TaskState, str | None, int | None], ...]  # (task, process, release version)


@dataclass(frozen=True)
class RecordJobRuns(Step):
    """Tasks scheduled jobs started, new or newly stopped, into `task_runs`."""

    runs: tuple[tuple[str, str, int | None, TaskState], ...]  # (job, process, release id, task)


# --- scheduled jobs (paas/planner/jobs.py) ---------------------------------------------------------

@dataclass(frozen=True)
class EnsureScheduleGroup(Step):
    group: str
    owner: dict

    @property
    def key(self) -> str:
        return f"EnsureScheduleGroup:{self.group}"


@dataclass(frozen=True)
class PutSchedule(Step):
    """CreateSchedule or UpdateSchedule so a job's schedule runs the live release."""

    job: str
    spec: ScheduleSpec
    create: bool
    release_id: int | None = None

    @property
    def key(self) -> str:
        return f"PutSchedule:{self.job}:{self.spec.task_definition.rsplit(':', 1)[-1]}"


@dataclass(frozen=True)
class DeleteSchedule(Step):
    """A job no longer in the live release's paas.toml."""

    job: str
    group: str
    owner: dict

    @property
    def key(self) -> str:
        return f"DeleteSchedule:{self.job}"


@dataclass(frozen=True)
class RecordJobSchedules(Step):
    """AWS already runs the jobs as desired: make `job_schedules` say so (after a lost record)."""

    jobs: dict  # job → (expression, task definition ARN, release id)
