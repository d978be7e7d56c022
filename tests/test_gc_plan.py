"""Garbage collection decisions on plain data (planner/gc.py): no database, no AWS, no fakes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from paas.domain.errors import UserError
from paas.domain.manifest import default_manifest
from paas.domain.observed import Observed, ServiceState, StackState
from paas.domain.specs import ProcessInfra
from paas.planner import gc
from paas.planner import steps as s
from paas.planner.desired import DeploymentSpec, Desired, EnvSpec, Policy, ReleaseSpec
from paas.planner.plan import plan

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
FAM = "shop-dev-web"
RULE, TG_BLUE, TG_GREEN = "rule/1", "tg/blue", "tg/green"


def arn(rev: int, fam: str = FAM) -> str:
    return f"arn:aws:ecs:us-east-1:123456789012:task-definition/{fam}:{rev}"


def release(version: int, known_good: bool = True, td_version: int | None = None) -> ReleaseSpec:
    return ReleaseSpec(id=100 + version, version=version, image=f"shop:{version}", digest=None, vars={}, secrets={},
                       formation={"web": {"count": 2}}, manifest=default_manifest("web"), known_good=known_good,
                       td_version=td_version)


def desired(current: int = 7, *, known_good: int | None = None, finished_ago: float = 10.0, app_type: str = "web",
            overrides: dict | None = None, gc_state: dict | None = None, td_version: int | None = None,
            current_known_good: bool = True, active: DeploymentSpec | None = None) -> Desired:
    cur = release(current, current_known_good, td_version)
    return Desired(
        app="shop", app_id=1, app_type=app_type,
        env=EnvSpec(1, "dev", "us-east-1", "cluster", "listener", "vpc", ("s1",), ("sg1",)),
        active=active, pending=None, current=cur, current_deployment_id=50,
        current_finished_at=NOW - timedelta(seconds=finished_ago),
        known_good=release(known_good) if known_good else (cur if current_known_good else None),
        active_colour={"web": "green"}, gc_overrides=overrides or {}, gc_state=gc_state or {},
    )


def svc(colour: str, rev: int, desired_count: int = 2, release_no: int | None = None) -> ServiceState:
    return ServiceState(name=f"shop-web-{colour}", status="ACTIVE", task_definition=arn(rev),
                        desired=desired_count, running=desired_count, pending=0, release=release_no or rev)


def observed(services: list[ServiceState], tds: dict[int, int], live: str = "green",
             registered: list[int] | None = None) -> Observed:
    """`tds`: release version → revision (what obs.task_definitions resolves)."""
    stack = StackState(name="paas-shop-dev", status="UPDATE_COMPLETE", template_hash="x",
                       infra={"web": ProcessInfra(TG_BLUE, TG_GREEN, RULE)})
    weights = {RULE: {TG_BLUE: 100 if live == "blue" else 0, TG_GREEN: 100 if live == "green" else 0}}
    return Observed(stack=stack, services={x.name: x for x in services}, targets={}, weights=weights,
                    task_definitions={f"{FAM}:{v}": arn(r) for v, r in tds.items()}, at=NOW,
                    registered={FAM: [arn(r) for r in registered]} if registered is not None else None)


def policy(**kw) -> gc.GcPolicy:
    return replace(gc.DEFAULTS["web"], **kw)


def report(d, obs, gp, registered=None, live=None, now=NOW):
    regs = {FAM: [arn(r) for r in registered]} if registered is not None else None
    return gc.gc_report(d, obs, gp, now, regs, live or {"web": "green"})


def deregistered(rep) -> list[int]:
    return sorted(gc.revision(a.arn) for a in rep.actions if a.kind == "deregister")


# --------------------------------------------------------------------------- revisions

def test_keeps_exactly_the_newest_n():
    d = desired(7)
    obs = observed([svc("green", 7), svc("blue", 6)], {7: 7})
    rep = report(d, obs, policy(keep_task_definitions=5), registered=list(range(1, 8)))
    assert deregistered(rep) == [1, 2]
    kept = sorted(gc.revision(k.name) for k in rep.kept if k.kind == "task_definition")
    assert kept == [3, 4, 5, 6, 7]
    assert all("older than the newest 5" in a.reason for a in rep.actions)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10])
def test_keep_n_for_several_n(n):
    d = desired(7)
    obs = observed([svc("green", 7)], {7: 7})
    rep = report(d, obs, policy(keep_task_definitions=n), registered=list(range(1, 8)))
    assert deregistered(rep) == list(range(1, max(1, 8 - n)))


def test_newest_is_by_revision_number_not_list_order():
    d = desired(7)
    obs = observed([svc("green", 7)], {7: 7})
    rep = report(d, obs, policy(keep_task_definitions=2), registered=[7, 3, 6, 1, 5, 2, 4])
    assert deregistered(rep) == [1, 2, 3, 4, 5]


def test_never_removes_a_revision_a_service_runs_in_either_colour():
    # the live colour runs revision 2 (a rollback copy of v2), the other colour runs revision 1
    d = desired(9, td_version=2)
    obs = observed([svc("green", 2, release_no=2), svc("blue", 1)], {2: 2})
    rep = report(d, obs, policy(keep_task_definitions=2, previous_colour_keep_seconds=99999),
                 registered=list(range(1, 10)))
    assert 1 not in deregistered(rep) and 2 not in deregistered(rep)
    assert deregistered(rep) == [3, 4, 5, 6, 7]
    why = {gc.revision(k.name): k.reason for k in rep.kept if k.kind == "task_definition"}
    assert "current release v9" in why[2] and "used by service shop-web-green" in why[2]
    assert "rollback-ready" in why[1]


def test_never_removes_the_current_or_known_good_revision_even_when_not_running():
    # the known-good release is older than the newest N and no service runs it
    d = desired(8, known_good=2)
    obs = observed([svc("green", 8)], {8: 8, 2: 2})
    rep = report(d, obs, policy(keep_task_definitions=1), registered=list(range(1, 9)))
    assert deregistered(rep) == [1, 3, 4, 5, 6, 7]
    why = {gc.revision(k.name): k.reason for k in rep.kept if k.kind == "task_definition"}
    assert "last known-good v2" in why[2] and "current release v8" in why[8]


def test_current_release_older_than_the_newest_n_is_kept():
    # a rollback: current v9 reuses the task definition of v3 (revision 3), newer revisions exist
    d = desired(9, td_version=3)
    obs = observed([svc("green", 3, release_no=3)], {3: 3})
    rep = report(d, obs, policy(keep_task_definitions=2), registered=list(range(1, 9)))
    assert 3 not in deregistered(rep)
    assert deregistered(rep) == [1, 2, 4, 5, 6]


def test_unresolved_known_good_keeps_everything_in_the_family():
    d = desired(8, known_good=2)
    obs = observed([svc("green", 8)], {8: 8})  # v2's task definition not resolved
    rep = report(d, obs, policy(keep_task_definitions=1), registered=list(range(1, 9)))
    assert deregistered(rep) == []


def test_a_revision_of_an_in_flight_service_deployment_is_kept():
    from paas.domain.observed import ServiceDeployment

    d = desired(7)
    green = replace(svc("green", 7), deployments=(
        ServiceDeployment("PRIMARY", arn(7), 2, 2, 0, 0, "COMPLETED"),
        ServiceDeployment("ACTIVE", arn(1), 0, 1, 0, 0, "COMPLETED"),  # still draining
    ))
    obs = observed([green], {7: 7})
    rep = report(d, obs, policy(keep_task_definitions=2), registered=list(range(1, 8)))
    assert deregistered(rep) == [2, 3, 4, 5]


def test_no_listing_no_deregistration():
    d = desired(7)
    obs = observed([svc("green", 7)], {7: 7})
    assert deregistered(report(d, obs, policy(keep_task_definitions=1), registered=None)) == []


# --------------------------------------------------------------------------- the previous colour

def test_previous_colour_kept_inside_its_window_then_scaled_to_zero():
    obs = observed([svc("green", 7), svc("blue", 6)], {7: 7})
    inside = report(desired(7, finished_ago=3599), obs, policy(), registered=list(range(1, 8)))
    assert not [a for a in inside.actions if a.kind == "scale_down"]
    assert inside.recheck_in == pytest.approx(1.0)
    assert any(k.name == "shop-web-blue" and "rollback-ready" in k.reason for k in inside.kept)

    after = report(desired(7, finished_ago=3600), obs, policy(), registered=list(range(1, 8)))
    scale = [a for a in after.actions if a.kind == "scale_down"]
    assert [(a.service, a.colour) for a in scale] == [("shop-web-blue", "blue")]
    assert after.actions[0].kind == "scale_down"  # scale-downs come first


def test_previous_colour_window_follows_the_policy():
    obs = observed([svc("green", 7), svc("blue", 6)], {7: 7})
    d = desired(7, finished_ago=30)
    assert not [a for a in report(d, obs, policy(previous_colour_keep_seconds=31)).actions]
    assert [a.service for a in report(d, obs, policy(previous_colour_keep_seconds=30)).actions] == ["shop-web-blue"]


def test_the_colour_with_traffic_or_running_the_current_release_is_never_scaled_down():
    # weights say green is live, but the planner is told blue is (disagreeing inputs): nothing moves
    obs = observed([svc("green", 7), svc("blue", 6)], {7: 7})
    rep = report(desired(7, finished_ago=10**6), obs, policy(previous_colour_keep_seconds=0),
                 live={"web": "blue"})
    assert not rep.actions
    assert any("100% of web traffic" in k.reason for k in rep.kept)
    # no weights (a worker-like process): the colour running the current release stays
    no_rule = replace(obs, weights={})
    rep = report(desired(7, finished_ago=10**6), no_rule, policy(previous_colour_keep_seconds=0,
                                                                 idle_scale_to_zero_seconds=0),
                 live={"web": "blue"})
    assert not rep.actions


def test_idle_colour_follows_idle_scale_to_zero():
    # both colours run the current release: the non-live one is idle, not rollback-ready
    obs = observed([svc("green", 7), svc("blue", 7)], {7: 7})
    d = desired(7, finished_ago=100)
    assert not report(d, obs, policy(idle_scale_to_zero_seconds=None, previous_colour_keep_seconds=0)).actions
    assert not report(d, obs, policy(idle_scale_to_zero_seconds=101)).actions
    scale = report(d, obs, policy(idle_scale_to_zero_seconds=100)).actions
    assert [a.service for a in scale] == ["shop-web-blue"] and "idle colour" in scale[0].reason


def test_scaled_down_previous_colour_frees_its_revision():
    obs = observed([svc("green", 7), svc("blue", 1)], {7: 7})
    rep = report(desired(7, finished_ago=10**6), obs, policy(keep_task_definitions=2), registered=list(range(1, 8)))
    assert [a.kind for a in rep.actions][:1] == ["scale_down"]
    assert deregistered(rep) == [1, 2, 3, 4, 5]
    inside = report(desired(7, finished_ago=1), obs, policy(keep_task_definitions=2), registered=list(range(1, 8)))
    assert deregistered(inside) == [2, 3, 4, 5]


# --------------------------------------------------------------------------- policy

def test_defaults_per_app_type():
    assert gc.policy_for("web") == gc.GcPolicy(5, 3600.0, None)
    assert gc.policy_for("worker") == gc.GcPolicy(5, 600.0, None)
    assert gc.policy_for("batch").keep_task_definitions == 3
    assert gc.policy_for("batch").previous_colour_keep_seconds == 0


def test_overrides_merge_over_settings_over_defaults():
    p = gc.policy_for("web", {"keep_task_definitions": 2}, {"previous_colour_keep_seconds": "30m",
                                                             "keep_task_definitions": "9"})
    assert p == gc.GcPolicy(2, 1800.0, None)
    assert gc.policy_for("worker", {"idle_scale_to_zero_seconds": "2h"}).idle_scale_to_zero_seconds == 7200
    assert gc.policy_for("batch", {"idle_scale_to_zero_seconds": "never"}).idle_scale_to_zero_seconds is None
    assert gc.policy_for("web", {"previous_colour_keep_seconds": 45}).previous_colour_keep_seconds == 45


@pytest.mark.parametrize("overrides", [
    {"keep_task_definitions": 0}, {"keep_task_definitions": -1}, {"keep_task_definitions": 2.5},
    {"keep_task_definitions": True}, {"keep_task_definitions": 1001}, {"keep_task_definitions": "lots"},
    {"previous_colour_keep_seconds": -5}, {"previous_colour_keep_seconds": "soon"},
    {"previous_colour_keep_seconds": None}, {"previous_colour_keep_seconds": float("nan")},
    {"idle_scale_to_zero_seconds": "tomorrow"}, {"keep_revisions": 3}, ["keep_task_definitions"],
])
def test_bad_overrides_are_user_errors(overrides):
    with pytest.raises(UserError):
        gc.policy_for("web", overrides)


def test_unknown_app_type_is_a_user_error():
    with pytest.raises(UserError):
        gc.policy_for("cron")


# --------------------------------------------------------------------------- in the steady-state planner

def steady_policy(**kw) -> Policy:
    return Policy(bake=1.0, resync_interval=300.0, **kw)


def test_steady_plan_returns_one_gc_step_at_a_time_scale_first():
    d = desired(7, finished_ago=10**6)
    obs = observed([svc("green", 7), svc("blue", 1)], {7: 7}, registered=list(range(1, 8)))
    step = plan(d, obs, steady_policy(), NOW)
    assert isinstance(step, s.ScaleService) and step.gc and step.name == "shop-web-blue" and step.desired == 0
    obs2 = replace(obs, services={**obs.services, "shop-web-blue": svc("blue", 1, desired_count=0)})
    step = plan(d, obs2, steady_policy(), NOW)
    assert isinstance(step, s.DeregisterTaskDefinition) and step.arn == arn(1)


def test_steady_plan_records_the_check_when_nothing_is_left():
    d = desired(7, finished_ago=10)
    obs = observed([svc("green", 7), svc("blue", 6)], {7: 7}, registered=[3, 4, 5, 6, 7])
    step = plan(d, obs, steady_policy(), NOW)
    assert isinstance(step, s.GcChecked) and step.state["checked_at"] == NOW.isoformat()
    # once recorded, the same observation gives Idle, requeued when the previous colour's window ends
    d2 = replace(d, gc_state={"checked_at": NOW.isoformat()})
    idle = plan(d2, obs, Policy(bake=1.0, resync_interval=86400.0), NOW)
    assert isinstance(idle, s.Idle) and idle.seconds == pytest.approx(3590)


def test_gc_waits_for_known_good_and_for_deployments_in_flight():
    obs = observed([svc("green", 7), svc("blue", 1)], {7: 7}, registered=list(range(1, 8)))
    not_yet = desired(7, finished_ago=0.5, current_known_good=False)
    assert isinstance(plan(not_yet, obs, steady_policy(), NOW), s.Wait)
    assert not gc.gc_due(not_yet, steady_policy(), NOW)


def test_gc_due_only_when_never_checked_requested_or_interval_passed():
    p = steady_policy(gc_interval=3600)
    checked = (NOW - timedelta(seconds=60)).isoformat()
    assert gc.gc_due(desired(7), p, NOW)  # never checked
    assert not gc.gc_due(desired(7, gc_state={"checked_at": checked}), p, NOW)
    assert gc.gc_due(desired(7, gc_state={"checked_at": checked}), p, NOW + timedelta(seconds=3540))
    asked = {"checked_at": checked, "requested_at": "2025-01-01T11:59:30+00:00"}
    assert gc.gc_due(desired(7, gc_state=asked), p, NOW)
    assert not gc.gc_due(desired(7, gc_state={**asked, "request_handled": asked["requested_at"]}), p, NOW)


def test_not_due_means_no_listing_is_needed_and_nothing_is_deregistered():
    checked = (NOW - timedelta(seconds=60)).isoformat()
    d = desired(7, finished_ago=10, gc_state={"checked_at": checked})
    obs = observed([svc("green", 7), svc("blue", 6)], {7: 7}, registered=list(range(1, 8)))
    step = plan(d, obs, steady_policy(gc_interval=3600), NOW)
    assert isinstance(step, s.Idle)


def test_due_without_a_listing_asks_for_one():
    d = desired(7, finished_ago=10)
    obs = observed([svc("green", 7), svc("blue", 6)], {7: 7}, registered=None)
    step = plan(d, obs, steady_policy(), NOW)
    assert isinstance(step, s.Wait) and "listing" in step.reason


def test_bad_stored_policy_skips_gc_instead_of_guessing():
    d = desired(7, finished_ago=10**6, overrides={"keep_task_definitions": 0})
    obs = observed([svc("green", 7), svc("blue", 1)], {7: 7}, registered=list(range(1, 8)))
    step = plan(d, obs, steady_policy(), NOW)
    assert isinstance(step, s.Idle) and "GC skipped" in step.reason


def test_settings_reach_the_planner():
    d = desired(7, finished_ago=5)
    obs = observed([svc("green", 7), svc("blue", 6)], {7: 7}, registered=[3, 4, 5, 6, 7])
    step = plan(replace(d, gc_state={"checked_at": NOW.isoformat()}), obs,
                steady_policy(gc_settings={"previous_colour_keep_seconds": "4"}), NOW)
    assert isinstance(step, s.ScaleService) and step.name == "shop-web-blue"


def test_reason_names_the_revision_when_the_release_tag_was_not_read():
    obs = observed([svc("green", 7), replace(svc("blue", 6), release=None)], {7: 7})
    rep = report(desired(7, finished_ago=10**6), obs, policy())
    assert "previous colour blue (revision 6, rollback-ready)" in rep.actions[0].reason
