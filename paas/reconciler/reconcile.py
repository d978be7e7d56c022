"""reconcile_once: the one place that touches the database, the planner and the driver together.

One pass for one claimed app+environment reads as the design says: load desired state,
observe AWS, plan, apply the first unfinished step (its one handler, `handlers.HANDLERS`),
and repeat while steps complete at once; stop at a Wait or Idle. What happens next (come back
after, retry with backoff, end the deployment) is decided in `outcome`.

Fencing (DESIGN.md §2): every write happens in a transaction that first checks the claim's
fencing token (`queue.fence`), and no AWS request leaves once the lease may have expired (the
send guard the worker wraps each pass in). AWS requests are sent outside any transaction, so a
steering command or a rescue never waits behind a worker's AWS call.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import replace
from typing import Callable, Iterator

from paas import clock
from paas.aws import seen_tags
from paas.aws.driver import Driver
from paas.db import deployment_writes as w
from paas.db import queue
from paas.db.records import EnvironmentRecord
from paas.db.sql import Db
from paas.domain.errors import LeaseLost, PermanentError, TransientError
from paas.planner import steps as s
from paas.planner.desired import Desired, Policy
from paas.planner.plan import before_observing, plan
from paas.reconciler import failpoints, outcome
from paas.reconciler.handlers import HANDLERS, Context
from paas.reconciler.load import Loaded, load_desired
from paas.reconciler.memo import Known, ObservationMemo
from paas.reconciler.observe import observe, refresh_after, releases_of_interest, summary
from paas.reconciler.task_watch import observe_tasks
from paas.reconciler.outcome import Outcome

log = logging.getLogger("paas.reconciler")

MAX_STEPS_PER_PASS = 25


@contextmanager
def fenced(db: Db, claim: queue.Claim) -> Iterator[Db]:
    """One transaction that writes only while the claim still owns the app+environment."""
    with db.transaction():
        queue.fence(db, claim)
        yield db


def _context(claim: queue.Claim, loaded: Loaded, worker: str) -> Context:
    return Context(app_id=claim.app_id, env_id=claim.environment_id, token=claim.token, worker=worker,
                   d=loaded.desired, gc_request_id=loaded.gc_request_id)


def _record_wait(db: Db, claim: queue.Claim, d: Desired, step: s.Wait) -> None:
    """A wait is recorded when it starts and when what it waits for changes, never per poll."""
    if d.active is None or d.active.last_wait == step.what:
        return
    data = {**(step.detail or {}), "topic": step.what}
    with fenced(db, claim):
        w.event(db, d.active.id, "gate" if "gate" in data else "progress", step.reason, data=data, token=claim.token)


def _apply(db: Db, claim: queue.Claim, ctx: Context, step: s.Step, driver: Driver | None):
    """Send the step's AWS request (if any), then record it in one fenced transaction."""
    handler = HANDLERS[type(step)]
    name = type(step).__name__
    call = None
    if handler.call is not None:
        failpoints.hit(f"before-aws:{name}")
        call = handler.call(driver, ctx, step)
        failpoints.hit(f"after-aws:{name}")
    with fenced(db, claim):
        handler.record(db, ctx, step, call)
    return call


def _end_in_flight(db: Db, claim: queue.Claim, d: Desired | None, out: Outcome, step: s.Step | None,
                   request_id: str | None) -> None:
    """End the deployment in flight as `outcome` decided, recording the error that ended it."""
    dep = d.active if d is not None else None
    if dep is None or out.end_deployment is None:
        return
    try:
        with fenced(db, claim):
            if out.end_deployment == "failed":
                w.fail(db, dep.id, out.end_reason or "failed", claim.token,
                       step=step.key if step is not None else None, request_id=request_id)
            else:
                w.event(db, dep.id, "error", out.error or "", token=claim.token, request_id=request_id,
                        step=step.key if step is not None else None)
                w.finish(db, dep.id, out.end_deployment, out.end_reason or out.end_deployment, claim.token,
                         error=out.end_reason, rolled_back=False)
    except Exception as e:  # the lease went meanwhile, or the database: the next pass decides again
        db.rollback()
        log.warning("could not end deployment %s: %s", dep.id, e)


def reconcile_once(db: Db, claim: queue.Claim, driver_for: Callable[[EnvironmentRecord], Driver], policy: Policy,
                   worker: str = "worker", on_step: Callable[[s.Step], None] | None = None,
                   should_stop: Callable[[], bool] = lambda: False,
                   memo: ObservationMemo | None = None) -> Outcome:
    """One pass; returns when AWS needs time, nothing is left, or `should_stop()` (SIGTERM).

    `memo`: the worker's memory of its previous pass of this app+environment (memo.py); what it
    may reuse is decided by the claim's fencing token, and a pass that fails keeps nothing."""
    known = memo.begin(claim) if memo is not None else Known()
    keep = True
    try:
        with seen_tags.scope():  # owner tags read this pass serve this pass's owner checks
            return _pass(db, claim, driver_for, policy, worker, on_step, should_stop, known)
    except BaseException:
        keep = False
        raise
    finally:
        if memo is not None and keep and not known.failed:
            memo.keep(claim, known)


def _pass(db: Db, claim: queue.Claim, driver_for: Callable[[EnvironmentRecord], Driver], policy: Policy,
          worker: str, on_step: Callable[[s.Step], None] | None, should_stop: Callable[[], bool],
          known: Known) -> Outcome:
    applied = 0
    obs = None
    obs_interest: frozenset[int] = frozenset()  # the releases `obs` was read for
    driver: Driver | None = None
    loaded: Loaded | None = None
    step: s.Step | None = None
    try:
        for _ in range(MAX_STEPS_PER_PASS):
            if applied and should_stop():
                return Outcome(after=0.0, ok=True, steps=applied)
            step = None
            loaded = load_desired(db, claim.app_id, claim.environment_id)
            db.commit()
            d = loaded.desired
            step = before_observing(d)
            if step is None:
                if driver is None:
                    driver = driver_for(loaded.env)
                interest = frozenset(r.id for r in releases_of_interest(d))
                if obs is not None and not interest <= obs_interest:
                    # a request arrived mid-pass (a rollback, a new deploy): what this pass saw was
                    # read for other releases (their task definitions above all), so read afresh
                    obs = None
                if obs is None:
                    obs_interest = interest
                    obs = observe_tasks(driver, d, observe(driver, d, loaded.task_definitions, policy, known))
                    with fenced(db, claim):
                        w.record_observation(db, claim.app_id, claim.environment_id, summary(d, obs))
                step = plan(d, obs, policy, clock.now())
            if on_step:
                on_step(step)
            log.debug("plan %s: %s", claim.key, step)
            if isinstance(step, (s.Wait, s.Idle)):
                if isinstance(step, s.Wait):
                    _record_wait(db, claim, d, step)
                return outcome.after_step(step, applied)
            try:
                call = _apply(db, claim, _context(claim, loaded, worker), step, driver)
            finally:
                known.after_step(step, None)  # sent or not, what it touches is read again
            if call is not None:
                known.after_step(step, call)  # weights paas just set are known
            if obs is not None and call is not None:
                if isinstance(step, s.RegisterTaskDefinition) and call.result.get("arn"):
                    key = f"{step.spec.family}:{step.release}"
                    obs = replace(obs, task_definitions={**obs.task_definitions, key: call.result["arn"]})
                obs = refresh_after(driver, d, obs, step, call)  # re-read only what the step changed
            applied += 1
        return outcome.after_step(s.Step("step budget of one pass used"), applied)
    except Exception as e:
        known.failed = True  # keep nothing from a pass that went wrong
        db.rollback()
        d = loaded.desired if loaded is not None else None
        out = outcome.after_error(e, d, claim.attempts, policy, clock.now(), applied)
        if out.end_deployment:
            _end_in_flight(db, claim, d, out, step, getattr(e, "request_id", None))
        if not isinstance(e, (LeaseLost, PermanentError, TransientError)):
            # a traceback the first time; after that one line per attempt (a poison request must
            # not flood the logs while it is retried with growing backoff)
            fields = {"fields": {"key": claim.key, "attempts": claim.attempts, "error": out.error,
                                 "retry_in": round(out.after, 1), "ended": out.end_deployment}}
            if claim.attempts <= 1:
                log.exception("reconcile pass failed", extra=fields)
            else:
                log.warning("reconcile pass failed again", extra=fields)
        return out
