"""Small builders shared by the driver tests."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from paas.domain.manifest import Manifest, ProcessSpec, Routing
from paas.domain.specs import ServiceSpec, StackSpec, TaskDefSpec, stack_name
from paas.planner.infra_template import build_stack_template


def manifest(*, health: str = "/health", extra: bool = False, paths: tuple[str, ...] = ("/shop/*",)) -> Manifest:
    procs = {"web": ProcessSpec("web", port=8080, health_check_path=health),
             "worker": ProcessSpec("worker", command="celery -A app worker")}
    if extra:
        procs["api-v2"] = ProcessSpec("api-v2", port=9000)
    return Manifest(processes=procs, routing=Routing(paths=paths))


def stack_spec(env, app: str, m: Manifest | None = None) -> StackSpec:
    t = build_stack_template(app, "test", m or manifest(), vpc_id=env.vpc_id,
                             listener_arn=env.listener_arn, load_balancer_arn=env.load_balancer_arn,
                             alb_security_groups=tuple(env.security_groups))
    return StackSpec(stack_name(app, "test"), t, {"paas:app": app, "paas:env": "test"})


def taskdef(app: str, release: int, *, image: str = "nginx:1.27", process: str = "web") -> TaskDefSpec:
    return TaskDefSpec(
        family=f"{app}-test-{process}", container_name=process, image=image, cpu=256, memory=512,
        port=8080, command="gunicorn app:wsgi --bind 0.0.0.0:8080",
        environment={"B": "2", "A": "1"}, secrets={"DB_PASSWORD": f"arn:aws:ssm:us-east-1:123456789012:parameter/paas/test/{app}/DB_PASSWORD"},
        log_group=f"/paas/test/{app}", region="us-east-1", execution_role_arn=None, task_role_arn=None,
        tags={"paas:app": app, "paas:env": "test", "paas:process": process, "paas:release": str(release)},
    )


def owner(app: str, process: str | None = "web") -> dict[str, str]:
    tags = {"paas:app": app, "paas:env": "test"}
    if process:
        tags["paas:process"] = process
    return tags


def service(env, name: str, task_definition: str, *, count: int = 0, tg: str | None = None,
            app: str | None = None) -> ServiceSpec:
    return ServiceSpec(cluster=env.cluster, name=name, task_definition=task_definition,
                       desired_count=count, subnets=tuple(env.subnets),
                       security_groups=tuple(env.security_groups), target_group_arn=tg,
                       container_name="web", container_port=8080 if tg else None,
                       tags={**owner(app or name), "paas:colour": "blue"})


def set_moto_stack_status(aws_env, name: str, status: str) -> None:
    """moto never reaches failure states by itself: set one in its in-process backend."""
    from moto.cloudformation.models import cloudformation_backends

    from tests.aws.conftest import ACCOUNT

    with aws_env.moto_state():
        backend = cloudformation_backends[ACCOUNT][aws_env.region]
        stack = next(s for s in backend.stacks.values() if s.name == name)
        stack.status = status


@contextmanager
def sent_params(client: Any, service_id: str, operation: str) -> Iterator[list[dict]]:
    """Every parameter dict a client sends for one operation while the block runs (a
    botocore event hook: what goes on the wire, not what the code meant to send)."""
    seen: list[dict] = []
    event = f"before-parameter-build.{service_id}.{operation}"

    def record(params: dict, **_: Any) -> None:
        seen.append(dict(params))

    uid = f"paas-test-{id(seen)}"
    client.meta.events.register(event, record, unique_id=uid)
    try:
        yield seen
    finally:
        client.meta.events.unregister(event, record, unique_id=uid)
