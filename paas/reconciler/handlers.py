"""One handler per step type: the AWS request it sends (if any) and what it records.

`HANDLERS` is the only table from step type to behaviour. A handler's `call` runs outside any
database transaction (the send guard in `paas.aws.guard` stops it once the lease may have
expired); its `record` runs inside one fenced transaction, so a worker whose lease was taken
over records nothing. Idempotency tokens derive from deployment id + step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from paas import clock
from paas.aws.driver import Call, Driver
from paas.db import deployment_writes as w
from paas.db.sql import Db
from paas.planner import steps as s
from paas.planner.desired import Desired


@dataclass(frozen=True)
class Context:
    """What a handler may use: the claim's identity, the desired state the step was planned from."""

    app_id: int
    env_id: int
    token: int
    worker: str
    d: Desired
    gc_request_id: int | None = None

    @property
    def event_target(self) -> int | None:
        """Steady-state steps (drift, GC, known-good) are recorded on the live deployment."""
        return self.d.active.id if self.d.active else self.d.current_deployment_id


@dataclass(frozen=True)
class Handler:
    record: Callable[[Db, Context, s.Step, Call | None], None]
    call: Callable[[Driver, Context, s.Step], Call] | None = None


def token(*parts: object, limit: int = 64) -> str:
    """[A-Za-z0-9-], bounded length: what every AWS idempotency token accepts."""
    raw = "-".join(str(p) for p in parts)
    if len(raw) <= limit and all(c.isalnum() or c == "-" for c in raw):
        return raw
    return f"{parts[0]}-{hashlib.sha256(raw.encode()).hexdigest()[: limit - len(str(parts[0])) - 1]}"


def owner(ctx: Context, process: str | None = None) -> dict[str, str]:
    """The paas:* tags a resource this step changes must carry (the driver refuses otherwise)."""
    tags = {"paas:app": ctx.d.app, "paas:env": ctx.d.env.name}
    if process:
        tags["paas:process"] = process
    return tags


def _dep_key(ctx: Context) -> str:
    return str(ctx.d.active.id) if ctx.d.active else f"steady{ctx.d.current_deployment_id or 0}"


# --- database-only steps ------------------------------------------------------------------------

def _start(db: Db, ctx: Context, step: s.StartDeployment, call: Call | None) -> None:
    w.start(db, step.deployment_id, ctx.worker, ctx.token)


def _supersede(db: Db, ctx: Context, step: s.SupersedeActive, call: Call | None) -> None:
    w.supersede(db, step.deployment_id, step.by_id, step.reason, ctx.token)


def _colours(db: Db, ctx: Context, step: s.ChooseColours, call: Call | None) -> None:
    w.choose_colours(db, ctx.d.active.id, step.colours, step.reason, ctx.token)


def _begin_rollback(db: Db, ctx: Context, step: s.BeginRollback, call: Call | None) -> None:
    dep = ctx.d.active
    w.begin_rollback(db, dep.id, step.to_release, step.reason, ctx.token,
                     data={"to_release": step.to_release, "from_release": dep.release.version})


def _finish(db: Db, ctx: Context, step: s.Finish, call: Call | None) -> None:
    dep = ctx.d.active if ctx.d.active and ctx.d.active.id == step.deployment_id else None
    rolled = dep is not None and dep.rolling_back
    error = step.reason if step.state == "failed" else (dep.rollback_reason if rolled else None)
    w.finish(db, step.deployment_id, step.state, step.reason, ctx.token, error=error, rolled_back=rolled)


def _known_good(db: Db, ctx: Context, step: s.MarkKnownGood, call: Call | None) -> None:
    if w.mark_known_good(db, step.release_id) and ctx.event_target:
        w.event(db, ctx.event_target, "known_good", step.reason, token=ctx.token, data={"release": step.version})


def _gc_checked(db: Db, ctx: Context, step: s.GcChecked, call: Call | None) -> None:
    w.gc_checked(db, ctx.app_id, ctx.env_id, ctx.gc_request_id)


def _priorities(db: Db, ctx: Context, step: s.AllocateRulePriorities, call: Call | None) -> None:
    w.store_rule_priorities(db, ctx.app_id, ctx.env_id, step.listener_arn, step.priorities)
    if ctx.event_target:
        w.event(db, ctx.event_target, "routing", step.reason, token=ctx.token,
                data={"listener": step.listener_arn, "priorities": step.priorities})


def _release_priorities(db: Db, ctx: Context, step: s.ReleaseRulePriorities, call: Call | None) -> None:
    w.forget_rule_priorities(db, ctx.app_id, ctx.env_id, step.processes)
    if ctx.event_target:
        w.event(db, ctx.event_target, "routing", step.reason, token=ctx.token, data={"released": list(step.processes)})


# --- steps that send one AWS request ----------------------------------------------------------------

def _record_aws(db: Db, ctx: Context, step: s.Step, call: Call | None) -> None:
    assert call is not None
    if ctx.event_target:
        kind = "gc" if getattr(step, "gc", False) else (
            "drift" if getattr(step, "drift", False) else "step")
        w.event(db, ctx.event_target, kind, step.reason, step=step.key, request_id=call.request_id,
                token=ctx.token, data={"operation": call.operation,
                                       **{k: v for k, v in call.result.items() if k != "raw"}})
    if ctx.d.active:
        w.set_current_step(db, ctx.d.active.id, step.key)


def _record_task_definition(db: Db, ctx: Context, step: s.RegisterTaskDefinition, call: Call | None) -> None:
    _record_aws(db, ctx, step, call)
    if call is not None and call.result.get("arn"):
        w.record_task_definition(db, ctx.app_id, ctx.env_id, step.spec.family, step.release, call.result["arn"])


def _record_deregister(db: Db, ctx: Context, step: s.DeregisterTaskDefinition, call: Call | None) -> None:
    _record_aws(db, ctx, step, call)
    w.forget_task_definition(db, ctx.app_id, ctx.env_id, step.arn)


def _record_shift(db: Db, ctx: Context, step: s.ShiftTraffic, call: Call | None) -> None:
    """Evidence for every promotion and every take-out stays in the timeline for good."""
    _record_aws(db, ctx, step, call)
    dep = ctx.d.active
    data: dict = {"process": step.process, "percent": step.percent, "weights": step.weights}
    if step.evidence:
        data["evidence"] = step.evidence
        canary = step.evidence.get("gate", {}).get("canary") or {}
        if step.rollback_to is not None and canary.get("end"):
            # `end` is when the worker read the breaching sample; the datapoint's own bucket
            # start is kept as evidence (with 60 s periods it says little about reaction time).
            data["breach_read_at"] = canary["end"]
            data["breach_datapoint_bucket"] = canary.get("last_datapoint")
            now = clock.time()  # the breach was read on the clock the metrics are stamped with
            data["seconds_from_breach_read_to_weights_back"] = round(now - float(canary["end"]), 3)
    if step.rollback_to is not None or step.fail_state:
        w.begin_rollback(db, dep.id, step.rollback_to, step.reason, ctx.token, end_state=step.fail_state, data=data)
    else:
        w.event(db, dep.id, "traffic", step.reason, token=ctx.token, data=data)


def _call_stack(drv: Driver, ctx: Context, step: s.ApplyStack) -> Call:
    return drv.apply_stack(step.spec, token(f"paas{_dep_key(ctx)}", step.spec.template_hash, limit=128))


def _call_continue(drv: Driver, ctx: Context, step: s.ContinueStackRollback) -> Call:
    now = datetime.now(timezone.utc).strftime("%H%M%S")
    return drv.continue_update_rollback(step.name, token(f"paas{_dep_key(ctx)}", "continue", now), owner=owner(ctx))


HANDLERS: dict[type[s.Step], Handler] = {
    s.StartDeployment: Handler(_start),
    s.SupersedeActive: Handler(_supersede),
    s.ChooseColours: Handler(_colours),
    s.BeginRollback: Handler(_begin_rollback),
    s.Finish: Handler(_finish),
    s.MarkKnownGood: Handler(_known_good),
    s.GcChecked: Handler(_gc_checked),
    s.AllocateRulePriorities: Handler(_priorities),
    s.ReleaseRulePriorities: Handler(_release_priorities),
    s.ApplyStack: Handler(_record_aws, _call_stack),
    s.ContinueStackRollback: Handler(_record_aws, _call_continue),
    s.RegisterTaskDefinition: Handler(_record_task_definition,
                                      lambda drv, ctx, st: drv.register_task_definition(st.spec)),
    s.CreateService: Handler(_record_aws, lambda drv, ctx, st: drv.create_service(
        st.spec, token(_dep_key(ctx), st.spec.name, limit=36))),
    s.UpdateService: Handler(_record_aws, lambda drv, ctx, st: drv.update_service(st.spec)),
    s.ScaleService: Handler(_record_aws, lambda drv, ctx, st: drv.scale_service(
        st.cluster, st.name, st.desired, owner=owner(ctx, st.process))),
    s.ShiftTraffic: Handler(_record_shift, lambda drv, ctx, st: drv.set_weights(
        st.rule_arn, st.weights, owner=owner(ctx, st.process))),
    s.RevertTrafficDrift: Handler(_record_aws, lambda drv, ctx, st: drv.set_weights(
        st.rule_arn, st.weights, owner=owner(ctx, st.process))),
    s.DeregisterTaskDefinition: Handler(_record_deregister, lambda drv, ctx, st: drv.deregister_task_definition(
        st.arn, owner=owner(ctx))),
}
