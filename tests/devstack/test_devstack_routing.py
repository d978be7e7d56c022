"""Listener-rule routing: first match by priority, real conditions; shadowed rules get nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from paas.devstack.routing import Request, Rule, example_request, route


def _rule(key, priority, *conditions):
    return Rule(key, priority, tuple(conditions))


def host(*values):
    return {"Field": "host-header", "HostHeaderConfig": {"Values": list(values)}}


def path(*values):
    return {"Field": "path-pattern", "Values": list(values)}


@pytest.mark.parametrize(("req", "expected"), [
    (Request("shop.example.com", "/api/orders"), "api"),
    (Request("SHOP.Example.com", "/api/orders"), "api"),  # host names are case-insensitive
    (Request("shop.example.com", "/API/orders"), "shop"),  # paths are case-sensitive
    (Request("shop.example.com", "/"), "shop"),
    (Request("admin.example.com", "/x"), "wild"),  # *.example.com
    (Request("a1.example.org", "/x"), "one-char"),  # a?.example.org
    (Request("ab.example.org", "/x"), "one-char"),
    (Request("abc.example.org", "/x"), None),  # ? is exactly one character
    (Request("other.net", "/x"), None),
    (Request("shop.example.com", "/api/orders", method="DELETE"), "api"),
])
def test_first_matching_rule_by_priority_wins(req, expected):
    rules = [
        _rule("default", None),
        _rule("shop", 20, host("shop.example.com")),
        _rule("api", 10, host("shop.example.com"), path("/api/*")),  # lower number: checked first
        _rule("wild", 30, host("*.example.com")),
        _rule("one-char", 40, host("a?.example.org")),
    ]
    assert route(rules, req).key == (expected or "default")


def test_other_condition_types():
    rules = [
        _rule("beta", 1, {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Beta", "Values": ["y*"]}}),
        _rule("q", 2, {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}]}}),
        _rule("post", 3, {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST"]}}),
        _rule("office", 4, {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.1.0.0/16"]}}),
        _rule("default", None),
    ]
    assert route(rules, Request("h.example.com", headers=(("x-beta", "YES"),))).key == "beta"
    assert route(rules, Request("h.example.com", query=(("V", "2"),))).key == "q"
    assert route(rules, Request("h.example.com", method="POST")).key == "post"
    assert route(rules, Request("h.example.com", method="post")).key == "default"  # methods are case-sensitive
    assert route(rules, Request("h.example.com", source_ip="10.1.2.3")).key == "office"
    assert route(rules, Request("h.example.com")).key == "default"


def test_example_request_matches_its_own_rule():
    conditions = (host("*.shop.example.com"), path("/api/v?/*"),
                  {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "k", "Value": "v*"}]}})
    req = example_request(conditions, "lb.example.com")
    assert route([_rule("r", 5, *conditions), _rule("d", None)], req).key == "r"


def _dims(tg_arn, lb_arn):
    return [{"Name": "TargetGroup", "Value": tg_arn.rsplit(":", 1)[-1]},
            {"Name": "LoadBalancer", "Value": lb_arn.split(":loadbalancer/", 1)[-1]}]


def _requests(cloudwatch, tg_arn, lb_arn, start, end):
    values = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB",
                                                                 "MetricName": "RequestCount",
                                                                 "Dimensions": _dims(tg_arn, lb_arn)},
                                                      "Period": 3600, "Stat": "Sum"}}],
        StartTime=start, EndTime=end)["MetricDataResults"][0]["Values"]
    return sum(values)


def test_a_shadowed_rule_and_its_target_groups_get_no_traffic(apps, elbv2, cloudwatch, env, name, wait):
    """A broad rule at a lower priority catches the requests meant for a narrower rule behind it."""
    broad, shadowed, own = (apps.target_group(f"{name}-{x}") for x in ("b", "s", "o"))
    for tg, suffix in ((broad, "b"), (shadowed, "s"), (own, "o")):
        apps.service(f"{name}-{suffix}", apps.task_definition(f"{name}-{suffix}", f"repo/{name}:{suffix}"),
                     desired=1, tg=tg)
    hostname = f"{name}.example.com"
    listener = env["listener_arn"]
    forward = lambda tg: [{"Type": "forward", "TargetGroupArn": tg}]  # noqa: E731
    elbv2.create_rule(ListenerArn=listener, Priority=100, Actions=forward(broad),
                      Conditions=[{"Field": "host-header", "Values": [hostname]}])
    elbv2.create_rule(ListenerArn=listener, Priority=101, Actions=forward(shadowed),
                      Conditions=[{"Field": "host-header", "Values": [hostname]}, path("/api/*")])
    elbv2.create_rule(ListenerArn=listener, Priority=102, Actions=forward(own),
                      Conditions=[{"Field": "host-header", "Values": [f"api.{hostname}"]}])
    wait(lambda: all(apps.healthy_targets(tg) for tg in (broad, shadowed, own)), what="healthy targets")

    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    lb = env["load_balancer_arn"]
    wait(lambda: _requests(cloudwatch, own, lb, start, end) > 0, timeout=10, what="traffic to the unshadowed rule")
    wait(lambda: _requests(cloudwatch, broad, lb, start, end) >= 2 * _requests(cloudwatch, own, lb, start, end) - 2,
         timeout=10, what="the broad rule to receive its own and the shadowed rule's clients")
    assert _requests(cloudwatch, shadowed, lb, start, end) == 0
