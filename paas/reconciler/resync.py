"""Periodic resync of steady apps, one environment at a time, at a cost that does not grow per app.

One query reads what every steady service in the environment should run (from the last
observation and the current release), DescribeServices checks them ten at a time (AWS's
limit), and a fixed number of statements record the results: observations refreshed, drift
recorded as an event on the app's current deployment, and drifted apps queued so their own
reconcile reverts the change. Listener weights are checked too (DescribeRules, twenty rules a
call): a weight moved by hand, or by a request a frozen worker sent late, is drift like any
other. No CloudFormation or CloudWatch call is made here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from paas.aws.driver import Driver
from paas.db import resync as store
from paas.db.records import EnvironmentRecord
from paas.db.resync import claim_environment  # noqa: F401  (the worker's entry point)
from paas.db.sql import Db
from paas.domain.specs import family
from paas.planner.desired import reusable_task_version

log = logging.getLogger("paas.resync")


@dataclass
class ResyncResult:
    services: int = 0
    drifted: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _expected(env_name: str, apps: list[store.SteadyApp], tds: dict[tuple[int, str], str]) -> dict[str, dict]:
    """service name → what it should be running, from the last observation of each steady app."""
    out: dict[str, dict] = {}
    for r in apps:
        task_version = reusable_task_version(r.formation, r.source_version, r.source_formation) or r.version
        for proc, want in (r.formation or {}).items():
            pobs = (r.observation or {}).get("processes", {}).get(proc, {})
            colour = pobs.get("active_colour", "blue")
            svc = (pobs.get("colours", {}).get(colour) or {}).get("service") or f"{r.app}-{proc}-{colour}"
            td = tds.get((r.app_id, f"{family(r.app, env_name, proc)}:{task_version}"))
            if td is None:
                continue  # never observed: the app's own reconcile handles it
            out[svc] = {"app_id": r.app_id, "app": r.app, "deployment_id": r.deployment_id, "process": proc,
                        "colour": colour, "task_definition": td, "count": int(want.get("count", 0)),
                        "version": r.version, "rule_arn": pobs.get("rule_arn"),
                        "target_groups": pobs.get("target_groups") or {}}
    return out


def _weights_drift(want: dict, have: dict[str, int] | None) -> str | None:
    """A steady web process's rule sends all traffic to its live colour, or it drifted."""
    tgs = want["target_groups"]
    live = tgs.get(want["colour"])
    if not live or have is None:
        return None
    expected = {arn: (100 if c == want["colour"] else 0) for c, arn in tgs.items() if arn}
    if {k: have.get(k, 0) for k in expected} == expected and not any(
            w for k, w in have.items() if k not in expected):
        return None
    shown = ", ".join(f"{c} {have.get(arn, 0)}%" for c, arn in sorted(tgs.items()) if arn)
    return f"listener weights {shown} (expected {want['colour']} 100%)"


def resync_environment(db: Db, env: EnvironmentRecord, driver: Driver) -> ResyncResult:
    apps, tds = store.steady_apps(db, env.id)
    db.commit()
    expected = _expected(env.name, apps, tds)
    res = ResyncResult(services=len(expected))
    if not expected:
        return res
    seen = driver.describe_services(env.cluster, sorted(expected))
    rules = sorted({w["rule_arn"] for w in expected.values() if w.get("rule_arn")})
    weights = driver.rule_weights(rules) if rules else {}  # DescribeRules, 20 rules a call
    counts: dict[int, dict] = {}
    for name, want in expected.items():
        svc = seen.get(name)
        if svc is None or svc.status != "ACTIVE":
            res.missing.append(name)
            res.drifted.append({**want, "service": name, "what": "service missing"})
            continue
        diffs = []
        if svc.task_definition != want["task_definition"]:
            diffs.append(f"task definition {svc.task_definition.rsplit('/', 1)[-1]} "
                         f"(expected {want['task_definition'].rsplit('/', 1)[-1]})")
        if svc.desired != want["count"]:
            diffs.append(f"desired count {svc.desired} (expected {want['count']})")
        if want.get("rule_arn"):
            w = _weights_drift(want, weights.get(want["rule_arn"]))
            if w:
                diffs.append(w)
        if diffs:
            res.drifted.append({**want, "service": name, "what": "; ".join(diffs)})
        counts.setdefault(want["app_id"], {})[want["process"]] = {
            "running_count": svc.running, "desired_count": svc.desired}

    store.record(db, env.id, counts, res.drifted)  # a fixed number of statements
    if res.drifted:
        log.info("drift found", extra={"fields": {"environment": env.name, "drifted": len(res.drifted)}})
    return res
