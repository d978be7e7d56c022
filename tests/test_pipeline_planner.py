"""The pipeline's plan on plain data, and its declaration refusing bad config (exit 2, nothing written)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from paas.domain.pipeline import CheckState, PipelineSpec, PipelineState, PromotionState, PushState, StageSpec
from paas.planner import pipeline as pl

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
SPEC = PipelineSpec("shop", "main-*", "pytest", (StageSpec("staging", soak_seconds=600),
                                                  StageSpec("production", "canary", (10, 100), approval=True)),
                    test_timeout_seconds=300)
STAGING, PRODUCTION = 1, 2


def push(id_, check=None, promotions=(), approvals=(), notified=(), state="active"):
    return PushState(id=id_, repository="shop", tag=f"main-{id_}", digest=f"sha256:{id_:064d}", image=f"shop:{id_}",
                     state=state, seen_at=T0, check=check, promotions=tuple(promotions), approvals=tuple(approvals),
                     approval_notified=tuple(notified))


def check(state="passed", at=T0, exit_code=0):
    return CheckState(id=1, state=state, environment_id=STAGING, created_at=at, task_arn="arn:task",
                      exit_code=exit_code if state != "running" else None)


def promo(stage, state="succeeded", release_id=10, known_good_at=T0, version=4):
    return PromotionState(id=stage + 1, stage=stage, environment_id=(STAGING, PRODUCTION)[stage], deployment_id=100 + stage,
                          deployment_state=state, release_id=release_id, release_version=version, created_at=T0,
                          known_good_at=known_good_at if state == "succeeded" else None)


def state(*pushes, live=None):
    return PipelineState(app_id=1, app="shop", spec=SPEC, stage_environment_ids=(STAGING, PRODUCTION),
                         pushes=tuple(pushes), live=live if live is not None else {STAGING: 10})


def kinds(p):
    return [(type(a).__name__, getattr(a, "push_id", None)) for a in p.actions]


def test_a_new_push_gets_its_checks():
    p = pl.plan(state(push(1)), T0)
    assert kinds(p) == [("StartCheck", 1)] and p.waits[1] == "checks starting"


def test_a_failed_check_ends_the_push_and_promotes_nothing():
    p = pl.plan(state(push(1, check("failed", exit_code=1))), T0)
    assert p.actions == [pl.EndPush(1, "failed", "integration tests failed (exit 1)")]


def test_a_check_past_its_timeout_fails_and_one_within_it_wakes_the_pipeline_at_the_timeout():
    running = state(push(1, check("running")))
    assert kinds(pl.plan(running, T0 + timedelta(seconds=301))) == [("CheckTimedOut", 1)]
    p = pl.plan(running, T0 + timedelta(seconds=10))
    assert p.actions == [] and p.next_at == T0 + timedelta(seconds=300)


def test_a_passed_check_promotes_into_the_first_stage():
    p = pl.plan(state(push(1, check())), T0)
    assert p.actions == [pl.Promote(1, 0, STAGING, None)]


def test_the_next_stage_waits_for_the_soak_after_known_good():
    s = state(push(1, check(), [promo(0)]))
    p = pl.plan(s, T0 + timedelta(seconds=599))
    assert p.actions == [] and p.waits[1] == "soaking in staging until 12:10:00"
    assert p.next_at == T0 + timedelta(seconds=600)


def test_not_known_good_yet_is_not_eligible():
    p = pl.plan(state(push(1, check(), [promo(0, known_good_at=None)])), T0 + timedelta(days=1))
    assert p.actions == [] and "known-good" in p.waits[1]


def test_an_approval_is_asked_for_once_then_the_approved_push_is_promoted_with_its_approver():
    s = state(push(1, check(), [promo(0)]))
    later = T0 + timedelta(seconds=600)
    p = pl.plan(s, later)
    assert p.actions == [pl.AnnounceApproval(1, 1, PRODUCTION, 4)]
    assert p.waits[1] == "waiting for approval to production (paas approve shop --env production v4)"
    assert pl.plan(state(push(1, check(), [promo(0)], notified=(PRODUCTION,))), later).actions == []
    approved = state(push(1, check(), [promo(0)], approvals=((PRODUCTION, "alice", later),), notified=(PRODUCTION,)))
    [a] = pl.plan(approved, later).actions
    assert (type(a), a.stage, a.approver, a.upstream.release_version) == (pl.Promote, 1, "alice", 4)


def test_a_failed_canary_ends_the_push_and_leaves_staging_alone():
    s = state(push(1, check(), [promo(0), promo(1, "rolled_back", release_id=20)]))
    [a] = pl.plan(s, T0).actions
    assert a == pl.EndPush(1, "failed", "deployment #101 to production rolled back")


def test_the_last_stage_succeeding_releases_the_push():
    s = state(push(1, check(), [promo(0), promo(1, release_id=20)]))
    assert pl.plan(s, T0).actions == [pl.EndPush(1, "released", "live in production as v4")]


def test_a_newer_push_supersedes_older_ones_waiting_for_the_same_stage_but_not_one_in_flight():
    older_waiting = push(1, check("running"))
    in_flight = push(2, check(), [promo(0, "in_progress")])
    newer = push(3)
    p = pl.plan(state(older_waiting, in_flight, newer), T0)
    assert pl.EndPush(1, "superseded", "superseded by main-3 (push 3)", stop_check=True) in p.actions
    assert not any(getattr(a, "push_id", None) == 2 for a in p.actions)
    assert ("StartCheck", 3) in kinds(p)


def test_a_soaking_push_is_superseded_once_a_newer_one_reaches_its_stage():
    soaking = push(1, check(), [promo(0, release_id=10)])
    newer = push(2, check(), [promo(0, "in_progress", release_id=11)])
    p = pl.plan(state(soaking, newer), T0)
    assert kinds(p)[0] == ("EndPush", 1) and p.actions[0].state == "superseded"


def test_a_stage_that_no_longer_runs_the_release_ends_the_push():
    s = state(push(1, check(), [promo(0, release_id=10)]), live={STAGING: 99})
    assert pl.plan(s, T0).actions == [pl.EndPush(1, "superseded", "staging no longer runs v4")]


def test_tags_match_a_glob_or_semver():
    assert SPEC.matches("main-12") and not SPEC.matches("feature-1") and not SPEC.matches(None)
    semver = PipelineSpec("shop", "semver", "pytest", SPEC.stages)
    assert semver.matches("1.2.3") and semver.matches("v1.2.3-rc.1") and not semver.matches("1.2")


MANIFEST = """
[pipeline]
repository = "shop"
tags = "main-*"
test_command = "pytest"
[[pipeline.stages]]
environment = "staging"
soak = "{soak}"
[[pipeline.stages]]
environment = "{second}"
"""


@pytest.mark.parametrize("soak, second, message", [
    ("1m", "staging", "names environment 'staging' again"),
    ("-5", "production", "invalid pipeline soak"),
    ("1m", "nowhere", "pipeline stage 'nowhere' names no environment"),
])
def test_bad_pipeline_config_is_refused_with_one_line_and_nothing_written(paas, staging, db, tmp_path, soak, second,
                                                                        message):
    assert paas("env", "create", "production", "--region", "us-east-1", "--cluster", "c2").code == 0
    toml = tmp_path / "paas.toml"
    toml.write_text(MANIFEST.format(soak=soak, second=second))
    for args in (("pipeline", "set", "checkout", "--manifest", str(toml)),
                 ("deploy", "checkout", "--image", "shop:1", "-e", "staging", "--manifest", str(toml))):
        r = paas(*args)
        assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert db.scalar("SELECT count(*) FROM pipelines") == 0
    assert db.scalar("SELECT count(*) FROM deployments") == 0


def test_a_pipeline_is_declared_shown_and_approved_from_the_cli(paas, staging, db, tmp_path):
    assert paas("env", "create", "production", "--region", "us-east-1", "--cluster", "c2").code == 0
    toml = tmp_path / "paas.toml"
    toml.write_text(MANIFEST.format(soak="10m", second="production"))
    r = paas("pipeline", "set", "checkout", "--manifest", str(toml), "--json")
    assert r.code == 0, r.err
    assert [s["environment"] for s in r.json()["pipeline"]["stages"]] == ["staging", "production"]
    doc = paas("pipeline", "checkout", "--json").json()
    assert [(s["environment"], s["soak_seconds"], s["release_version"]) for s in doc["stages"]] == [
        ("staging", 600.0, None), ("production", 0.0, None)]
    assert paas("pipeline", "checkout").code == 0
    r = paas("approve", "checkout", "--env", "production", "v3")
    assert r.code == 2 and "asks for no approval" in r.err
    r = paas("approve", "checkout", "--env", "production", "v1\x1b[2J")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert paas("pipeline", "nosuchapp").code != 0


def test_a_check_whose_task_never_started_is_started_again():
    c = CheckState(id=1, state="running", environment_id=STAGING, created_at=T0, task_arn=None)
    p = pl.plan(state(push(1, c)), T0 + timedelta(seconds=5))
    assert p.actions == [pl.StartCheck(1)]
