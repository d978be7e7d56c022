"""Canary: the new release on the idle colour takes each step's share of traffic (default 10%,
then 100%) and must pass the metric gate for the step's bake time before the next shift.

A breach takes the canary out in one ModifyRule and rolls the deployment back; too little
traffic is inconclusive and fails at the step's deadline; `--pause-at` holds a step until
`paas promote`. Worker processes follow the blue-green recipe.
"""

from __future__ import annotations

from datetime import datetime

from paas.domain.observed import Observed
from paas.domain.specs import other
from paas.planner import steps as s
from paas.planner.desired import DeploymentSpec, Desired, Policy
from paas.planner.gate import evaluate
from paas.planner.strategies import bluegreen, common


def steps_of(dep: DeploymentSpec) -> list[int]:
    return list(dep.canary_steps or dep.release.manifest.strategy.canary_steps)


def web_processes(dep: DeploymentSpec) -> list[str]:
    return [p for p in dep.release.processes
            if (proc := dep.release.manifest.processes.get(p)) is not None and proc.is_web]


def gate_step(d: Desired, dep: DeploymentSpec, obs: Observed, policy: Policy, now: datetime,
              p: str, weight: int) -> tuple[s.Step | None, dict]:
    """Judge the step the canary is at; (None, evidence) once it passed its bake and may move on."""
    t = dep.release.manifest.strategy
    bake = float(dep.bake_seconds or t.bake_seconds or policy.bake)
    deadline = float(dep.step_deadline_seconds or t.step_deadline_seconds or policy.rollout_deadline)
    shifted_at = dep.applied.get(f"ShiftTraffic:{p}:{weight}")
    if shifted_at is None:  # the shift was made by an earlier worker whose event was lost: restart the clock
        shifted_at = now
    elapsed = (now - shifted_at).total_seconds()
    infra = obs.stack.infra[p]
    new = bluegreen.new_colour(dep, p)
    verdict = evaluate(obs.metrics.get(infra.target_group(new) or ""),
                       obs.metrics.get(infra.target_group(other(new)) or ""), t)
    evidence = {"gate": verdict.to_json(), "step_percent": weight, "elapsed_s": round(elapsed, 1),
                "bake_s": bake, "deadline_s": deadline, "window_start": shifted_at.isoformat()}
    if verdict.verdict == "breach":
        return evidence_and(evidence, bluegreen.shift(
            d, dep, obs, p, 0, rollback_to=d.current.version if d.current else None, evidence=evidence,
            reason=f"canary gate breached at {weight}%: {'; '.join(verdict.reasons)}",
        ))
    if verdict.verdict == "inconclusive" and elapsed > deadline:
        return evidence_and(evidence, bluegreen.shift(
            d, dep, obs, p, 0, rollback_to=d.current.version if d.current else None, evidence=evidence,
            fail_state="failed",
            reason=f"canary inconclusive at {weight}% after {deadline:.0f}s: {'; '.join(verdict.reasons)}",
        ))
    if verdict.verdict == "inconclusive" or elapsed < bake:
        what = "baking" if verdict.verdict == "pass" else "inconclusive"
        if elapsed < bake:
            text = f"canary at {weight}%: baking, {elapsed:.0f}s of {bake:.0f}s" + (
                f" ({'; '.join(verdict.reasons)})" if what == "inconclusive" else "")
        else:  # the bake window is over but the gate cannot decide: wait for traffic until the deadline
            text = (f"canary at {weight}%: inconclusive after {elapsed:.0f}s ({'; '.join(verdict.reasons)}); "
                    f"the step fails at {deadline:.0f}s")
        return s.Wait(text, policy.poll_interval, evidence, topic=f"canary {p} at {weight}%: {what}"), evidence
    # ALB metrics come in periods and arrive late: the bake passes only once a datapoint whose
    # period reaches the bake window's end has been read (the last minute may still be missing)
    window = obs.metrics.get(infra.target_group(new) or "")
    bake_end = shifted_at.timestamp() + bake
    if window is None or window.last_datapoint is None or window.last_datapoint + policy.metric_period < bake_end:
        return s.Wait(f"canary at {weight}%: waiting for the metrics of the bake window's last period",
                      policy.poll_interval, evidence, topic=f"canary {p} at {weight}%: late metrics"), evidence
    if dep.pause_at == weight and not dep.promote_requested:
        return s.Wait(f"canary paused at {weight}%: gate passed; run `paas promote {d.app}` to continue",
                      policy.poll_interval, evidence), evidence
    return None, evidence


def evidence_and(evidence: dict, step: s.Step | None) -> tuple[s.Step | None, dict]:
    return step, evidence


def plan(d: Desired, dep: DeploymentSpec, obs: Observed, policy: Policy, now: datetime) -> s.Step:
    webs = web_processes(dep)
    if not webs:
        return bluegreen.plan(d, dep, obs, policy, now)
    step = bluegreen.choose_colours(d, dep, obs)
    if step is not None:
        return step
    if dep.rolling_back:
        return bluegreen.revert(d, dep, obs, policy)
    if dep.cancel_requested or dep.abort_requested:
        return common.failure(d, dep, "cancelled by request" if dep.cancel_requested else "aborted by request")
    step = bluegreen.start_new_colour(d, dep, obs, policy, now)
    if step is not None:
        return step
    if d.current is None:  # nothing to compare with or fall back to: a plain cut-over
        return bluegreen.plan(d, dep, obs, policy, now)
    steps = steps_of(dep)
    for p in webs:
        weight = common.weight_of(obs, d, p, bluegreen.new_colour(dep, p)) or 0
        if weight >= 100:
            continue
        if weight == 0:
            return bluegreen.shift(d, dep, obs, p, steps[0], reason=f"canary: shift {steps[0]}% of {p} to "
                                   f"v{dep.release.version}") or s.Wait("no listener rule yet", policy.poll_interval)
        current_step = max([x for x in steps if x <= weight] or [steps[0]])
        step, evidence = gate_step(d, dep, obs, policy, now, p, current_step)
        if step is not None:
            return step
        nxt = next(x for x in steps if x > current_step)
        return bluegreen.shift(d, dep, obs, p, nxt, evidence=evidence,
                               reason=f"canary gate passed at {current_step}%: shift to {nxt}%") \
            or s.Wait("shifting", policy.poll_interval)
    step = bluegreen.retire_old_workers(d, dep, obs)
    if step is not None:
        return step
    return s.Finish(f"canary promoted: v{dep.release.version} serves 100%; the previous colour stays up "
                    "for instant rollback", dep.id, "succeeded")


def metric_window_start(dep: DeploymentSpec, obs: Observed, d: Desired) -> dict[str, datetime]:
    """Per web process, when the canary's current step began (for the observer's metric query)."""
    out = {}
    for p in web_processes(dep):
        w = common.weight_of(obs, d, p, bluegreen.new_colour(dep, p)) or 0
        if 0 < w < 100:
            steps = steps_of(dep)
            cur = max([x for x in steps if x <= w] or [steps[0]])
            at = dep.applied.get(f"ShiftTraffic:{p}:{cur}")
            if at is not None:
                out[p] = at
    return out
