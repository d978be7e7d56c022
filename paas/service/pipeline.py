"""`paas pipeline set`, `paas pipeline APP` and `paas approve`: declaring, reading and approving.

Declaring checks what paas.toml alone cannot: every stage names an environment that exists.
Showing runs the same pure plan the workers run (`paas.planner.pipeline`), so what the CLI says
a push waits for is what the worker waits for.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from paas.db import pipeline as pdb
from paas.db.sql import Db
from paas.domain import validate as v
from paas.domain.errors import NotFound, UserError
from paas.domain.pipeline import PipelineSpec, PushState
from paas.planner import pipeline as planner
from paas.service.catalog import get_app, require_app_env


def set_pipeline(db: Db, app_name: str, spec: PipelineSpec | None, *, actor: str) -> dict[str, Any]:
    v.actor(actor)
    if spec is None:
        raise UserError("paas.toml has no [pipeline] section")
    app = get_app(db, app_name)
    require_environments(db, spec)
    new = pdb.set_pipeline(db, app.id, spec, actor)
    return {"app": app.name, "created": new, "pipeline": spec.to_json()}


def require_environments(db: Db, spec: PipelineSpec) -> None:
    names = [s.environment for s in spec.stages]
    found = pdb.environment_ids(db, names)
    for n in names:
        if n not in found:
            raise UserError(f"paas.toml: pipeline stage {n!r} names no environment (see: paas env list)")


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _push_json(p: PushState, wait: str | None) -> dict[str, Any]:
    c = p.check
    return {
        "push_id": p.id, "tag": p.tag, "digest": p.digest, "image": p.image, "state": p.state,
        "seen_at": _iso(p.seen_at), "ended_at": _iso(p.ended_at), "end_reason": p.end_reason, "waiting_for": wait,
        "check": None if c is None else {
            "state": c.state, "exit_code": c.exit_code, "stop_code": c.stop_code, "stopped_reason": c.stopped_reason,
            "duration_seconds": c.duration_seconds, "started_at": _iso(c.started_at or c.created_at),
            "finished_at": _iso(c.finished_at), "log_tail": list(c.log_tail), "task_arn": c.task_arn},
        "promotions": [{"stage": pr.stage, "deployment_id": pr.deployment_id, "release_version": pr.release_version,
                        "deployment_state": pr.deployment_state, "known_good_at": _iso(pr.known_good_at)}
                       for pr in p.promotions],
    }


def show(db: Db, app_name: str, now: datetime | None = None) -> dict[str, Any]:
    """Each stage's release, what waits and why, the last failure."""
    app = get_app(db, app_name)
    st = pdb.load(db, app.id)
    if st is None:
        raise NotFound(f"{app.name} has no pipeline (declare one: paas pipeline set {app.name})")
    now = now or datetime.now(timezone.utc)
    p = planner.plan(st, now)
    stages = []
    for i, s in enumerate(st.spec.stages):
        env_id = st.stage_environment_ids[i]
        live_id = st.live.get(env_id) if env_id is not None else None
        current = None
        for x in st.pushes:
            for pr in x.promotions:
                if pr.release_id == live_id:
                    current = {"release_version": pr.release_version, "tag": x.tag, "digest": x.digest,
                               "deployment_id": pr.deployment_id, "known_good_at": _iso(pr.known_good_at)}
        live_version = pdb_live_version(db, app.id, env_id) if env_id is not None else None
        stages.append({
            "environment": s.environment, "strategy": s.strategy,
            "canary_steps": list(s.canary_steps) if s.canary_steps else None, "soak_seconds": s.soak_seconds,
            "approval": s.approval, "release_version": live_version, "pipeline_release": current,
            "waiting": [{"push_id": x.id, "tag": x.tag, "waiting_for": p.waits.get(x.id)} for x in st.pushes
                        if x.state == "active" and _next_stage(x) == i],
        })
    failures = [x for x in st.pushes if x.state == "failed"]
    last_failure = max(failures, key=lambda x: x.ended_at or x.seen_at) if failures else None
    return {
        "app": app.name, "repository": st.spec.repository, "tags": st.spec.tags,
        "test_command": st.spec.test_command, "stages": stages,
        "checking": [{"push_id": x.id, "tag": x.tag, "waiting_for": p.waits.get(x.id)} for x in st.pushes
                     if x.state == "active" and _next_stage(x) == -1],
        "pushes": [_push_json(x, p.waits.get(x.id)) for x in reversed(st.pushes)],
        "last_failure": None if last_failure is None else {
            "push_id": last_failure.id, "tag": last_failure.tag, "digest": last_failure.digest,
            "reason": last_failure.end_reason, "at": _iso(last_failure.ended_at),
            "log_tail": list(last_failure.check.log_tail) if last_failure.check and
            last_failure.check.state == "failed" else []},
    }


def _next_stage(x: PushState) -> int:
    """-1 while its checks are not passed, else the stage it waits for or is deploying to."""
    if x.check is None or x.check.state != "passed":
        return -1
    last = x.promotion(x.progress - 1) if x.progress else None
    if last is not None and last.deployment_state in ("pending", "in_progress"):
        return last.stage
    return x.progress


def pdb_live_version(db: Db, app_id: int, env_id: int) -> int | None:
    from paas.db import reads

    live = reads.live(db, app_id, env_id)
    return live.release_version if live else None


def approve(db: Db, app_name: str, env_name: str, version: str, *, actor: str) -> dict[str, Any]:
    """`paas approve APP --env ENV vN`: vN is the release waiting in the stage before ENV (as
    `paas pipeline APP` shows it), or for a first stage that asks for approval, the pushed tag."""
    v.actor(actor)
    app, env = require_app_env(db, app_name, env_name)
    spec = pdb.spec_of(db, app.id)
    if spec is None:
        raise UserError(f"{app.name} has no pipeline")
    k = spec.stage_index(env.name)
    if k is None:
        raise UserError(f"{env.name} is not a stage of {app.name}'s pipeline")
    if not spec.stages[k].approval:
        raise UserError(f"stage {env.name} of {app.name}'s pipeline asks for no approval")
    st = pdb.load(db, app.id)
    push = None
    if k == 0:
        push = next((x for x in st.pushes if x.state == "active" and (x.tag == version or x.digest == version)), None)
    else:
        m = version[1:] if version.startswith("v") else version
        if not m.isdigit() or len(m) > 9:
            raise UserError(f"invalid release {v.show(version)}: expected vN, the release waiting in "
                            f"{spec.stages[k - 1].environment}")
        up_env = st.stage_environment_ids[k - 1]
        push_id = pdb.push_for_release(db, app.id, up_env, int(m))
        push = next((x for x in st.pushes if x.id == push_id), None)
    if push is None or push.state != "active":
        raise UserError(f"nothing of {app.name} waits for approval to {env.name} as {version}")
    new = pdb.approve(db, push.id, env.id, actor)
    pdb.make_due(db, app.id)
    return {"app": app.name, "environment": env.name, "release": version, "push_id": push.id, "tag": push.tag,
            "digest": push.digest, "approver": actor, "already_approved": not new}
