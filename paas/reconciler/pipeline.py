"""The delivery pipeline's two loops in a worker: consuming ECR push events, and advancing
each app's pipeline one pass at a time (`paas.planner.pipeline` decides; this module acts).

Consuming (`PushConsumer.poll_once`): long-poll the region's push queue, record each push that
a pipeline watches (tag pattern) once per digest, with the `pipeline_started` notification in
the same transaction, commit, and only then delete the message. A message of a repository or
tag nobody watches is deleted at once. A crash between commit and delete redelivers the
message, and the unique (app, digest) makes the second record a no-op. A message that cannot be
recorded now is made visible again after a few seconds (ChangeMessageVisibility), on its own:
the rest of its batch goes on.

A pass (`run_pass`) for one app, under the pipeline's lease (`paas.db.pipeline.claim`):
resync the watched repository when due (DescribeImages: the newest matching image the database
has not seen is recorded as a push, so a lost or late message only delays); observe running
checks (DescribeTasks; the log tail of one that stopped) and record how they ended; then plan
and act: start a check (register a task definition of the image pinned by digest with the
first stage's config, RunTask with the test command in the first stage's cluster), fail a
check past its timeout (StopTask), end pushes, announce approvals, promote. A promotion is a
`paas deploy` of the image (`paas.service.promotions`, the one place releases are built) and a
`promotions` row with its evidence, in one transaction.
"""

from __future__ import annotations

import logging
import shlex
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from paas.aws.driver import Driver
from paas.db import notifications
from paas.db import pipeline as pdb
from paas.db.sql import Db
from paas.domain import names
from paas.domain.errors import PaasError, UserError
from paas.domain.pipeline import PipelineState, PushState
from paas.domain.specs import TaskDefSpec, TaskRunSpec, stack_name
from paas.planner import pipeline as plan_
from paas.reconciler.logs import kv
from paas.service import promotions

log = logging.getLogger("paas.pipeline")

ACTOR = "paas-pipeline"
LOG_LINES = 10
IDLE_RECHECK = 60.0  # seconds between passes of a pipeline with nothing to wait for (resync is separate)
CHECK_POLL = 1.0  # seconds between looks at a running check
MISSING_GRACE = 60.0  # seconds a just-started check task may be unknown to DescribeTasks
RETRY_SECONDS = 5  # a push message that could not be recorded is received again after this


# --- consuming push events -----------------------------------------------------------------------

@dataclass
class PushConsumer:
    """One region's push queue, consumed by one thread of a worker."""

    driver: Driver
    wait_seconds: float = 20.0
    queue_url: str | None = None
    uris: dict[str, str] = field(default_factory=dict)  # repository → its URI (DescribeRepositories, once)
    retry_seconds: int = RETRY_SECONDS
    received: int = 0
    recorded: int = 0

    def ensure(self) -> str:
        if self.queue_url is None:
            self.queue_url = self.driver.ensure_push_route()
        return self.queue_url

    def poll_once(self, connect: Callable[[], Any], pipelines: Callable[[Db], list[tuple[int, str, Any, Any]]],
                  on_recorded: Callable[[int], None] | None = None) -> int:
        """One long poll (no database connection held meanwhile); returns how many new pushes were
        recorded, each committed before its message is deleted. The pipelines are read after the
        poll: one declared while it waited counts."""
        url = self.ensure()
        msgs = self.driver.receive_pushes(url, self.wait_seconds)
        self.received += len(msgs)
        if not msgs:
            return 0
        with connect() as db:
            watched = pipelines(db)
            db.commit()
            return self._record(db, url, msgs, watched, on_recorded)

    def _record(self, db: Db, url: str, msgs: list, pipelines: list[tuple[int, str, Any, Any]],
                on_recorded: Callable[[int], None] | None) -> int:
        """Each message on its own: one that cannot be recorded now (the database, DescribeRepositories)
        comes back after RETRY_SECONDS and does not hold up the others; the first such error is
        raised after the batch, so the caller backs off."""
        new = 0
        failed: Exception | None = None
        for m in msgs:
            try:
                new += self._record_one(db, m, pipelines, on_recorded)
            except Exception as e:  # its transaction was rolled back
                failed = failed or e
                log.warning("push message: recording failed; retrying it", extra=kv(
                    repository=m.repository, tag=m.tag, retry_seconds=self.retry_seconds,
                    error=str(e).splitlines()[0] if str(e) else type(e).__name__))
                try:
                    self.driver.retry_push_message(url, m.receipt, self.retry_seconds)
                except Exception:
                    pass  # it comes back after the queue's visibility timeout instead
                continue
            self.driver.delete_push_message(url, m.receipt)  # after the commit: at-least-once in
        self.recorded += new
        if failed is not None:
            raise failed
        return new

    def _record_one(self, db: Db, m: Any, pipelines: list[tuple[int, str, Any, Any]],
                    on_recorded: Callable[[int], None] | None) -> int:
        apps = [(app_id, spec) for app_id, _, spec, _ in pipelines
                if m.repository and spec.repository == m.repository and spec.matches(m.tag)]
        if not apps or not m.digest:
            return 0
        new = 0
        uri = self._uri(m.repository)
        if uri is None:
            log.warning("push message: the repository is gone; dropped", extra=kv(repository=m.repository, tag=m.tag))
            return 0
        image = f"{uri}:{m.tag}@{m.digest}" if m.tag else f"{uri}@{m.digest}"
        with db.transaction():
            for app_id, spec in apps:
                push_id = pdb.record_push(db, app_id, repository=m.repository, tag=m.tag, digest=m.digest,
                                          image=image, source="event", pushed_at=m.pushed_at,
                                          queued_at=m.queued_at)
                if push_id is not None:
                    new += 1
                    notifications.enqueue(db, app_id=app_id, environment_id=None, event="pipeline_started",
                                          payload=_push_payload(push_id, m.repository, m.tag, m.digest,
                                                                image, "event"))
        for app_id, _ in apps:
            if on_recorded:
                on_recorded(app_id)
        return new

    def _uri(self, repository: str) -> str | None:
        uri = self.uris.get(repository)
        if uri is None:
            uri = self.driver.repository_uri(repository)
            if uri is not None:
                self.uris[repository] = uri
        return uri


def _push_payload(push_id: int, repository: str, tag: str | None, digest: str, image: str, source: str) -> dict:
    return {"push_id": push_id, "repository": repository, "tag": tag, "digest": digest, "image": image,
            "source": source}


# --- one pass of one pipeline ------------------------------------------------------------------------

@dataclass
class PassResult:
    after: float
    actions: list[str] = field(default_factory=list)


def run_pass(db: Db, app_id: int, owner: str, driver_for: Callable[[Any], Driver], *,
             resync_interval: float = 300.0, now: Callable[[], datetime] | None = None) -> PassResult:
    now = now or (lambda: datetime.now(timezone.utc))
    state = pdb.load(db, app_id)
    db.commit()
    if state is None:
        return PassResult(IDLE_RECHECK)
    first_env_id = state.stage_environment_ids[0]
    env = pdb.environment_row(db, first_env_id) if first_env_id is not None else None
    db.commit()
    driver = driver_for(env) if env is not None else None
    done: list[str] = []
    if driver is not None:
        due = pdb.resync_due(db, app_id, resync_interval)
        db.commit()
        if due and resync(db, state, driver, owner):
            done.append("resync")
        if _observe_checks(db, state, env, driver, owner):
            done.append("check_finished")
        if done:
            state = pdb.load(db, app_id)
            db.commit()
    p = plan_.plan(state, now())
    after = min(IDLE_RECHECK, resync_interval)  # the next resync is a pass too
    for action in p.actions:
        if isinstance(action, plan_.StartCheck) and (driver is None or env is None):
            continue
        _act(db, state, action, env, driver, owner)
        done.append(type(action).__name__)
    if any(x.check is not None and x.check.state == "running" for x in state.pushes if x.state == "active") \
            or any(isinstance(a, plan_.StartCheck) for a in p.actions):
        after = min(after, CHECK_POLL)
    if any("deploying" in w or "known-good" in w or "promoting" in w for w in p.waits.values()):
        after = min(after, CHECK_POLL)
    if p.next_at is not None:
        after = min(after, max(0.05, (p.next_at - now()).total_seconds()))
    if done:
        after = min(after, 0.0)  # look again at once: one action may enable the next
    return PassResult(after, done)


def _push(state: PipelineState, push_id: int) -> PushState:
    return next(x for x in state.pushes if x.id == push_id)


def _act(db: Db, state: PipelineState, a: Any, env: Any, driver: Driver | None, owner: str) -> None:
    app_id = state.app_id
    if isinstance(a, plan_.StartCheck):
        start_check(db, state, _push(state, a.push_id), env, driver, owner)
    elif isinstance(a, plan_.CheckTimedOut):
        p = _push(state, a.push_id)
        c = p.check
        if c is not None and c.task_arn and driver is not None:
            _stop(driver, env, c.task_arn, a.reason)
        with db.transaction():
            pdb.fence(db, app_id, owner)
            if c is not None:
                pdb.finish_check(db, c.id, passed=False, exit_code=None, stop_code="Timeout",
                                 stopped_reason=a.reason, duration_seconds=_since(c.created_at), log_tail=[])
            if pdb.end_push(db, p.id, "failed", a.reason):
                notifications.enqueue(db, app_id=app_id, environment_id=c.environment_id if c else None,
                                      event="check_failed", payload=_check_payload(state, p, None, a.reason))
    elif isinstance(a, plan_.EndPush):
        p = _push(state, a.push_id)
        if a.stop_check and p.check is not None and p.check.task_arn and driver is not None:
            _stop(driver, env, p.check.task_arn, f"superseded: {a.reason}")
        with db.transaction():
            pdb.fence(db, app_id, owner)
            if a.stop_check and p.check is not None:
                pdb.finish_check(db, p.check.id, passed=False, exit_code=None, stop_code="Superseded",
                                 stopped_reason=a.reason, duration_seconds=_since(p.check.created_at), log_tail=[])
            pdb.end_push(db, p.id, a.state, a.reason)
    elif isinstance(a, plan_.AnnounceApproval):
        p = _push(state, a.push_id)
        stage = state.spec.stages[a.stage]
        with db.transaction():
            pdb.fence(db, app_id, owner)
            pdb.mark_approval_announced(db, p.id, a.environment_id)
            ref = f"v{a.upstream_version}" if a.upstream_version is not None else (p.tag or p.digest)
            notifications.enqueue(db, app_id=app_id, environment_id=a.environment_id, event="approval_needed",
                                  payload={"push_id": p.id, "tag": p.tag, "digest": p.digest, "image": p.image,
                                           "stage": stage.environment, "upstream_release_version": a.upstream_version,
                                           "approve": f"paas approve {state.app} --env {stage.environment} {ref}"})
    elif isinstance(a, plan_.Promote):
        promote(db, state, a, owner)


def _since(t: datetime) -> float:
    return max(0.0, (datetime.now(timezone.utc) - t).total_seconds())


def _stop(driver: Driver, env: Any, task_arn: str, reason: str) -> None:
    try:
        driver.stop_task(env.cluster, task_arn, reason)
    except PaasError as e:  # already gone: the record is what matters
        log.warning("stopping a check failed", extra=kv(task=task_arn, error=str(e)))


def _check_payload(state: PipelineState, p: PushState, c: Any, reason: str) -> dict:
    c = c or {}
    return {"push_id": p.id, "tag": p.tag, "digest": p.digest, "image": p.image, "reason": reason,
            "environment": state.spec.stages[0].environment, "exit_code": c.get("exit_code"),
            "stop_code": c.get("stop_code"), "stopped_reason": c.get("stopped_reason"),
            "duration_seconds": c.get("duration_seconds"), "log_tail": list(c.get("log_tail") or [])[-LOG_LINES:],
            "task_arn": c.get("task_arn")}


# --- checks --------------------------------------------------------------------------------------

def start_check(db: Db, state: PipelineState, p: PushState, env: Any, driver: Driver, owner: str) -> None:
    """Transaction 1 (the check exists), the task definition and RunTask (no transaction open),
    transaction 2 (its task)."""
    command = shlex.split(state.spec.test_command)
    with db.transaction():
        pdb.fence(db, state.app_id, owner)
        check_id, created = pdb.insert_check(db, p.id, state.app_id, env.id, p.digest, command)
        vars_, secrets = pdb.config_vars(db, state.app_id, env.id)
        if pdb.check_row(db, p.id).task_arn:  # an earlier attempt got as far as its task
            return
    stack = driver.describe_stack(stack_name(state.app, env.name))
    outputs = stack.outputs if stack else {}
    tags = {"paas:app": state.app, "paas:env": env.name, "paas:process": "pipeline-check"}
    from paas.planner.build import secret_value_from

    td = driver.register_task_definition(TaskDefSpec(
        family=names.check_family(state.app, env.name), container_name="check", image=p.image, cpu=512, memory=1024,
        port=None, command=None, environment=dict(vars_),
        secrets={k: secret_value_from(ref) for k, ref in secrets.items()}, log_group=outputs.get("LogGroupName"),
        region=env.region, execution_role_arn=outputs.get("ExecutionRoleArn"),
        task_role_arn=outputs.get("TaskRoleArn"), tags=tags)).result["arn"]
    sg = outputs.get("SecurityGroupId")
    spec = TaskRunSpec(
        cluster=env.cluster, task_definition=td, container_name="check", command=tuple(command),
        subnets=tuple(env.subnets), security_groups=tuple(env.security_groups) + ((sg,) if sg else ()),
        started_by=names.check_started_by(state.app, env.name, check_id, created.isoformat()),
        assign_public_ip=env.assign_public_ip, tags=tags)
    task_arn = driver.run_task(spec, spec.started_by).result["task_arn"]
    with db.transaction():
        pdb.fence(db, state.app_id, owner)
        pdb.set_check_task(db, check_id, td, task_arn)
    log.info("check started", extra=kv(app=state.app, push=p.id, tag=p.tag, task=task_arn))


def _observe_checks(db: Db, state: PipelineState, env: Any, driver: Driver, owner: str) -> bool:
    running = {x.check.task_arn: x for x in state.pushes
               if x.state == "active" and x.check is not None and x.check.state == "running" and x.check.task_arn}
    if not running:
        return False
    found = driver.task_states(env.cluster, list(running))
    changed = False
    for arn, t in found.items():
        p = running[arn]
        c = p.check
        if t.last_status == "MISSING" and _since(c.started_at or c.created_at) < MISSING_GRACE:
            continue  # ECS is eventually consistent: a task just started may not be listed yet
        if not (t.stopped or t.last_status == "MISSING"):
            continue
        tail: list[str] = []
        if t.stopped and t.container:
            stack = driver.describe_stack(stack_name(state.app, env.name))
            group = (stack.outputs if stack else {}).get("LogGroupName")
            if group:
                tail = driver.log_tail(group, names.log_stream(t.container, t.arn), LOG_LINES)
        passed = plan_.check_passed(t.exit_code, t.stop_code)
        started = t.started_at or c.started_at or c.created_at
        ended = t.stopped_at or datetime.now(timezone.utc)
        duration = max(0.0, (ended - started).total_seconds())
        reason = t.stopped_reason or ("ECS no longer lists the task" if t.last_status == "MISSING" else None)
        with db.transaction():
            pdb.fence(db, state.app_id, owner)
            if pdb.finish_check(db, c.id, passed=passed, exit_code=t.exit_code, stop_code=t.stop_code,
                                stopped_reason=reason, duration_seconds=duration, log_tail=tail):
                changed = True
                if not passed:
                    why = plan_.check_failure(type("C", (), {"exit_code": t.exit_code, "stopped_reason": reason,
                                                            "stop_code": t.stop_code})())
                    pdb.end_push(db, p.id, "failed", why)
                    notifications.enqueue(db, app_id=state.app_id, environment_id=c.environment_id,
                                          event="check_failed", payload=_check_payload(state, p, {
                                              "exit_code": t.exit_code, "stop_code": t.stop_code,
                                              "stopped_reason": reason, "duration_seconds": duration,
                                              "log_tail": tail, "task_arn": arn}, why))
        log.info("check finished", extra=kv(app=state.app, push=p.id, passed=passed, exit_code=t.exit_code))
    return changed


# --- resync --------------------------------------------------------------------------------------

def resync(db: Db, state: PipelineState, driver: Driver, owner: str) -> bool:
    """Record the repository's newest matching image when the database has not seen it (pushed
    after the pipeline was declared: older images are history, not work)."""
    spec = state.spec
    try:
        images = driver.repository_images(spec.repository)
    except PaasError as e:
        log.warning("resync: cannot list the repository", extra=kv(app=state.app, error=str(e)))
        return False
    since = pdb.created_at(db, state.app_id)
    db.commit()
    if since is not None:  # imagePushedAt may come in whole seconds (moto's does)
        since = since.replace(microsecond=0)
    matching = [(i, t) for i in images for t in i.tags if spec.matches(t)
                and (since is None or i.pushed_at is None or i.pushed_at >= since)]
    if not matching:
        return False
    img, tag = max(matching, key=lambda x: (x[0].pushed_at or datetime.min.replace(tzinfo=timezone.utc), x[1]))
    seen = pdb.seen_digests(db, state.app_id, [img.digest])
    db.commit()
    if seen:
        return False
    uri = driver.repository_uri(spec.repository)
    image = f"{uri}:{tag}@{img.digest}"
    with db.transaction():
        pdb.fence(db, state.app_id, owner)
        push_id = pdb.record_push(db, state.app_id, repository=spec.repository, tag=tag, digest=img.digest,
                                  image=image, source="resync", pushed_at=img.pushed_at, queued_at=None)
        if push_id is not None:
            notifications.enqueue(db, app_id=state.app_id, environment_id=None, event="pipeline_started",
                                  payload=_push_payload(push_id, spec.repository, tag, img.digest, image, "resync"))
    if push_id is not None:
        log.info("resync found a push", extra=kv(app=state.app, tag=tag, digest=img.digest))
    return push_id is not None


# --- promotions ----------------------------------------------------------------------------------

def promote(db: Db, state: PipelineState, a: plan_.Promote, owner: str) -> int:
    """`paas deploy` of the push's image into the stage, and the promotion row with its evidence,
    in one transaction."""
    p = _push(state, a.push_id)
    stage = state.spec.stages[a.stage]
    c = p.check
    evidence = {
        "check": None if c is None else {"id": c.id, "state": c.state, "exit_code": c.exit_code,
                                          "duration_seconds": c.duration_seconds,
                                          "finished_at": c.finished_at.isoformat() if c.finished_at else None},
        "upstream": None if a.upstream is None else {
            "environment": state.spec.stages[a.stage - 1].environment, "release_version": a.upstream.release_version,
            "deployment_id": a.upstream.deployment_id,
            "known_good_at": a.upstream.known_good_at.isoformat() if a.upstream.known_good_at else None,
            "soak_seconds": state.spec.stages[a.stage - 1].soak_seconds},
        "approver": a.approver, "tag": p.tag, "digest": p.digest,
    }
    try:
        return _promote(db, state, a, owner, p, stage, evidence)
    except UserError as e:  # refused as `paas deploy` would refuse it (not a busy lock): it will not pass later
        with db.transaction():
            pdb.fence(db, state.app_id, owner)
            pdb.end_push(db, p.id, "failed", f"promotion to {stage.environment} refused: {e}")
        log.warning("promotion refused", extra=kv(app=state.app, push=p.id, error=str(e)))
        return 0


def _promote(db: Db, state: PipelineState, a: plan_.Promote, owner: str, p: PushState, stage: Any,
             evidence: dict) -> int:
    with db.transaction():
        pdb.fence(db, state.app_id, owner)
        upstream_env = state.stage_environment_ids[a.stage - 1] if a.stage > 0 else None
        dep_id = promotions.promote(
            db, state.app, stage, p.image, actor=ACTOR,
            message=_message(p, a, state), upstream_environment_id=upstream_env,
            upstream_release_id=a.upstream.release_id if a.upstream else None)
        pdb.insert_promotion(
            db, push_id=p.id, app_id=state.app_id, environment_id=a.environment_id, stage=a.stage,
            deployment_id=dep_id, upstream_environment_id=upstream_env,
            upstream_release_id=a.upstream.release_id if a.upstream else None,
            upstream_known_good_at=a.upstream.known_good_at if a.upstream else None,
            approver=a.approver, approved_at=a.approved_at, evidence=evidence)
    log.info("promoted", extra=kv(app=state.app, push=p.id, stage=stage.environment, deployment=dep_id))
    return dep_id


def _message(p: PushState, a: plan_.Promote, state: PipelineState) -> str:
    what = f"pipeline: {p.tag or p.digest[:19]} ({p.digest[7:19]})"
    if a.upstream is None:
        return f"{what}, integration tests passed"
    up = state.spec.stages[a.stage - 1].environment
    approved = f", approved by {a.approver}" if a.approver else ""
    return f"{what}, known-good in {up} as v{a.upstream.release_version}{approved}"


def wait_ms(t0: float) -> float:
    return (time.monotonic() - t0) * 1000
