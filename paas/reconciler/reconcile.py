"""reconcile_once: the one place that touches the database, the planner and the driver together.

One pass for one claimed app+environment: load desired state, observe AWS, plan, apply the
first unfinished step, record it, and repeat while steps complete synchronously; stop at a
Wait (AWS converging, a bake window) or Idle. Every write is fenced by the claim's token, and
an AWS call is made while the queue row is held in SHARE mode, so a worker whose lease was
rescued can neither act nor record (DESIGN.md §2).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable

from paas.aws.driver import Call, Driver
from paas.db import queue
from paas.db.events import event
from paas.db.sql import Db, jsonb
from paas.domain.errors import LeaseLost, PermanentError, TransientError
from paas.planner import steps as s
from paas.planner.desired import Desired, Policy
from paas.planner.plan import before_observing, plan
from paas.reconciler.load import load_desired
from paas.reconciler.observe import observe, refresh_after, summary
from paas.reconciler.outcome import IDLE_BACKSTOP, Outcome, backoff

log = logging.getLogger("paas.reconciler")

MAX_STEPS_PER_PASS = 25
DB_ONLY = (s.StartDeployment, s.SupersedeActive, s.BeginRollback, s.Finish, s.MarkKnownGood, s.ChooseColours,
           s.GcChecked)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _token(*parts: object, limit: int = 64) -> str:
    """Idempotency tokens derive from deployment id + step: [A-Za-z0-9-], bounded length."""
    import hashlib

    raw = "-".join(str(p) for p in parts)
    if len(raw) <= limit and all(c.isalnum() or c == "-" for c in raw):
        return raw
    return f"{parts[0]}-{hashlib.sha256(raw.encode()).hexdigest()[: limit - len(str(parts[0])) - 1]}"


def _keep_recent(tds: dict[str, str], per_family: int = 20) -> dict[str, str]:
    """The task-definition cache keeps each family's newest releases (a rollback may need them)."""
    by_family: dict[str, list[tuple[int, str]]] = {}
    for key in tds:
        fam, _, ver = key.rpartition(":")
        by_family.setdefault(fam, []).append((int(ver) if ver.isdigit() else 0, key))
    keep = {k for items in by_family.values() for _, k in sorted(items)[-per_family:]}
    return {k: v for k, v in tds.items() if k in keep}


def _event_target(d: Desired) -> int | None:
    return d.active.id if d.active else d.current_deployment_id


def _record_observation(db: Db, claim: queue.Claim, d: Desired, data: dict) -> None:
    with db.transaction():
        queue.fence(db, claim)
        db.execute(
            """
            INSERT INTO observations (app_id, environment_id, data, observed_at)
            VALUES (%(a)s, %(e)s, %(d)s::jsonb, now())
            ON CONFLICT (app_id, environment_id) DO UPDATE
               SET data = EXCLUDED.data || jsonb_strip_nulls(jsonb_build_object('gc', observations.data->'gc')),
                   observed_at = now()
            """,
            a=claim.app_id, e=claim.environment_id, d=jsonb(data),
        )


def _apply_db_step(db: Db, claim: queue.Claim, d: Desired, step: s.Step, worker: str) -> None:
    tok = claim.token
    if isinstance(step, s.StartDeployment):
        n = db.execute("UPDATE deployments SET state = 'in_progress', started_at = now() "
                       "WHERE id = %(i)s AND state = 'pending'", i=step.deployment_id)
        if n:
            event(db, step.deployment_id, "started", f"started by worker {worker}", token=tok,
                  data={"worker": worker})
    elif isinstance(step, s.SupersedeActive):
        db.execute("UPDATE deployments SET state = 'superseded', finished_at = now(), superseded_by_id = %(b)s "
                   "WHERE id = %(i)s AND state = 'in_progress'", i=step.deployment_id, b=step.by_id)
        event(db, step.deployment_id, "superseded", step.reason, token=tok, data={"superseded_by": step.by_id})
    elif isinstance(step, s.ChooseColours):
        assert d.active is not None
        db.execute("UPDATE deployments SET options = options || %(o)s::jsonb WHERE id = %(i)s",
                   i=d.active.id, o=jsonb({"colours": step.colours}))
        event(db, d.active.id, "colours", step.reason, token=tok, data={"colours": step.colours})
    elif isinstance(step, s.BeginRollback):
        assert d.active is not None
        db.execute(
            "UPDATE deployments SET options = options || %(o)s::jsonb WHERE id = %(i)s",
            i=d.active.id,
            o=jsonb({"rolling_back_to": step.to_release, "rollback_started_at": now_utc().isoformat(),
                     "rollback_reason": step.reason}),
        )
        event(db, d.active.id, "rollback_started", step.reason, token=tok,
              data={"to_release": step.to_release, "from_release": d.active.release.version})
    elif isinstance(step, s.Finish):
        dep = d.active
        rolled = dep is not None and dep.rolling_back
        db.execute(
            """
            UPDATE deployments SET state = %(st)s, finished_at = now(), current_step = NULL,
                   error = %(err)s, rolled_back_from_id = %(rf)s, rolled_back_to_id = %(rt)s
             WHERE id = %(i)s AND state IN ('pending', 'in_progress')
            """,
            st=step.state, i=step.deployment_id,
            err=step.reason if step.state == "failed" else (dep.options.get("rollback_reason") if rolled else None),
            rf=dep.release.id if rolled else None, rt=dep.rollback_target.id if rolled else None,
        )
        event(db, step.deployment_id, "finished", step.reason, token=tok, data={"state": step.state})
    elif isinstance(step, s.GcChecked):  # the GC bookkeeping lives in the observation record
        db.execute("UPDATE observations SET data = jsonb_set(data, '{gc}', COALESCE(data->'gc', '{}'::jsonb) "
                   "|| %(g)s::jsonb) WHERE app_id = %(a)s AND environment_id = %(e)s",
                   g=jsonb(step.state), a=claim.app_id, e=claim.environment_id)
    elif isinstance(step, s.MarkKnownGood):
        db.execute("UPDATE releases SET known_good_at = now() WHERE id = %(i)s AND known_good_at IS NULL",
                   i=step.release_id)
        target = _event_target(d)
        if target:
            event(db, target, "known_good", step.reason, token=tok, data={"release": step.version})


def _call_aws(driver: Driver, d: Desired, step: s.Step) -> Call:
    dep = d.active.id if d.active else f"steady{d.current_deployment_id or 0}"
    if isinstance(step, s.ApplyStack):
        return driver.apply_stack(step.spec, _token(f"paas{dep}", step.spec.template_hash, limit=128))
    if isinstance(step, s.ContinueStackRollback):
        return driver.continue_update_rollback(step.name, _token(f"paas{dep}", "continue", now_utc().strftime("%H%M%S")))
    if isinstance(step, s.RegisterTaskDefinition):
        return driver.register_task_definition(step.spec)
    if isinstance(step, s.CreateService):
        return driver.create_service(step.spec, _token(dep, step.spec.name, limit=36))
    if isinstance(step, s.UpdateService):
        return driver.update_service(step.spec)
    if isinstance(step, s.ShiftTraffic):
        return driver.set_weights(step.rule_arn, step.weights)
    if isinstance(step, s.DeregisterTaskDefinition):
        return driver.deregister_task_definition(step.arn)
    if isinstance(step, s.ScaleService):
        return driver.scale_service(step.cluster, step.name, step.desired)
    raise AssertionError(f"no AWS call for {step!r}")


def _apply_aws_step(db: Db, claim: queue.Claim, d: Desired, step: s.Step, driver: Driver,
                    td_cache: dict[str, str]) -> None:
    """Hold the fence across the call so no other worker can act on this app+environment meanwhile."""
    with db.transaction():
        queue.fence(db, claim)
        call = _call_aws(driver, d, step)
        if isinstance(step, s.RegisterTaskDefinition) and call.result.get("arn"):
            td_cache[f"{step.spec.family}:{step.release}"] = call.result["arn"]
        if isinstance(step, s.DeregisterTaskDefinition):  # never reuse a deregistered revision
            for key in [k for k, arn in td_cache.items() if arn == step.arn]:
                del td_cache[key]
        target = _event_target(d)
        if target:
            kind = "gc" if getattr(step, "gc", False) else (
                "drift" if isinstance(step, s.UpdateService) and step.drift else "step")
            event(db, target, kind, step.reason, step=step.key, request_id=call.request_id, token=claim.token,
                  data={"operation": call.operation, **{k: v for k, v in call.result.items() if k != "raw"}})
        if d.active:
            db.execute("UPDATE deployments SET current_step = %(s)s WHERE id = %(i)s", s=step.key, i=d.active.id)
        if isinstance(step, s.ShiftTraffic):
            _record_shift(db, claim, d, step)


def _record_shift(db: Db, claim: queue.Claim, d: Desired, step: s.ShiftTraffic) -> None:
    """Evidence for every promotion and every take-out stays in the timeline for good."""
    assert d.active is not None
    data: dict = {"process": step.process, "percent": step.percent, "weights": step.weights}
    if step.evidence:
        data["evidence"] = step.evidence
        canary = step.evidence.get("gate", {}).get("canary") or {}
        if step.rollback_to is not None and canary.get("end"):
            # `end` is when the worker read the breaching sample; the datapoint's own bucket
            # start is kept as evidence (with 60 s periods it says little about reaction time).
            data["breach_read_at"] = canary["end"]
            data["breach_datapoint_bucket"] = canary.get("last_datapoint")
            data["seconds_from_breach_read_to_weights_back"] = round(now_utc().timestamp() - float(canary["end"]), 3)
    if step.rollback_to is not None or step.fail_state:
        opts = {"rollback_started_at": now_utc().isoformat(), "rollback_reason": step.reason}
        if step.rollback_to is not None:
            opts["rolling_back_to"] = step.rollback_to
        if step.fail_state:
            opts["fail_state"] = step.fail_state
        db.execute("UPDATE deployments SET options = options || %(o)s::jsonb WHERE id = %(i)s",
                   i=d.active.id, o=jsonb(opts))
        event(db, d.active.id, "rollback_started", step.reason, token=claim.token, data=data)
    else:
        event(db, d.active.id, "traffic", step.reason, token=claim.token, data=data)


def _record_wait(db: Db, claim: queue.Claim, d: Desired, step: s.Wait) -> None:
    """A progress event only when what we are waiting for changed, so the timeline stays readable."""
    if d.active is None:
        return
    last = db.one(
        "SELECT message, data FROM deployment_events WHERE deployment_id = %(i)s AND kind = 'progress' "
        "ORDER BY id DESC LIMIT 1", i=d.active.id,
    )
    data = step.detail or {}
    kind = "gate" if "gate" in data else "progress"
    if kind == "progress" and last is not None and last.message == step.reason and last.data == data:
        return
    with db.transaction():
        queue.fence(db, claim)
        event(db, d.active.id, kind, step.reason, data=data, token=claim.token)


def _fail(db: Db, claim: queue.Claim, d: Desired, err: PermanentError, step: s.Step) -> None:
    with db.transaction():
        queue.fence(db, claim)
        target = _event_target(d)
        if target:
            event(db, target, "error", str(err), step=step.key, request_id=err.request_id, token=claim.token,
                  data={"permanent": True})
        if d.active:
            db.execute(
                """
                UPDATE deployments SET state = 'failed', finished_at = now(), error = %(e)s, current_step = NULL
                 WHERE id = %(i)s AND state = 'in_progress'
                """,
                e=str(err), i=d.active.id,
            )
            event(db, d.active.id, "finished", f"failed: {err}", token=claim.token, data={"state": "failed"})


def reconcile_once(db: Db, claim: queue.Claim, driver_for: Callable[[object], Driver], policy: Policy,
                   worker: str = "worker", on_step: Callable[[s.Step], None] | None = None,
                   should_stop: Callable[[], bool] = lambda: False) -> Outcome:
    """One pass; returns when AWS needs time, nothing is left, or `should_stop()` (SIGTERM)."""
    applied = 0
    obs = None
    driver: Driver | None = None
    try:
        for _ in range(MAX_STEPS_PER_PASS):
            if applied and should_stop():
                return Outcome(after=0.0, ok=True, steps=applied)
            d, extra = load_desired(db, claim.app_id, claim.environment_id)
            db.commit()
            if driver is None:
                driver = driver_for(extra["env_row"])
            td_cache = dict(extra["observation"].get("task_definitions", {}))
            early = before_observing(d)
            if early is not None:
                with db.transaction():
                    queue.fence(db, claim)
                    _apply_db_step(db, claim, d, early, worker)
                if on_step:
                    on_step(early)
                applied += 1
                continue
            if obs is None:
                obs = observe(driver, d, td_cache, policy)
                record = summary(d, obs)
                record["task_definitions"] = _keep_recent({**td_cache, **obs.task_definitions})
                _record_observation(db, claim, d, record)
            step = plan(d, obs, policy, now_utc())
            if on_step:
                on_step(step)
            log.debug("plan %s: %s", claim.key, step)
            if isinstance(step, s.Wait):
                _record_wait(db, claim, d, step)
                return Outcome(after=max(0.05, step.seconds), ok=True, steps=applied)
            if isinstance(step, s.Idle):
                return Outcome(after=step.seconds or IDLE_BACKSTOP, ok=True, steps=applied)
            try:
                if isinstance(step, DB_ONLY):
                    with db.transaction():
                        queue.fence(db, claim)
                        _apply_db_step(db, claim, d, step, worker)
                else:
                    _apply_aws_step(db, claim, d, step, driver, td_cache)
                    if isinstance(step, s.RegisterTaskDefinition):
                        key = f"{step.spec.family}:{step.release}"
                        if key in td_cache:
                            obs = replace(obs, task_definitions={**obs.task_definitions, key: td_cache[key]})
                    obs = refresh_after(driver, d, obs, step)  # re-read only what the step changed
                    if td_cache:
                        with db.transaction():
                            queue.fence(db, claim)
                            db.execute(
                                "UPDATE observations SET data = jsonb_set(data, '{task_definitions}', %(t)s::jsonb) "
                                "WHERE app_id = %(a)s AND environment_id = %(e)s",
                                t=jsonb(td_cache), a=claim.app_id, e=claim.environment_id,
                            )
            except PermanentError as e:
                _fail(db, claim, d, e, step)
                return Outcome(after=policy.poll_interval, ok=True, error=str(e), steps=applied)
            applied += 1
        return Outcome(after=0.0, ok=True, steps=applied)
    except LeaseLost as e:
        db.rollback()
        return Outcome(after=0.0, ok=False, error=str(e), steps=applied, lease_lost=True)
    except TransientError as e:
        db.rollback()
        return Outcome(after=max(e.delay, backoff(claim.attempts)), ok=False, error=str(e), steps=applied)
    except PermanentError as e:  # from observe: e.g. the cluster is gone or access denied
        db.rollback()
        d, _ = load_desired(db, claim.app_id, claim.environment_id)
        db.commit()
        _fail(db, claim, d, e, s.Idle("observe", None))
        if d.active is not None:  # the deployment failed: done
            return Outcome(after=policy.poll_interval, ok=True, error=str(e), steps=applied)
        # A steady app whose AWS side is broken: keep looking, ever less often (backoff grows).
        return Outcome(after=max(policy.poll_interval, backoff(claim.attempts)), ok=False, error=str(e),
                       steps=applied)
