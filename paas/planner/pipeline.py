"""What a pipeline does next for its pushes (pure): the rule, then the code in that order.

1. A newer active push supersedes an older one waiting for the same stage or an earlier one:
   the older ends `superseded` (a check still running is stopped). One whose deployment is in
   flight is superseded by the newer promotion's deployment (as any newer deploy does).
2. A push without a check gets one (its integration tests); a check whose task did not start
   (RunTask failed) is started again, idempotently. A check running past the
   pipeline's test timeout fails. A failed check ends the push `failed`: nothing is deployed.
3. A push whose check passed is promoted into the first stage. It is promoted into stage k+1
   only once its release in stage k succeeded, is still live there, became known-good, and has
   been known-good for stage k's soak; and, when stage k+1 asks for approval, once someone
   approved it (`paas approve`), the request for approval being announced once.
4. A deployment of a promotion that fails, rolls back or is cancelled ends the push `failed`
   and leaves the earlier stages as they are; one superseded ends it `superseded`; the last
   stage succeeding ends it `released`.

Every push still active gets a line saying what it waits for, and the plan says when to look
again (the earliest soak end or test timeout), so a waiting pipeline costs no polling beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from paas.domain.pipeline import PipelineState, PromotionState, PushState

FAILED_DEPLOYMENT_STATES = ("failed", "rolled_back", "cancelled")


@dataclass(frozen=True)
class StartCheck:
    push_id: int


@dataclass(frozen=True)
class CheckTimedOut:
    push_id: int
    reason: str


@dataclass(frozen=True)
class EndPush:
    push_id: int
    state: str  # failed | superseded | released
    reason: str
    stop_check: bool = False  # a check still running is stopped


@dataclass(frozen=True)
class AnnounceApproval:
    push_id: int
    stage: int
    environment_id: int
    upstream_version: int | None


@dataclass(frozen=True)
class Promote:
    push_id: int
    stage: int
    environment_id: int
    upstream: PromotionState | None
    approver: str | None = None
    approved_at: datetime | None = None


Action = StartCheck | CheckTimedOut | EndPush | AnnounceApproval | Promote


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    waits: dict[int, str] = field(default_factory=dict)  # push id → what it waits for
    next_at: datetime | None = None

    def wake(self, at: datetime) -> None:
        self.next_at = at if self.next_at is None else min(self.next_at, at)


def _t(at: datetime) -> str:
    return at.strftime("%H:%M:%S")


def plan(s: PipelineState, now: datetime) -> Plan:
    out = Plan()
    active = [p for p in s.pushes if p.state == "active"]
    ended: set[int] = set()
    # 1. newer supersedes older at the same or an earlier stage
    for p in active:
        last = p.promotion(p.progress - 1) if p.progress else None
        if p.progress == len(s.spec.stages) or (last and last.deployment_state in ("pending", "in_progress")):
            continue  # in flight (or done): the deployment's own end decides (a newer deploy supersedes it)
        newer = [q for q in active if q.id > p.id and q.progress >= p.progress
                 and not (q.check is not None and q.check.state == "failed")]
        if newer:
            q = newer[-1]  # the newest
            out.actions.append(EndPush(p.id, "superseded", f"superseded by {q.tag or q.digest[:19]} (push {q.id})",
                                       stop_check=p.check is not None and p.check.state == "running"))
            ended.add(p.id)
    for p in active:
        if p.id not in ended:
            _push(s, p, now, out)
    return out


def _push(s: PipelineState, p: PushState, now: datetime, out: Plan) -> None:
    spec = s.spec
    c = p.check
    # 2. integration tests
    if c is None:
        out.actions.append(StartCheck(p.id))
        out.waits[p.id] = "checks starting"
        return
    if c.state == "running":
        deadline = c.created_at + timedelta(seconds=spec.test_timeout_seconds)
        if now >= deadline:
            out.actions.append(CheckTimedOut(p.id, f"integration tests timed out after {spec.test_timeout_seconds:g}s"))
            return
        if c.task_arn is None:  # RunTask failed or its answer was lost: start again (idempotent by startedBy)
            out.actions.append(StartCheck(p.id))
            out.waits[p.id] = "checks starting"
            out.wake(deadline)
            return
        out.waits[p.id] = f"checks running (since {_t(c.created_at)})"
        out.wake(deadline)
        return
    if c.state == "failed":
        out.actions.append(EndPush(p.id, "failed", check_failure(c)))
        return
    # 3./4. stages
    k = p.progress
    if k > 0:
        last = p.promotion(k - 1)
        env_name = spec.stages[k - 1].environment
        if last is None:  # a gap: cannot happen with promotions made in order
            out.waits[p.id] = "inconsistent promotions"
            return
        if last.deployment_state in ("pending", "in_progress"):
            out.waits[p.id] = f"deploying to {env_name} (deployment #{last.deployment_id}, v{last.release_version})"
            return
        if last.deployment_state in FAILED_DEPLOYMENT_STATES:
            why = f": {last.error}" if last.error else ""
            out.actions.append(EndPush(p.id, "failed", f"deployment #{last.deployment_id} to {env_name} "
                                                        f"{last.deployment_state.replace('_', ' ')}{why}"))
            return
        if last.deployment_state == "superseded":
            out.actions.append(EndPush(p.id, "superseded", f"deployment #{last.deployment_id} to {env_name} "
                                                            "was superseded"))
            return
        if k == len(spec.stages):
            out.actions.append(EndPush(p.id, "released", f"live in {env_name} as v{last.release_version}"))
            return
        if s.live.get(last.environment_id) != last.release_id:
            out.actions.append(EndPush(p.id, "superseded", f"{env_name} no longer runs v{last.release_version}"))
            return
        if last.known_good_at is None:
            out.waits[p.id] = f"waiting for v{last.release_version} to become known-good in {env_name}"
            return
        eligible = last.known_good_at + timedelta(seconds=spec.stages[k - 1].soak_seconds)
        if now < eligible:
            out.waits[p.id] = f"soaking in {env_name} until {_t(eligible)}"
            out.wake(eligible)
            return
    stage = spec.stages[k]
    env_id = s.stage_environment_ids[k]
    if env_id is None:
        out.waits[p.id] = f"environment {stage.environment!r} does not exist"
        return
    upstream = p.promotion(k - 1) if k > 0 else None
    approver, approved_at = None, None
    if stage.approval:
        got = p.approval(env_id)
        if got is None:
            if env_id not in p.approval_notified:
                out.actions.append(AnnounceApproval(p.id, k, env_id, upstream.release_version if upstream else None))
            ref = f"v{upstream.release_version}" if upstream else (p.tag or p.digest)
            out.waits[p.id] = (f"waiting for approval to {stage.environment} "
                               f"(paas approve {s.app} --env {stage.environment} {ref})")
            return
        approver, approved_at = got
    out.actions.append(Promote(p.id, k, env_id, upstream, approver, approved_at))
    out.waits[p.id] = f"promoting to {stage.environment}"


def check_failure(c) -> str:
    if c.exit_code is not None:
        return f"integration tests failed (exit {c.exit_code})"
    return f"integration tests failed: {c.stopped_reason or c.stop_code or 'the task stopped'}"


def check_passed(exit_code: int | None, stop_code: str | None) -> bool:
    """The check's verdict: its container exited 0 by itself (as `paas run` reads a task)."""
    return exit_code == 0 and stop_code in (None, "EssentialContainerExited")
