"""60 s ALB metric periods arriving late, on the warped emulator (a minute passes in 2 s)."""

from __future__ import annotations

import datetime as dt
import math
import time

from tests.devstack.conftest import WARPED_SETTINGS, wait_for

PERIOD = WARPED_SETTINGS["metric_period_seconds"]
DELAY = WARPED_SETTINGS["metric_delay_seconds"]
RPS = WARPED_SETTINGS["requests_per_second"]


def _read(cloudwatch, tg, lb, now):
    result = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": {
            "Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount",
            "Dimensions": [{"Name": "TargetGroup", "Value": tg.rsplit(":", 1)[-1]},
                           {"Name": "LoadBalancer", "Value": lb.split(":loadbalancer/", 1)[-1]}]},
            "Period": int(PERIOD), "Stat": "Sum"}}],
        StartTime=dt.datetime.fromtimestamp(now - 900, dt.timezone.utc),
        EndTime=dt.datetime.fromtimestamp(now + 300, dt.timezone.utc),
    )["MetricDataResults"][0]
    return {ts.timestamp(): v for ts, v in zip(result["Timestamps"], result["Values"])}


def test_sixty_second_periods_land_on_minute_boundaries_late_and_partial_first(warped, name):
    apps, elbv2, cloudwatch = warped.apps, warped.client("elbv2"), warped.client("cloudwatch")
    tg = apps.target_group(name)
    apps.service(name, apps.task_definition(name, f"repo/{name}:v1"), desired=1, tg=tg)
    elbv2.create_rule(ListenerArn=warped.env["listener_arn"], Priority=500,
                      Conditions=[{"Field": "path-pattern", "Values": [f"/{name}/*"]}],
                      Actions=[{"Type": "forward", "TargetGroupArn": tg}])
    wait_for(lambda: apps.healthy_targets(tg), timeout=30, what="a healthy target")
    first_full = math.ceil(warped.now() / PERIOD) * PERIOD  # the first minute with traffic throughout
    full = RPS * PERIOD

    reads: list[tuple[float, float, dict[float, float]]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        before = warped.now()
        points = _read(cloudwatch, tg, warped.env["load_balancer_arn"], before)
        reads.append((before, warped.now(), points))
        if abs(points.get(first_full, 0) - full) <= 1:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"minute {first_full} never completed: {reads[-1]}")

    partial_seen = False
    for before, after, points in reads:
        for minute, value in points.items():
            assert minute % PERIOD == 0, f"datapoint at {minute} is not on a minute boundary"
            # nothing of a minute is visible before its first ALB node reports, after it ended
            assert minute + PERIOD < after, f"minute {minute} visible at {after} while it was still running"
            assert value <= full + 1
            if minute == first_full and value < full - 1:
                partial_seen = True
                assert after >= minute + PERIOD  # partial only once the minute is over
        if first_full not in points:
            continue
        # the whole minute arrives only DELAY after it ends
        if abs(points[first_full] - full) <= 1:
            assert after >= first_full + PERIOD + DELAY - 1e-6
    assert partial_seen, "the newest minute was never seen partial"
    # right after the minute ended it was missing altogether
    assert any(first_full + PERIOD <= after and first_full not in points for _, after, points in reads) or \
        reads[0][0] > first_full + PERIOD
