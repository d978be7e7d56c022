"""What build.py hands the driver for health checks and networking, on plain data."""

from __future__ import annotations

from datetime import datetime, timezone

from paas.domain.health import HealthCheck
from paas.domain.manifest import Manifest, ProcessSpec
from paas.domain.observed import Observed, StackState
from paas.domain.specs import ProcessInfra
from paas.planner import build
from paas.planner.desired import Desired, EnvSpec, Policy, ReleaseSpec

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
ENV = EnvSpec(1, "dev", "us-east-1", "c1", "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/lb/1/2",
              "vpc-1", ("subnet-1",), ("sg-alb",))
MANIFEST = Manifest(processes={
    "web": ProcessSpec("web", port=8080, health_check=HealthCheck(grace_period=240)),
    "worker": ProcessSpec("worker", command="celery worker"),
})


def rel() -> ReleaseSpec:
    return ReleaseSpec(id=1, version=1, image="shop:1", digest=None, vars={}, secrets={},
                       formation={"web": {"count": 1}, "worker": {"count": 1}}, manifest=MANIFEST)


def desired() -> Desired:
    return Desired(app="shop", app_id=1, app_type="web", env=ENV, active=None, pending=None, current=rel(),
                   current_deployment_id=1, current_finished_at=NOW, known_good=None)


def observed(with_target_groups: bool = True) -> Observed:
    infra = {"web": ProcessInfra("arn:tg/blue", "arn:tg/green", "arn:rule")} if with_target_groups else {}
    return Observed(stack=StackState("paas-shop-dev", "CREATE_COMPLETE", None, infra=infra,
                                     outputs={"SecurityGroupId": "sg-tasks"}), services={}, targets={}, weights={},
                    task_definitions={}, at=NOW)


def test_web_services_get_the_grace_period_workers_do_not():
    d, r = desired(), rel()
    web = build.service_spec(d, "web", "blue", "td", 1, r, observed(), Policy())
    worker = build.service_spec(d, "worker", "blue", "td", 1, r, observed(), Policy())
    assert web.target_group_arn == "arn:tg/blue" and web.health_check_grace_period == 240
    assert worker.target_group_arn is None and worker.health_check_grace_period is None
    # before the stack reports its target groups there is no load balancer, so no grace period
    early = build.service_spec(d, "web", "blue", "td", 1, r, observed(with_target_groups=False), Policy())
    assert early.health_check_grace_period is None


def test_default_grace_period_is_sixty_seconds_and_no_public_ip():
    m = Manifest(processes={"web": ProcessSpec("web", port=8080)})
    r = ReleaseSpec(id=1, version=1, image="shop:1", digest=None, vars={}, secrets={},
                    formation={"web": {"count": 1}}, manifest=m)
    spec = build.service_spec(desired(), "web", "green", "td", 1, r, observed(), Policy())
    assert spec.health_check_grace_period == 60 and spec.assign_public_ip is False
    assert spec.security_groups == ("sg-alb", "sg-tasks")


def test_stack_admits_the_environments_alb_group_until_it_has_its_own_setting():
    spec = build.stack_spec(desired(), rel())
    ingress = spec.template["Resources"]["TaskSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [(i["FromPort"], i["SourceSecurityGroupId"]) for i in ingress] == [(8080, "sg-alb")]
    assert spec.name == "paas-shop-dev"
