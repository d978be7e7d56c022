"""The planner on plain data: no database, no AWS, no fakes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from paas.domain.manifest import StrategyDefaults, default_manifest
from paas.domain.observed import MetricWindow, Observed, ServiceDeployment, ServiceState, StackState, TargetHealth
from paas.domain.specs import ProcessInfra
from paas.planner import build
from paas.planner import steps as s
from paas.planner.desired import DeploymentSpec, Desired, EnvSpec, Policy, ReleaseSpec
from paas.planner.gate import evaluate
from paas.planner.plan import plan

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
POLICY = Policy(poll_interval=1, stack_poll=1, rollout_deadline=60, bake=10)
ENV = EnvSpec(1, "dev", "us-east-1", "c1", "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/lb/1/2", "vpc-1",
              ("subnet-1",), ("sg-1",))
TG = {"blue": "arn:tg/blue", "green": "arn:tg/green"}
RULE = "arn:rule/1"


def release(version: int, image: str = "shop:1", known_good: bool = False, count: int = 2) -> ReleaseSpec:
    m = default_manifest("web")
    return ReleaseSpec(id=version, version=version, image=image, digest=None, vars={}, secrets={},
                       formation={"web": {"count": count, "cpu": 256, "memory": 512}}, manifest=m,
                       known_good=known_good)


def deployment(rel: ReleaseSpec, strategy="rolling", *, dep_id=10, rollback_target=None,
               started=NOW - timedelta(seconds=5), applied=None, **typed) -> DeploymentSpec:
    return DeploymentSpec(dep_id, "in_progress", strategy, started, started, rel, rollback_target, applied or {},
                          **typed)


def desired(active=None, pending=None, current=None, known_good=None, finished=None,
            priorities=None) -> Desired:
    return Desired(app="shop", app_id=1, app_type="web", env=ENV, active=active, pending=pending, current=current,
                   current_deployment_id=1 if current else None, current_finished_at=finished,
                   known_good=known_good, rule_priorities={"web": 100} if priorities is None else priorities)


def stack_for(d: Desired, rel: ReleaseSpec, status="CREATE_COMPLETE") -> StackState:
    spec = build.stack_spec(d, rel)
    return StackState(spec.name, status, spec.template_hash,
                      infra={"web": ProcessInfra(TG["blue"], TG["green"], RULE)},
                      outputs={"LogGroupName": "/paas/dev/shop"})


def svc(colour: str, td: str, desired_n: int, running: int, rollout="COMPLETED") -> ServiceState:
    dep = ServiceDeployment("PRIMARY", td, desired_n, running, 0, 0, rollout)
    return ServiceState(f"shop-web-{colour}", "ACTIVE", td, desired_n, running, 0, (dep,), TG[colour])


def observed(d, rel, services=(), healthy=None, weights=None, tds=None, metrics=None, stack=True) -> Observed:
    return Observed(
        stack=stack_for(d, rel) if stack else None,
        services={x.name: x for x in services},
        targets={TG[c]: TargetHealth(n, 0, n) for c, n in (healthy or {}).items()},
        weights={RULE: {TG[c]: w for c, w in (weights or {"blue": 100, "green": 0}).items()}},
        task_definitions=tds or {}, at=NOW, metrics=metrics or {},
    )


def td(v: int) -> str:
    return f"arn:aws:ecs:us-east-1:1:task-definition/shop-dev-web:{v}"


def key(v: int) -> str:
    return f"shop-dev-web:{v}"


# --- rolling --------------------------------------------------------------------------------

def test_rolling_walks_stack_then_task_definition_then_service_then_waits():
    v2 = release(2)
    d = desired(active=deployment(v2))
    assert isinstance(plan(d, observed(d, v2, stack=False), POLICY, NOW), s.ApplyStack)
    assert isinstance(plan(d, observed(d, v2), POLICY, NOW), s.RegisterTaskDefinition)
    step = plan(d, observed(d, v2, tds={key(2): td(2)}), POLICY, NOW)
    assert isinstance(step, s.CreateService) and step.spec.desired_count == 2
    assert step.spec.target_group_arn == TG["blue"]
    o = observed(d, v2, [svc("blue", td(1), 2, 2)], {"blue": 2}, tds={key(2): td(2)})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.UpdateService) and step.spec.task_definition == td(2)
    o = observed(d, v2, [svc("blue", td(2), 2, 1, "IN_PROGRESS")], {"blue": 1}, tds={key(2): td(2)})
    assert isinstance(plan(d, o, POLICY, NOW), s.Wait)
    o = observed(d, v2, [svc("blue", td(2), 2, 2)], {"blue": 2}, tds={key(2): td(2)})
    fin = plan(d, o, POLICY, NOW)
    assert isinstance(fin, s.Finish) and fin.state == "succeeded"


def test_running_but_unhealthy_targets_is_not_stable():
    v2 = release(2)
    d = desired(active=deployment(v2))
    o = observed(d, v2, [svc("blue", td(2), 2, 2)], {"blue": 1}, tds={key(2): td(2)})
    assert isinstance(plan(d, o, POLICY, NOW), s.Wait)


def test_failed_rollout_goes_to_known_good_not_to_the_previous_release():
    v1, v2, v3 = release(1, known_good=True), release(2), release(3)
    d = desired(active=deployment(v3), current=v2, known_good=v1)
    o = observed(d, v3, [svc("blue", td(3), 2, 0, "FAILED")], {"blue": 0}, tds={key(3): td(3)})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.BeginRollback) and step.to_release == 1


@pytest.mark.parametrize("strategy", ["rolling", "blue-green", "canary"])
def test_failed_tasks_of_the_new_release_roll_it_back_though_ecs_breaker_never_trips(strategy):
    """Every other task crashing: ECS's rollout stays IN_PROGRESS (its breaker resets on each
    healthy task); the failures recorded in the timeline reach ECS's threshold (3 for 4 tasks)."""
    v1, v2 = release(1, known_good=True), release(2, count=4)
    colour = "blue" if strategy == "rolling" else "green"
    o_services = [svc(colour, td(2), 4, 2, "IN_PROGRESS")]

    def step_with(failed):
        dep = deployment(v2, strategy, failed_tasks=failed, colours={"web": colour})
        d = desired(active=dep, current=v1, known_good=v1)
        return plan(d, observed(d, v2, o_services, {colour: 2}, tds={key(1): td(1), key(2): td(2)}), POLICY, NOW)

    assert isinstance(step_with({2: 2, 1: 5}), s.Wait)  # below the threshold; the old release's failures don't count
    step = step_with({2: 3})
    assert isinstance(step, s.BeginRollback) and step.to_release == 1
    assert "3 tasks of v2 failed" in step.reason


def test_a_rollback_is_not_judged_by_the_failures_of_the_release_it_leaves():
    v1, v2 = release(1, known_good=True), release(2)
    dep = deployment(v2, rollback_target=v1, rollback_started_at=NOW, failed_tasks={2: 9})
    d = desired(active=dep, current=v1, known_good=v1)
    o = observed(d, v1, [svc("blue", td(1), 2, 1, "IN_PROGRESS")], {"blue": 1}, tds={key(1): td(1), key(2): td(2)})
    assert isinstance(plan(d, o, POLICY, NOW), s.Wait)


def test_deadline_rolls_back_and_a_failed_rollback_fails():
    v1, v2 = release(1, known_good=True), release(2)
    late = NOW - timedelta(seconds=POLICY.rollout_deadline + 1)
    d = desired(active=deployment(v2, started=late), current=v1, known_good=v1)
    o = observed(d, v2, [svc("blue", td(2), 2, 1, "IN_PROGRESS")], {"blue": 1}, tds={key(2): td(2)})
    assert isinstance(plan(d, o, POLICY, NOW), s.BeginRollback)
    rolling_back = deployment(v2, rollback_target=v1, started=late,
                              rollback_started_at=late)
    d = desired(active=rolling_back, current=v1, known_good=v1)
    o = observed(d, v1, [svc("blue", td(1), 2, 1, "IN_PROGRESS")], {"blue": 1}, tds={key(1): td(1), key(2): td(2)})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.Finish) and step.state == "failed"


def test_newer_request_supersedes_a_rolling_deployment_at_once():
    v2, v3 = release(2), release(3)
    d = desired(active=deployment(v2, dep_id=10), pending=deployment(v3, dep_id=11))
    step = plan(d, observed(d, v2), POLICY, NOW)
    assert isinstance(step, s.SupersedeActive) and step.by_id == 11


def test_steady_state_reverts_drift_and_marks_known_good_after_bake():
    v1 = release(1)
    d = desired(current=v1, finished=NOW - timedelta(seconds=3))
    o = observed(d, v1, [svc("blue", td(1), 5, 5)], {"blue": 5}, tds={key(1): td(1)})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.UpdateService) and step.drift and step.spec.desired_count == 2
    o = observed(d, v1, [svc("blue", td(1), 2, 2)], {"blue": 2}, tds={key(1): td(1)})
    assert isinstance(plan(d, o, POLICY, NOW), s.Wait)  # still baking
    d = desired(current=v1, finished=NOW - timedelta(seconds=11))
    assert isinstance(plan(d, o, POLICY, NOW), s.MarkKnownGood)


# --- blue-green and canary -------------------------------------------------------------------

def test_blue_green_starts_on_the_idle_colour_and_flips_in_one_shift():
    v1, v2 = release(1, known_good=True), release(2)
    live = [svc("blue", td(1), 2, 2)]
    dep = deployment(v2, "blue-green")
    d = desired(active=dep, current=v1, known_good=v1)
    step = plan(d, observed(d, v2, live, {"blue": 2}, tds={key(2): td(2)}), POLICY, NOW)
    assert isinstance(step, s.ChooseColours) and step.colours == {"web": "green"}
    dep = deployment(v2, "blue-green", colours={"web": "green"})
    d = desired(active=dep, current=v1, known_good=v1)
    step = plan(d, observed(d, v2, live, {"blue": 2}, tds={key(2): td(2)}), POLICY, NOW)
    assert isinstance(step, s.CreateService) and step.spec.name == "shop-web-green"
    both = live + [svc("green", td(2), 2, 2)]
    step = plan(d, observed(d, v2, both, {"blue": 2, "green": 2}, tds={key(2): td(2)}), POLICY, NOW)
    assert isinstance(step, s.ShiftTraffic) and step.weights == {TG["green"]: 100, TG["blue"]: 0}
    flipped = observed(d, v2, both, {"blue": 2, "green": 2}, weights={"blue": 0, "green": 100}, tds={key(2): td(2)})
    step = plan(d, flipped, POLICY, NOW)
    assert isinstance(step, s.Finish) and step.state == "succeeded"


def window(requests, errors, p99, n=5, last=NOW - timedelta(seconds=1)):
    start = (NOW - timedelta(seconds=60)).timestamp()
    return MetricWindow(requests, errors, p99, n, start, NOW.timestamp(), None if last is None else last.timestamp())


def canary_at(weight, metrics, *, applied_at=NOW - timedelta(seconds=20), **typed):
    v1, v2 = release(1, known_good=True), release(2)
    dep = deployment(v2, "canary", colours={"web": "green"}, applied={f"ShiftTraffic:web:{weight}": applied_at},
                     **typed)
    d = desired(active=dep, current=v1, known_good=v1)
    services = [svc("blue", td(1), 2, 2), svc("green", td(2), 2, 2)]
    return d, observed(d, v2, services, {"blue": 2, "green": 2}, weights={"blue": 100 - weight, "green": weight},
                       tds={key(2): td(2)}, metrics=metrics)


def test_canary_breach_takes_the_canary_out_in_one_shift():
    d, o = canary_at(10, {TG["green"]: window(100, 20, 40), TG["blue"]: window(900, 0, 40)})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.ShiftTraffic) and step.percent == 0 and step.rollback_to == 1
    assert "5xx rate" in step.reason and step.evidence["gate"]["verdict"] == "breach"


def test_canary_latency_relative_to_stable():
    d, o = canary_at(10, {TG["green"]: window(100, 0, 500), TG["blue"]: window(900, 0, 100)})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.ShiftTraffic) and step.percent == 0 and "stable" in step.reason


def test_canary_without_traffic_waits_then_fails_at_the_deadline():
    d, o = canary_at(10, {})
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.Wait) and step.detail["gate"]["verdict"] == "inconclusive"
    d, o = canary_at(10, {}, applied_at=NOW - timedelta(seconds=POLICY.rollout_deadline + 1))
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.ShiftTraffic) and step.percent == 0 and step.fail_state == "failed"


def test_canary_passing_gate_promotes_after_bake_unless_paused():
    healthy = {TG["green"]: window(100, 0, 40), TG["blue"]: window(900, 0, 40)}
    d, o = canary_at(10, healthy, applied_at=NOW - timedelta(seconds=5))
    assert isinstance(plan(d, o, POLICY, NOW), s.Wait)  # baking (10 s)
    d, o = canary_at(10, healthy)
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.ShiftTraffic) and step.percent == 100 and step.evidence["gate"]["verdict"] == "pass"
    d, o = canary_at(10, healthy, pause_at=10)
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.Wait) and "paused" in step.reason
    d, o = canary_at(10, healthy, pause_at=10, promote_requested=True)
    assert isinstance(plan(d, o, POLICY, NOW), s.ShiftTraffic)


@pytest.mark.parametrize("canary,verdict", [
    (None, "inconclusive"),
    (window(5, 0, 40), "inconclusive"),
    (window(100, 0, 40, n=1), "inconclusive"),
    (window(100, 1, 40), "pass"),
    (window(100, 2, 40), "breach"),
    (window(100, 0, 1500), "breach"),
])
def test_gate_verdicts(canary, verdict):
    t = StrategyDefaults(max_5xx_rate=0.01, max_p99_ms=1000, max_p99_ratio=2.0, min_requests=20)
    assert evaluate(canary, window(1000, 0, 40), t).verdict == verdict


def test_worker_processes_blue_green_scale_the_old_colour_down_only_once_the_new_is_healthy():
    from dataclasses import replace

    from paas.domain.manifest import default_manifest as dm

    def wrel(v):
        return replace(release(v), manifest=dm("worker"), formation={"worker": {"count": 2, "cpu": 256, "memory": 512}})

    v1, v2 = wrel(1), wrel(2)
    dep = deployment(v2, "blue-green", colours={"worker": "green"})
    d = Desired(app="shop", app_id=1, app_type="worker", env=ENV, active=dep, pending=None, current=v1,
                current_deployment_id=1, current_finished_at=None, known_good=v1)
    k2 = "shop-dev-worker:2"

    def wsvc(colour, tdv, n, running, rollout="COMPLETED"):
        arn = f"arn:aws:ecs:us-east-1:1:task-definition/shop-dev-worker:{tdv}"
        sd = ServiceDeployment("PRIMARY", arn, n, running, 0, 0, rollout)
        return ServiceState(f"shop-worker-{colour}", "ACTIVE", arn, n, running, 0, (sd,))

    def obs(*svcs):
        return Observed(stack=StackState(build.stack_spec(d, v2).name, "CREATE_COMPLETE",
                                         build.stack_spec(d, v2).template_hash),
                        services={x.name: x for x in svcs}, targets={}, weights={},
                        task_definitions={k2: "arn:aws:ecs:us-east-1:1:task-definition/shop-dev-worker:2"}, at=NOW)

    starting = obs(wsvc("blue", 1, 2, 2), wsvc("green", 2, 2, 1, "IN_PROGRESS"))
    assert isinstance(plan(d, starting, POLICY, NOW), s.Wait)  # the old colour keeps working meanwhile
    healthy = obs(wsvc("blue", 1, 2, 2), wsvc("green", 2, 2, 2))
    step = plan(d, healthy, POLICY, NOW)
    assert isinstance(step, s.ScaleService) and step.name == "shop-worker-blue" and step.desired == 0
    done = obs(wsvc("blue", 1, 0, 0), wsvc("green", 2, 2, 2))
    assert isinstance(plan(d, done, POLICY, NOW), s.Finish)


# --- listener-rule priorities ---------------------------------------------------------------

def test_a_web_process_without_a_priority_first_reads_the_listener_then_allocates_a_free_one():
    from dataclasses import replace

    from paas.domain.observed import ListenerRuleState

    v1 = release(1)
    d = desired(active=deployment(v1), priorities={})
    o = replace(observed(d, v1, stack=False), listener_rules=None)
    assert isinstance(plan(d, o, POLICY, NOW), s.Wait)
    rules = (ListenerRuleState("arn:r/1", 1, ("a.example.com",), ("/*",)),
             ListenerRuleState("arn:r/2", 40000, (), ("/api/*",)),
             ListenerRuleState("arn:r/d", None))
    step = plan(d, replace(o, listener_rules=rules), POLICY, NOW)
    assert isinstance(step, s.AllocateRulePriorities), step
    assert step.listener_arn == ENV.listener_arn
    # shop's route is the catch-all: after every narrower rule, on a number nobody has
    assert step.priorities["web"] > 40000


def test_an_app_domain_gives_each_app_its_own_host_and_a_priority_before_the_catch_all():
    from dataclasses import replace

    from paas.domain.observed import ListenerRuleState

    v1 = release(1)
    d = replace(desired(active=deployment(v1), priorities={}), env=replace(ENV, app_domain="dev.example.com"))
    rules = (ListenerRuleState("arn:r/2", 50000, (), ("/*",)), ListenerRuleState("arn:r/3", 7, ("x.example.com",)))
    step = plan(d, replace(observed(d, v1, stack=False), listener_rules=rules), POLICY, NOW)
    assert isinstance(step, s.AllocateRulePriorities), step
    prio = step.priorities["web"]
    assert prio < 50000 and prio not in (7, 50000)
    tpl = build.stack_spec(replace(d, rule_priorities=step.priorities), v1).template
    rule = next(r for r in tpl["Resources"].values() if r["Type"] == "AWS::ElasticLoadBalancingV2::ListenerRule")
    hosts = [c for c in rule["Properties"]["Conditions"] if c["Field"] == "host-header"]
    assert hosts and hosts[0]["HostHeaderConfig"]["Values"] == ["shop.dev.example.com"]
    assert rule["Properties"]["Priority"] == prio


def test_a_second_catch_all_on_a_shared_listener_fails_the_deployment_saying_why():
    from dataclasses import replace

    from paas.domain.observed import ListenerRuleState

    v1 = release(1)
    d = desired(active=deployment(v1), priorities={})
    rules = (ListenerRuleState("arn:r/2", 50000, (), ("/*",)),)
    step = plan(d, replace(observed(d, v1, stack=False), listener_rules=rules), POLICY, NOW)
    assert isinstance(step, s.Finish) and step.state == "failed"
    assert "catch-all" in step.reason


def test_priority_in_use_releases_the_stored_number_to_allocate_again():
    from dataclasses import replace

    v1 = release(1)
    d = desired(active=deployment(v1))
    o = observed(d, v1)
    o = replace(o, stack=replace(o.stack, status="ROLLBACK_COMPLETE",
                                 reason="Priority '100' is currently in use (PriorityInUse)"))
    step = plan(d, o, POLICY, NOW)
    assert isinstance(step, s.ReleaseRulePriorities) and step.processes == ("web",)



def test_a_canary_step_passes_only_once_the_metrics_reach_the_end_of_its_bake():
    """60 s periods arrive late: a bake whose last period has not been read is not over."""
    from dataclasses import replace

    shifted = NOW - timedelta(seconds=130)
    late = window(5000, 0, 100, last=shifted + timedelta(seconds=30))  # newest period ends at +90 s
    policy = replace(POLICY, bake=120.0, metric_period=60)
    d, o = canary_at(10, {TG["green"]: late, TG["blue"]: window(5000, 0, 100)}, applied_at=shifted)
    step = plan(d, o, policy, NOW)
    assert isinstance(step, s.Wait) and "last period" in step.reason
    covered = window(5000, 0, 100, last=shifted + timedelta(seconds=60))  # its period reaches +120 s
    d, o = canary_at(10, {TG["green"]: covered, TG["blue"]: window(5000, 0, 100)}, applied_at=shifted)
    assert isinstance(plan(d, o, policy, NOW), s.ShiftTraffic)
