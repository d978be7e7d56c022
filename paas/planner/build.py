"""Turn desired state into the AWS specs the driver sends (pure).

An environment without its own ALB security group (created before that setting existed) has
its security groups taken as the ALB's, as before.
"""

from __future__ import annotations

from paas.domain import names
from paas.domain.manifest import JobSpec
from paas.domain.observed import Observed
from paas.domain.specs import (
    ScheduleSpec, ServiceSpec, StackSpec, TaskDefSpec, TaskRunSpec, family, service_name, stack_name,
)
from paas.planner.desired import Desired, Policy, ReleaseSpec


def tags(d: Desired, **extra: str) -> dict[str, str]:
    return {"paas:app": d.app, "paas:env": d.env.name, **extra}


def stack_spec(d: Desired, release: ReleaseSpec) -> StackSpec:
    from paas.planner.infra_template import build_stack_template

    from paas.planner.priorities import manifest_for_env

    alb_sg = d.env.alb_security_group
    template = build_stack_template(
        d.app, d.env.name, manifest_for_env(d, release.manifest), vpc_id=d.env.vpc_id,
        listener_arn=d.env.listener_arn,
        priorities=d.rule_priorities or None,
        alb_security_group=alb_sg,
        alb_security_groups=() if alb_sg else tuple(d.env.security_groups),
    )
    return StackSpec(name=stack_name(d.app, d.env.name), template=template, tags=tags(d))


def task_def_spec(d: Desired, process: str, release: ReleaseSpec, obs: Observed) -> TaskDefSpec:
    proc = release.manifest.processes.get(process)
    size = release.formation.get(process, {})
    outputs = obs.stack.outputs if obs.stack else {}
    return TaskDefSpec(
        family=family(d.app, d.env.name, process),
        container_name=process,
        image=release.pinned_image,
        cpu=int(size.get("cpu", proc.cpu if proc else 256)),
        memory=int(size.get("memory", proc.memory if proc else 512)),
        port=proc.port if proc else None,
        command=proc.command if proc else None,
        environment=dict(release.vars),
        secrets={name: secret_value_from(ref) for name, ref in release.secrets.items()},
        log_group=outputs.get("LogGroupName"),
        region=d.env.region,
        execution_role_arn=outputs.get("ExecutionRoleArn"),
        task_role_arn=outputs.get("TaskRoleArn"),
        tags=tags(d, **{"paas:process": process, "paas:release": str(release.task_version)}),
    )


def service_spec(d: Desired, process: str, colour: str, task_definition: str, count: int,
                 release: ReleaseSpec, obs: Observed, policy: Policy) -> ServiceSpec:
    proc = release.manifest.processes.get(process)
    infra = obs.stack.infra.get(process) if obs.stack else None
    sg = obs.stack.outputs.get("SecurityGroupId") if obs.stack else None
    tg = infra.target_group(colour) if infra else None
    return ServiceSpec(
        cluster=d.env.cluster,
        name=service_name(d.app, process, colour),
        task_definition=task_definition,
        desired_count=count,
        subnets=tuple(d.env.subnets),
        security_groups=tuple(d.env.security_groups) + ((sg,) if sg else ()),
        target_group_arn=tg,
        container_name=process,
        container_port=proc.port if proc else None,
        minimum_healthy_percent=policy.minimum_healthy_percent,
        maximum_percent=policy.maximum_percent,
        tags=tags(d, **{"paas:process": process, "paas:colour": colour}),
        # ECS ignores failing ELB health checks this long after a task starts; only behind a target group
        health_check_grace_period=proc.health_check.grace_period if proc is not None and proc.is_web and tg else None,
        assign_public_ip=d.env.assign_public_ip,
    )


def secret_value_from(ref: dict) -> str:
    """A container secret's ``valueFrom`` for a stored reference ``{"arn", "version"}``.

    A Secrets Manager secret is pinned to its version: ``<ARN>:<json-key>:<version-stage>:
    <version-id>`` with key and stage empty, so a release runs the value it was made with.
    An SSM parameter cannot be pinned (ECS takes its name or ARN only): the ARN as is.
    """
    arn, version = ref["arn"], ref.get("version")
    if ":secretsmanager:" in arn and isinstance(version, str) and version:
        return f"{arn}:::{version}"
    return arn


def task_security_groups(d: Desired, obs: Observed) -> tuple[str, ...]:
    """The environment's task security groups plus the stack's own, as the services get them."""
    sg = obs.stack.outputs.get("SecurityGroupId") if obs.stack else None
    return tuple(d.env.security_groups) + ((sg,) if sg else ())


def task_run_spec(d: Desired, release: ReleaseSpec, process: str, command: str, obs: Observed, started_by: str,
                  cpu: int | None = None, memory: int | None = None) -> TaskRunSpec | None:
    """RunTask of `release`'s task definition for `process` with `command`; None until it is registered."""
    import shlex

    td = obs.task_definitions.get(d.td_key(process, release))
    if td is None:
        return None
    return TaskRunSpec(
        cluster=d.env.cluster, task_definition=td, container_name=process, command=tuple(shlex.split(command)),
        subnets=tuple(d.env.subnets), security_groups=task_security_groups(d, obs), started_by=started_by,
        assign_public_ip=d.env.assign_public_ip, cpu=cpu, memory=memory,
        tags=tags(d, **{"paas:process": process, "paas:release": str(release.task_version)}),
    )


def cluster_arn(task_definition_arn: str, cluster: str) -> str:
    """The cluster's ARN from a task definition's (same partition, region and account)."""
    head = task_definition_arn.split(":task-definition/", 1)[0]
    return f"{head}:cluster/{cluster}"


def schedule_spec(d: Desired, release: ReleaseSpec, job: JobSpec, obs: Observed) -> ScheduleSpec | None:
    """A job's schedule running `release`; None until its task definition and the stack's scheduler
    role exist."""
    import shlex

    process = release.manifest.task_process(job.process)
    td = obs.task_definitions.get(d.td_key(process, release))
    role = obs.stack.outputs.get("SchedulerRoleArn") if obs.stack else None
    if td is None or role is None:
        return None
    return ScheduleSpec(
        group=names.schedule_group(d.app, d.env.name), name=names.schedule_name(job.name),
        expression=job.schedule, cluster_arn=cluster_arn(td, d.env.cluster), role_arn=role, task_definition=td,
        container_name=process, command=tuple(shlex.split(job.command)), subnets=tuple(d.env.subnets),
        security_groups=task_security_groups(d, obs), task_group=names.job_task_group(job.name),
        assign_public_ip=d.env.assign_public_ip, cpu=job.cpu, memory=job.memory, owner=tags(d),
    )
