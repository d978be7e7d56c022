"""ALB health checks, grace periods and ELB replacements, seen through boto3.

These run against the warped emulator (its clock runs 30x): AWS's smallest health-check
interval is 5 s, so a few intervals pass in well under a second of real time, and every
outcome is decided in simulated time, whatever the machine's load.
"""

from __future__ import annotations

import datetime as dt

from paas.devstack.profiles import set_profile


def _stopped(warped, name):
    ecs, cluster = warped.apps.ecs, warped.env["cluster"]
    arns = ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus="STOPPED")["taskArns"]
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def _health(warped, tg):
    return [d["TargetHealth"] for d in
            warped.apps.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]]


FAST_CHECKS = dict(HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                   UnhealthyThresholdCount=2, Matcher={"HttpCode": "200"})


def test_an_app_that_fails_its_health_check_is_replaced_for_failing_elb_health_checks(warped, name):
    apps = warped.apps
    set_profile(warped.profiles_path, f"repo/{name}:*", health_code=503)
    tg = apps.target_group(name, **FAST_CHECKS)
    apps.service(name, apps.task_definition(name, f"repo/{name}:v1"), desired=1, tg=tg)

    stopped = warped.wait(lambda: _stopped(warped, name), 60, "a task replaced for failing health checks")
    task = stopped[0]
    assert task["stoppedReason"] == f"Task failed ELB health checks in (target-group {tg})"
    assert task["stopCode"] == "ServiceSchedulerInitiated"
    service = apps.describe(name)
    assert any(f"is unhealthy in (target-group {tg}) due to (reason Health checks failed with these codes: [503])"
               in e["message"] for e in service["events"])
    # It keeps being replaced: the app never passes, so the deployment never completes.
    warped.wait(lambda: len(_stopped(warped, name)) >= 3, 120, "repeated replacements")
    assert apps.describe(name)["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert apps.healthy_targets(tg) == []


def test_a_slow_start_is_killed_without_a_grace_period_and_survives_with_one(warped, name):
    apps = warped.apps
    image = f"repo/{name}:slow"
    set_profile(warped.profiles_path, image, ready_seconds=30)  # > interval 5 s x unhealthy threshold 2
    td = apps.task_definition(name, image)
    tg_none, tg_grace = apps.target_group(f"{name}-n", **FAST_CHECKS), apps.target_group(f"{name}-g", **FAST_CHECKS)
    created = apps.service(f"{name}-g", td, desired=2, tg=tg_grace, grace=60)
    assert created["healthCheckGracePeriodSeconds"] == 60
    assert apps.service(f"{name}-n", td, desired=2, tg=tg_none)["healthCheckGracePeriodSeconds"] == 0

    apps.wait_completed(f"{name}-g", td, desired=2, timeout=30)
    assert _stopped(warped, f"{name}-g") == []
    assert len(apps.healthy_targets(tg_grace)) == 2

    killed = warped.wait(lambda: _stopped(warped, f"{name}-n"), 60, "the slow tasks without grace to be killed")
    assert {t["stoppedReason"] for t in killed} == {f"Task failed ELB health checks in (target-group {tg_none})"}
    assert apps.describe(f"{name}-n")["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    # The grace period is a service setting: UpdateService changes it without a new deployment.
    updated = apps.ecs.update_service(cluster=warped.env["cluster"], service=f"{name}-n",
                                      healthCheckGracePeriodSeconds=120)["service"]
    assert updated["healthCheckGracePeriodSeconds"] == 120 and len(updated["deployments"]) == 1
    apps.wait_completed(f"{name}-n", td, desired=2, timeout=30)


def test_the_target_groups_own_settings_decide_health(warped, name):
    apps = warped.apps
    set_profile(warped.profiles_path, f"repo/{name}:redirect", health_code=302)
    set_profile(warped.profiles_path, f"repo/{name}:sluggish", health_ms=2500)
    grace = 3600  # keep the unhealthy tasks so their target state can be read
    cases = {
        "a": ("redirect", {"HttpCode": "200-399"}),  # 302 within the matcher: healthy
        "b": ("redirect", {"HttpCode": "200"}),  # 302 outside it: ResponseCodeMismatch
        "c": ("sluggish", {"HttpCode": "200"}),  # answers in 2.5 s, timeout 2 s: Timeout
    }
    tgs = {}
    for key, (tag, matcher) in cases.items():
        tgs[key] = apps.target_group(f"{name}-{key}", HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=2,
                                     HealthyThresholdCount=2, UnhealthyThresholdCount=3, Matcher=matcher)
        apps.service(f"{name}-{key}", apps.task_definition(f"{name}-{key}", f"repo/{name}:{tag}"), desired=1,
                     tg=tgs[key], grace=grace)

    warped.wait(lambda: apps.healthy_targets(tgs["a"]), 30, "the 302 app to be healthy with matcher 200-399")

    def unhealthy(key):
        health = _health(warped, tgs[key])
        return health[0] if health and health[0]["State"] == "unhealthy" else None

    b = warped.wait(lambda: unhealthy("b"), 60, "ResponseCodeMismatch")
    seen_at = warped.now()
    assert (b["Reason"], b["Description"]) == ("Target.ResponseCodeMismatch", "Health checks failed with these codes: [302]")
    c = warped.wait(lambda: unhealthy("c"), 60, "Timeout")
    assert c["Reason"] == "Target.Timeout"

    # Unhealthy only after UnhealthyThresholdCount (3) checks 10 s apart: 20 s after the start.
    cluster = warped.env["cluster"]
    (arn,) = apps.ecs.list_tasks(cluster=cluster, serviceName=f"{name}-b")["taskArns"]
    started = apps.ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]["startedAt"]
    assert seen_at - started.timestamp() >= 20 - 0.01
    assert _stopped(warped, f"{name}-b") == []  # inside the grace period
    assert apps.describe(f"{name}-b")["deployments"][0]["rolloutState"] == "IN_PROGRESS"


def test_health_check_settings_outside_aws_ranges_are_refused(warped, name):
    import pytest
    from botocore.exceptions import ClientError

    # botocore checks minimums itself; the maximums are AWS's (interval 300, thresholds 10)
    for bad in (dict(HealthCheckIntervalSeconds=301), dict(HealthyThresholdCount=11),
                dict(UnhealthyThresholdCount=11), dict(HealthCheckTimeoutSeconds=121, HealthCheckIntervalSeconds=300)):
        with pytest.raises(ClientError) as err:
            warped.apps.target_group(f"{name}-x", **bad)
        assert err.value.response["Error"]["Code"] == "ValidationError"
        assert "must be between" in err.value.response["Error"]["Message"]


def test_timestamps_are_in_simulated_time(warped, name):
    apps = warped.apps
    td = apps.task_definition(name, f"repo/{name}:v1")
    apps.service(name, td, desired=1)
    apps.wait_completed(name, td, desired=1, timeout=30)
    (arn,) = apps.ecs.list_tasks(cluster=warped.env["cluster"], serviceName=name)["taskArns"]
    started = apps.ecs.describe_tasks(cluster=warped.env["cluster"], tasks=[arn])["tasks"][0]["startedAt"]
    now = warped.now()
    assert abs(started.timestamp() - now) < 120  # virtual "now", far ahead of real time
    assert started > dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
