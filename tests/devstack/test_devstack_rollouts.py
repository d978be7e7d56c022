"""Simulated ECS service scheduler, observed only through boto3 against the emulator."""

from __future__ import annotations

import math
import time

import pytest

from paas.devstack.profiles import set_profile


def test_healthy_service_reaches_steady_state_with_healthy_targets(apps, ecs, env, name):
    tg = apps.target_group(name)
    td = apps.task_definition(name, f"repo/{name}:v1")
    created = apps.service(name, td, desired=3, tg=tg)

    # Like ECS: the CreateService response already shows an IN_PROGRESS PRIMARY deployment.
    (dep,) = created["deployments"]
    assert dep["status"] == "PRIMARY" and dep["rolloutState"] == "IN_PROGRESS"
    assert dep["taskDefinition"] == td and created["runningCount"] == 0

    service = apps.wait_completed(name, td, desired=3)
    (dep,) = service["deployments"]
    assert (dep["desiredCount"], dep["runningCount"], dep["pendingCount"], dep["failedTasks"]) == (3, 3, 0, 0)
    assert dep["rolloutStateReason"] == f"ECS deployment {dep['id']} completed."
    assert service["pendingCount"] == 0
    assert service["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert any(e["message"] == f"(service {name}) has reached a steady state." for e in service["events"])

    task_arns = ecs.list_tasks(cluster=env["cluster"], serviceName=name)["taskArns"]
    tasks = ecs.describe_tasks(cluster=env["cluster"], tasks=task_arns)["tasks"]
    assert len(tasks) == 3
    assert {t["lastStatus"] for t in tasks} == {"RUNNING"}
    assert {t["group"] for t in tasks} == {f"service:{name}"}
    assert {t["startedBy"] for t in tasks} == {dep["id"]}
    ips = {d["value"] for t in tasks for a in t["attachments"] for d in a["details"] if d["name"] == "privateIPv4Address"}
    assert sorted(apps.healthy_targets(tg)) == sorted(ips)


def _rolling_update(apps, name, desired, min_pct, max_pct):
    tg = apps.target_group(name)
    td1 = apps.task_definition(name, f"repo/{name}:v1")
    apps.service(name, td1, desired=desired, tg=tg, min_pct=min_pct, max_pct=max_pct)
    apps.wait_completed(name, td1, desired)

    td2 = apps.task_definition(name, f"repo/{name}:v2")
    updated = apps.ecs.update_service(cluster=apps.env["cluster"], service=name, taskDefinition=td2)["service"]
    assert [d["status"] for d in updated["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert updated["deployments"][0]["taskDefinition"] == td2
    assert updated["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert updated["taskDefinition"] == td2

    min_healthy = math.ceil(desired * min_pct / 100)
    max_total = math.floor(desired * max_pct / 100)
    samples, saw_both = 0, False
    deadline = time.monotonic() + 20
    while True:
        healthy = len(apps.healthy_targets(tg))
        s = apps.describe(name)
        live = s["runningCount"] + s["pendingCount"]
        assert healthy >= min_healthy, f"healthy {healthy} < {min_healthy} at sample {samples}"
        assert live <= max_total, f"{live} tasks > maximumPercent bound {max_total}"
        samples += 1
        saw_both |= len(s["deployments"]) == 2 and s["deployments"][1]["runningCount"] > 0
        d = s["deployments"]
        if len(d) == 1 and d[0]["rolloutState"] == "COMPLETED" and d[0]["taskDefinition"] == td2:
            break
        assert time.monotonic() < deadline, "rolling update did not complete"
        time.sleep(0.02)
    assert samples >= 2 and saw_both  # observed mid-rollout, with old and new tasks running
    assert s["runningCount"] == desired
    assert len(apps.healthy_targets(tg)) == desired
    return s


@pytest.mark.parametrize(
    ("desired", "min_pct", "max_pct"),
    [(4, 50, 100), (4, 75, 125), (2, 100, 200)],  # stop-first, both bounds binding, start-first
)
def test_rolling_update_respects_minimum_healthy_and_maximum_percent(apps, emulator, name, desired, min_pct, max_pct):
    set_profile(emulator.profiles_path, f"repo/{name}:v2", start_seconds=0.6)  # a rollout long enough to sample
    _rolling_update(apps, name, desired=desired, min_pct=min_pct, max_pct=max_pct)


def test_start_seconds_delays_running(apps, emulator, name, wait):
    set_profile(emulator.profiles_path, f"repo/{name}:*", start_seconds=1.0)
    td = apps.task_definition(name, f"repo/{name}:v1")
    t0 = time.monotonic()
    apps.service(name, td, desired=2)
    time.sleep(0.5)
    s = apps.describe(name)
    assert (s["runningCount"], s["pendingCount"]) == (0, 2)
    wait(lambda: apps.describe(name)["runningCount"] == 2, timeout=5, what="tasks RUNNING")
    assert 1.0 <= time.monotonic() - t0 < 2.5


def test_crash_loop_trips_circuit_breaker_and_rolls_back(apps, emulator, ecs, env, name, wait):
    set_profile(emulator.profiles_path, f"repo/{name}:crash*", crash_loop=True, exit_code=137)
    tg = apps.target_group(name)
    td1 = apps.task_definition(name, f"repo/{name}:v1")
    apps.service(name, td1, desired=2, tg=tg, breaker={"enable": True, "rollback": True})
    apps.wait_completed(name, td1, desired=2)

    td2 = apps.task_definition(name, f"repo/{name}:crash-v2")
    ecs.update_service(cluster=env["cluster"], service=name, taskDefinition=td2)

    def failed_deployment():
        for d in apps.describe(name)["deployments"]:
            if d["taskDefinition"] == td2 and d["rolloutState"] == "FAILED":
                return d
        return None

    failed = wait(failed_deployment, timeout=10, interval=0.02, what="circuit breaker to trip")
    assert failed["failedTasks"] >= 3  # min(200, max(3, ceil(0.5 * 2)))
    assert "circuit breaker" in failed["rolloutStateReason"]

    service = apps.wait_completed(name, td1, desired=2)
    assert service["taskDefinition"] == td1
    messages = [e["message"] for e in service["events"]]
    assert any("deployment failed: tasks failed to start" in m for m in messages)
    assert any("rolling back to deployment" in m for m in messages)
    assert len(apps.healthy_targets(tg)) == 2

    stopped = ecs.list_tasks(cluster=env["cluster"], serviceName=name, desiredStatus="STOPPED")["taskArns"]
    crashed = [t for t in ecs.describe_tasks(cluster=env["cluster"], tasks=stopped)["tasks"] if t["taskDefinitionArn"] == td2]
    assert len(crashed) >= 3
    for task in crashed:
        assert task["lastStatus"] == "STOPPED"
        assert task["stoppedReason"] == "Essential container in task exited"
        assert task["stopCode"] == "EssentialContainerExited"
        assert task["containers"][0]["exitCode"] == 137


def test_circuit_breaker_without_rollback_leaves_failed_primary_and_old_tasks(apps, emulator, ecs, env, name, wait):
    set_profile(emulator.profiles_path, f"repo/{name}:crash*", crash_loop=True)
    tg = apps.target_group(name)
    td1 = apps.task_definition(name, f"repo/{name}:v1")
    apps.service(name, td1, desired=2, tg=tg, breaker={"enable": True, "rollback": False})
    apps.wait_completed(name, td1, desired=2)
    td2 = apps.task_definition(name, f"repo/{name}:crash-v2")
    ecs.update_service(cluster=env["cluster"], service=name, taskDefinition=td2)

    wait(lambda: apps.describe(name)["deployments"][0]["rolloutState"] == "FAILED", timeout=10, what="FAILED")
    time.sleep(0.5)  # a FAILED deployment launches no more tasks
    s = apps.describe(name)
    primary, active = s["deployments"]
    assert (primary["status"], primary["taskDefinition"], primary["rolloutState"]) == ("PRIMARY", td2, "FAILED")
    assert primary["runningCount"] + primary["pendingCount"] == 0
    assert (active["taskDefinition"], active["runningCount"]) == (td1, 2)
    assert len(apps.healthy_targets(tg)) == 2


def test_crash_loop_without_circuit_breaker_keeps_replacing_tasks(apps, emulator, name, wait):
    set_profile(emulator.profiles_path, f"repo/{name}:*", crash_loop=True)
    tg = apps.target_group(name)
    td = apps.task_definition(name, f"repo/{name}:v1")
    apps.service(name, td, desired=1, tg=tg)

    def failing_target():  # registered when RUNNING, failing its first health check before it exits
        health = [d["TargetHealth"] for d in
                  apps.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]]
        return any(h["State"] == "initial" and h.get("Reason") == "Elb.InitialHealthChecking" for h in health)
    wait(failing_target, timeout=5, interval=0.01, what="a registered target failing its health check")
    wait(lambda: apps.describe(name)["deployments"][0]["failedTasks"] >= 4, timeout=10, what="repeated failures")
    s = apps.describe(name)
    assert s["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert apps.healthy_targets(tg) == []


def test_scaling_a_completed_service_changes_counts_not_deployments(apps, ecs, env, name, wait):
    td = apps.task_definition(name, f"repo/{name}:v1")
    first = apps.service(name, td, desired=1)
    apps.wait_completed(name, td, desired=1)
    updated = ecs.update_service(cluster=env["cluster"], service=name, desiredCount=3)["service"]
    assert len(updated["deployments"]) == 1 and updated["runningCount"] == 1  # not moto's instant 3
    s = apps.wait_completed(name, td, desired=3)
    assert s["deployments"][0]["id"] == first["deployments"][0]["id"]
    ecs.update_service(cluster=env["cluster"], service=name, desiredCount=0)
    wait(lambda: apps.describe(name)["runningCount"] == 0, timeout=5, what="scale to zero")
    assert ecs.list_tasks(cluster=env["cluster"], serviceName=name)["taskArns"] == []


def test_deleting_a_service_stops_its_tasks_and_deregisters_targets(apps, ecs, env, name, wait):
    tg = apps.target_group(name)
    td = apps.task_definition(name, f"repo/{name}:v1")
    apps.service(name, td, desired=2, tg=tg)
    apps.wait_completed(name, td, desired=2)

    ecs.delete_service(cluster=env["cluster"], service=name, force=True)
    wait(lambda: apps.healthy_targets(tg) == [], timeout=5, what="targets deregistered")
    assert ecs.list_tasks(cluster=env["cluster"], serviceName=name)["taskArns"] == []
    assert apps.describe(name)["status"] == "INACTIVE"

    # Re-created under the same name: a fresh service, no leftovers from the old one.
    apps.service(name, td, desired=1, tg=tg)
    apps.wait_completed(name, td, desired=1)
    assert len(ecs.list_tasks(cluster=env["cluster"], serviceName=name)["taskArns"]) == 1
    assert len(apps.healthy_targets(tg)) == 1


@pytest.mark.parametrize(("desired", "threshold"), [(0, 3), (1, 3), (6, 3), (7, 4), (100, 50), (1000, 200)])
def test_circuit_breaker_threshold_follows_aws_formula(desired, threshold):
    from paas.devstack.ecs_scheduler import circuit_breaker_threshold

    assert circuit_breaker_threshold(desired) == threshold


def _breaker_service(apps, name, image, reset):
    td = apps.task_definition(name, image)
    breaker = {"enable": True, "rollback": False}
    if reset is not None:
        breaker["resetOnHealthyTask"] = reset
    apps.service(name, td, desired=4, breaker=breaker)
    return td


def test_half_failing_release_never_trips_the_breaker_because_healthy_tasks_reset_it(apps, emulator, ecs, env, name, wait):
    """ECS resets the failure count when a task becomes healthy (resetOnHealthyTask, default
    true): every second task crashing never adds up to the threshold of 3."""
    image = f"repo/{name}:half"
    set_profile(emulator.profiles_path, image, fail_ratio=0.5, exit_code=2)
    td = _breaker_service(apps, name, image, reset=None)
    seen_failures = []

    def completed():
        d = apps.describe(name)["deployments"][0]
        seen_failures.append(d["failedTasks"])
        assert d["rolloutState"] != "FAILED", d
        return d["rolloutState"] == "COMPLETED"

    wait(completed, timeout=20, interval=0.02, what="the half-failing deployment to complete")
    assert max(seen_failures) < 3
    stopped = ecs.list_tasks(cluster=env["cluster"], serviceName=name, desiredStatus="STOPPED")["taskArns"]
    crashed = ecs.describe_tasks(cluster=env["cluster"], tasks=stopped)["tasks"]
    assert len(crashed) >= 2 and {t["containers"][0]["exitCode"] for t in crashed} == {2}
    assert {t["stopCode"] for t in crashed} == {"EssentialContainerExited"}


def test_without_reset_on_healthy_task_the_same_release_trips_the_breaker(apps, emulator, name, wait):
    image = f"repo/{name}:half"
    set_profile(emulator.profiles_path, image, fail_ratio=0.5)
    _breaker_service(apps, name, image, reset=False)
    failed = wait(lambda: apps.describe(name)["deployments"][0]["rolloutState"] == "FAILED", timeout=20,
                  what="the breaker to trip")
    assert failed
    assert apps.describe(name)["deployments"][0]["failedTasks"] >= 3


@pytest.mark.parametrize(("config", "desired", "threshold"), [
    ({"type": "COUNT", "value": 7}, 100, 7),
    ({"type": "UNBOUNDED_PERCENT", "value": 50}, 2, 1),
    ({"type": "BOUNDED_PERCENT", "value": 10}, 100, 10),
    ({"type": "BOUNDED_PERCENT", "value": 100}, 1000, 200),
])
def test_circuit_breaker_threshold_configuration(config, desired, threshold):
    from paas.devstack.ecs_scheduler import circuit_breaker_threshold

    assert circuit_breaker_threshold(desired, {"thresholdConfiguration": config}) == threshold
