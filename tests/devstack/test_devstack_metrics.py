"""Simulated ALB metrics, read back with CloudWatch GetMetricData like a canary gate would."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from paas.devstack.alb_metrics import latency_sample_seconds
from paas.devstack.moto_patches import nearest_rank_percentile
from paas.devstack.profiles import set_profile


def _dims(tg_arn, lb_arn):
    return [
        {"Name": "TargetGroup", "Value": tg_arn.rsplit(":", 1)[-1]},
        {"Name": "LoadBalancer", "Value": lb_arn.split(":loadbalancer/", 1)[-1]},
    ]


def _query(cloudwatch, dims, metric, stat, start, end):
    result = cloudwatch.get_metric_data(
        MetricDataQueries=[{
            "Id": "q",
            "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": dims},
                           "Period": 3600, "Stat": stat},
            "ReturnData": True,
        }],
        StartTime=start, EndTime=end,
    )["MetricDataResults"][0]
    return result["Values"]


def _weighted_app(apps, elbv2, env, name, blue_image, green_image, weights, priority):
    blue, green = apps.target_group(f"{name}-b"), apps.target_group(f"{name}-g")
    apps.service(f"{name}-b", apps.task_definition(f"{name}-b", blue_image), desired=2, tg=blue)
    apps.service(f"{name}-g", apps.task_definition(f"{name}-g", green_image), desired=1, tg=green)
    elbv2.create_rule(
        ListenerArn=env["listener_arn"], Priority=priority,
        Conditions=[{"Field": "path-pattern", "Values": [f"/{name}/*"]}],
        Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": blue, "Weight": weights[0]}, {"TargetGroupArn": green, "Weight": weights[1]},
        ]}}],
    )
    return blue, green


def test_weighted_rule_splits_requests_errors_and_latency(apps, emulator, elbv2, cloudwatch, env, name, wait):
    set_profile(emulator.profiles_path, f"repo/{name}:blue", error_rate=0.0, p99_ms=40)
    set_profile(emulator.profiles_path, f"repo/{name}:green", error_rate=0.2, p99_ms=250)
    blue, green = _weighted_app(apps, elbv2, env, name, f"repo/{name}:blue", f"repo/{name}:green", (90, 10), 10)
    wait(lambda: len(apps.healthy_targets(blue)) == 2 and len(apps.healthy_targets(green)) == 1, what="healthy")

    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)
    lb = env["load_balancer_arn"]
    rps = emulator.dataplane.settings.requests_per_second

    def counts():  # wait for a few seconds of traffic, however slowly a loaded machine ticks
        b = sum(_query(cloudwatch, _dims(blue, lb), "RequestCount", "Sum", start, end))
        g = sum(_query(cloudwatch, _dims(green, lb), "RequestCount", "Sum", start, end))
        return (b, g) if b + g >= 3 * rps and g >= 10 else None

    blue_req, green_req = wait(counts, timeout=20, what="three seconds of traffic")
    total = blue_req + green_req
    assert green_req / total == pytest.approx(0.10, abs=0.03)

    # requests and errors in one call, so traffic published meanwhile cannot skew the ratio
    both = cloudwatch.get_metric_data(MetricDataQueries=[
        {"Id": q, "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": m,
                                            "Dimensions": _dims(green, lb)}, "Period": 3600, "Stat": "Sum"},
         "ReturnData": True}
        for q, m in (("r", "RequestCount"), ("e", "HTTPCode_Target_5XX_Count"))], StartTime=start, EndTime=end)
    got = {r["Id"]: sum(r["Values"]) for r in both["MetricDataResults"]}
    assert got["e"] == pytest.approx(0.2 * got["r"], abs=2)
    # error_rate 0: like AWS, a zero count is not reported at all.
    assert _query(cloudwatch, _dims(blue, lb), "HTTPCode_Target_5XX_Count", "Sum", start, end) == []

    (blue_p99,) = _query(cloudwatch, _dims(blue, lb), "TargetResponseTime", "p99", start, end)
    (green_p99,) = _query(cloudwatch, _dims(green, lb), "TargetResponseTime", "p99", start, end)
    assert blue_p99 == pytest.approx(0.040, rel=0.05)
    assert green_p99 == pytest.approx(0.250, rel=0.05)
    (blue_avg,) = _query(cloudwatch, _dims(blue, lb), "TargetResponseTime", "Average", start, end)
    assert blue_avg < blue_p99


def test_no_healthy_targets_no_traffic_to_that_group(apps, emulator, elbv2, cloudwatch, env, name, wait):
    set_profile(emulator.profiles_path, f"repo/{name}:broken", crash_loop=True)
    blue, green = _weighted_app(apps, elbv2, env, name, f"repo/{name}:ok", f"repo/{name}:broken", (50, 50), 11)
    wait(lambda: len(apps.healthy_targets(blue)) == 2, what="healthy blue")
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)
    lb = env["load_balancer_arn"]
    wait(lambda: _query(cloudwatch, _dims(blue, lb), "RequestCount", "Sum", start, end), what="traffic to blue")
    assert _query(cloudwatch, _dims(green, lb), "RequestCount", "Sum", start, end) == []


def test_zero_requests_per_second_publishes_nothing(apps, emulator, elbv2, cloudwatch, env, name, wait):
    previous = emulator.dataplane.settings.requests_per_second
    emulator.dataplane.update_settings(requests_per_second=0)
    try:
        blue, green = _weighted_app(apps, elbv2, env, name, f"repo/{name}:a", f"repo/{name}:b", (90, 10), 12)
        wait(lambda: len(apps.healthy_targets(blue)) == 2 and len(apps.healthy_targets(green)) == 1, what="healthy")
        start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
        time.sleep(1.5)  # three metric periods
        end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
        lb = env["load_balancer_arn"]
        for tg in (blue, green):
            for metric, stat in (("RequestCount", "Sum"), ("TargetResponseTime", "p99")):
                assert _query(cloudwatch, _dims(tg, lb), metric, stat, start, end) == []
    finally:
        emulator.dataplane.update_settings(requests_per_second=previous)


@pytest.mark.parametrize("p99_ms", [0.0, 7.0, 40.0, 1234.5])
@pytest.mark.parametrize("k", [1, 10, 100, 250])
def test_latency_sample_has_the_profile_p99(p99_ms, k):
    samples = latency_sample_seconds(p99_ms, k)
    assert len(samples) == k
    assert nearest_rank_percentile(samples, 99) == pytest.approx(p99_ms / 1000)
    # unions of whole batches keep it
    assert nearest_rank_percentile(samples * 7, 99) == pytest.approx(p99_ms / 1000)


def test_nearest_rank_percentile():
    values = list(range(1, 101))
    assert nearest_rank_percentile(values, 99) == 99
    assert nearest_rank_percentile(values, 50) == 50
    assert nearest_rank_percentile(values, 100) == 100
    assert nearest_rank_percentile([5.0], 99) == 5.0
    assert nearest_rank_percentile([], 99) is None
