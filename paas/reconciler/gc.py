"""`paas gc --dry-run`: what garbage collection would remove now and why, without acting.

The same desired state, observation and pure decision (`planner.gc.gc_report`) the worker
uses, plus a ListTaskDefinitions per family, read through the environment's driver. Only the
worker acts.
"""

from __future__ import annotations

from paas import clock

from typing import Any

from paas.db.sql import Db
from paas.planner import gc
from paas.planner.strategies.common import live_colour
from paas.reconciler.drivers import driver_for
from paas.reconciler.load import load_desired
from paas.reconciler.observe import observe


def preview(db: Db, app_id: int, env_id: int) -> dict[str, Any]:
    from paas.reconciler.worker import policy_from_settings

    policy = policy_from_settings()
    loaded = load_desired(db, app_id, env_id)
    d = loaded.desired
    gp = gc.policy_for(d.app_type, d.gc_overrides, policy.gc_settings)
    out: dict[str, Any] = {"app": d.app, "environment": d.env.name, "app_type": d.app_type,
                           "policy": gp.to_json(), "overrides": d.gc_overrides, "runs_now": False,
                           "waiting_for": None, "remove": [], "keep": [],
                           "last_checked_at": (d.gc_state or {}).get("checked_at")}
    if d.current is None:
        out["waiting_for"] = "nothing deployed yet"
        return out
    if d.active is not None or d.pending is not None:
        dep = d.active or d.pending
        out["waiting_for"] = f"deployment {dep.id} (v{dep.release.version}) to finish"
    elif not d.current.known_good:
        out["waiting_for"] = f"v{d.current.version} to become known-good"
    else:
        out["runs_now"] = True
    driver = driver_for(loaded.env)
    obs = observe(driver, d, loaded.task_definitions)
    registered = {f: driver.list_task_definitions(f) for f in gc.families(d)}
    live = {p: live_colour(d, obs, p) for p in d.current.processes}
    rep = gc.gc_report(d, obs, gp, clock.now(), registered, live)
    out["remove"] = [a.to_json() for a in rep.actions]
    out["keep"] = [k.to_json() for k in rep.kept]
    out["registered"] = registered
    return out
