"""Every kind of template paas produces passes cfn-lint: no errors, no warnings, no informational findings.

cfn-lint checks each property against CloudFormation's resource schemas (types, ranges such as
HealthCheckIntervalSeconds 5-300, patterns such as the VPC id's, allowed RetentionInDays values)
and best practices (DeletionPolicy/UpdateReplacePolicy on stateful resources). No rule is ignored.
"""

from __future__ import annotations

import json

import cfnlint.api as cfnlint_api
import pytest

from paas.domain.manifest import HealthCheck, Manifest, ProcessSpec, Routing, parse_manifest
from paas.planner.infra_template import LOG_RETENTION_CHOICES, build_stack_template

REGION = "us-east-1"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/paas-dev/50dc6c495c0c9188/f2f7dc8efc522ab2"
LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/paas-dev/50dc6c495c0c9188"
VPC = "vpc-0123456789abcdef0"
ALB_SG = "sg-0123456789abcdef0"
WORST = "a" + "-" * 29  # the longest name, which also doubles into the longest derived names

SEVERAL_WEB = parse_manifest("""
[processes.web]
port = 8080
[processes.api]
port = 9000
[processes.api.routing]
paths = ["/api/*", "/v2/*"]
[processes.admin]
port = 65535
[processes.admin.routing]
paths = ["/*"]
host = "admin.example.com"
[processes.admin.health_check]
path = "/healthz?deep=1"
grace_period = "10m"
interval = 300
timeout = 120
healthy_threshold = 10
unhealthy_threshold = 10
healthy_codes = "200,202,300-399"
[processes.worker]
command = "celery -A app worker"
""")


def _worst_case() -> Manifest:
    procs = {f"p{i:02d}" + "-" * 26: ProcessSpec(f"p{i:02d}" + "-" * 26, port=1 + i,
                                                 routing=Routing((f"/p{i}/*",), f"*.p{i}.example.com"),
                                                 health_check=HealthCheck(grace_period=3600, interval=5, timeout=2,
                                                                          healthy_threshold=2, unhealthy_threshold=2))
             for i in range(19)}
    procs[WORST] = ProcessSpec(WORST, port=65535)
    return Manifest(processes=procs, routing=Routing(("/a/*", "/b/*", "/c/*", "/d/*"), "x.example.com"))


CASES = {
    "one web process": (Manifest(processes={"web": ProcessSpec("web", port=8080)}), {}),
    "one web process with a host": (
        Manifest(processes={"web": ProcessSpec("web", port=8080)}, routing=Routing(("/shop/*",), "shop.example.com")),
        {"priorities": {"web": 120}}),
    "several web processes with distinct routing": (SEVERAL_WEB, {"priorities": {"admin": 1, "api": 20000,
                                                                                 "web": 50000}}),
    "worker only": (Manifest(app_type="worker", processes={"worker": ProcessSpec("worker", command="run")}), {}),
    "worst-case names and twenty processes": (_worst_case(), {}),
    "no ALB security group, no load balancer output": (SEVERAL_WEB, {"alb_security_group": None,
                                                                     "load_balancer_arn": None}),
    "longest log retention": (SEVERAL_WEB, {"log_retention_days": max(LOG_RETENTION_CHOICES)}),
    "scheduled jobs on two processes": (parse_manifest("""
[processes.web]
port = 8080
[processes.worker]
command = "celery worker"
[jobs.nightly]
schedule = "cron(0 3 * * ? *)"
command = "report --daily"
[jobs.sweep]
schedule = "rate(15 minutes)"
command = "sweep"
process = "worker"
"""), {}),
    "shortest log retention": (SEVERAL_WEB, {"log_retention_days": min(LOG_RETENTION_CHOICES)}),
}


def lint(template: dict) -> list[str]:
    config = cfnlint_api.ManualArgs(regions=[REGION], include_checks=["I"])
    return [f"{m.rule.id} {m.message} at {'/'.join(str(p) for p in m.path)}"
            for m in cfnlint_api.lint(json.dumps(template), config=config)]


@pytest.mark.parametrize("case", list(CASES))
def test_templates_pass_cfn_lint(case):
    manifest, kw = CASES[case]
    app = env = WORST if "worst" in case else None
    args = {"vpc_id": VPC, "listener_arn": LISTENER, "load_balancer_arn": LB, "alb_security_group": ALB_SG, **kw}
    template = build_stack_template(app or "shop", env or "prod", manifest, **args)
    assert lint(template) == []


def test_the_linter_finds_what_is_wrong():
    """So that the test above can fail: an out-of-range interval, a bad VPC id, no deletion policy."""
    template = build_stack_template("shop", "prod", CASES["one web process"][0], vpc_id="vpc-1",
                                    listener_arn=LISTENER, alb_security_group=ALB_SG)
    template["Resources"]["webBlueTargetGroup"]["Properties"]["HealthCheckIntervalSeconds"] = 1
    del template["Resources"]["LogGroup"]["DeletionPolicy"]
    found = lint(template)
    assert any(f.startswith("E3034") and "HealthCheckIntervalSeconds" in f for f in found), found
    assert any("VpcId" in f for f in found), found
    assert any(f.startswith("I3011") for f in found), found
