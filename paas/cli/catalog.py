"""Environments and apps."""

from __future__ import annotations

import click

from paas.cli.common import Group, app_argument, database, json_option, print_json, print_table, resolve_app, transaction
from paas.domain import validate as v


def _csv(value: str | None) -> list[str]:
    return [s.strip() for s in value.split(",") if s.strip()] if value else []


@click.group(cls=Group)
def env():
    """Deploy targets: region, ECS cluster, network, ALB listener."""


@env.command("create")
@click.argument("name")
@click.option("--region", required=True, help="AWS region, e.g. eu-west-1.")
@click.option("--cluster", required=True, help="ECS cluster name or ARN.")
@click.option("--listener-arn", help="ALB listener that web processes are routed from.")
@click.option("--vpc-id", help="VPC of the load balancer, where each web process gets its target groups, "
              "e.g. vpc-0abc12345def67890.")
@click.option("--subnets", help="Comma-separated subnet ids the tasks run in.")
@click.option("--security-groups", help="Comma-separated security group ids the tasks get besides their own.")
@click.option("--alb-security-group", help="The load balancer's security group: each app's task security "
              "group admits it on the container port.")
@click.option("--assign-public-ip", is_flag=True, help="Give tasks a public IP (public subnets without a NAT "
              "gateway; private subnets need a NAT gateway or VPC endpoints instead).")
@click.option("--app-domain", help="Apps that route no host of their own get APP.DOMAIN, e.g. "
              "staging.example.com (so many apps share one listener).")
@click.option("--role-arn", help="Role to assume for this environment (cross-account).")
@click.option("--require-message", is_flag=True, help="Refuse every request without -m \"why\".")
@json_option
def env_create(name, region, cluster, listener_arn, vpc_id, subnets, security_groups, alb_security_group,
               assign_public_ip, app_domain, role_arn, require_message, as_json):
    """Create environment NAME.

    Every setting is checked in the form AWS issues it.

    Web processes need --listener-arn, --vpc-id, --subnets and --alb-security-group; an
    environment for worker processes only needs none of them.

    \b
    Example:
      paas env create staging --region eu-west-1 --cluster staging \\
          --listener-arn arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/edge/0123456789abcdef/0123456789abcdef \\
          --vpc-id vpc-0abc12345def67890 --subnets subnet-0a1b2c3d,subnet-4e5f6a7b \\
          --alb-security-group sg-0123abcd --app-domain staging.example.com
    """
    from paas.service.catalog import create_env

    v.name(name, "environment name")
    with transaction() as db:
        row = create_env(db, name, region, cluster, listener_arn=listener_arn, vpc_id=vpc_id,
                         subnets=_csv(subnets), security_groups=_csv(security_groups), role_arn=role_arn,
                         alb_security_group=alb_security_group, assign_public_ip=assign_public_ip,
                         app_domain=app_domain, require_message=require_message)
    if as_json:
        print_json(_env_json(row))
    else:
        click.echo(f"environment {name} created ({region}, cluster {cluster})")


def _env_json(r) -> dict:
    return {"name": r.name, "region": r.region, "cluster": r.cluster, "listener_arn": r.listener_arn,
            "vpc_id": r.vpc_id, "subnets": list(r.subnets), "security_groups": list(r.security_groups),
            "role_arn": r.role_arn, "alb_security_group": r.alb_security_group,
            "assign_public_ip": r.assign_public_ip, "app_domain": r.app_domain,
            "require_message": r.require_message,
            "created_at": r.created_at}


@env.command("list")
@json_option
def env_list(as_json):
    """List environments.

    \b
    Example:
      paas env list --json
    """
    from paas.db.catalog import list_envs

    with database() as db:
        rows = list_envs(db)
    if as_json:
        print_json([_env_json(r) for r in rows])
        return
    from paas.cli.table import Col

    print_table([Col("name", keep=True), Col("region", keep=True), Col("cluster", floor=10),
                 Col("app domain", floor=12, drop=2), Col("listener", floor=12, drop=3), Col("role", floor=12, drop=4),
                 Col("require -m", drop=1)],
                [(r.name, r.region, r.cluster, r.app_domain, _short_arn(r.listener_arn), _short_arn(r.role_arn),
                  r.require_message) for r in rows])


def _short_arn(arn: str | None) -> str | None:
    """listener/app/edge/…/…, role/paas: the part after the account."""
    return arn.split(":", 5)[-1] if arn else None


@click.group(cls=Group)
def apps():
    """Applications: a name, a type and a team."""


@apps.command("create")
@click.argument("name")
@click.option("--type", "app_type", type=click.Choice(v.APP_TYPES), default="web", show_default=True,
              help="What the app runs: web (a process serving HTTP), worker or batch; sets the defaults and the "
                   "garbage-collection policy.")
@click.option("--team", help="The team that owns the app (one line, at most 100 characters).")
@json_option
def apps_create(name, app_type, team, as_json):
    """Create app NAME.

    \b
    Example:
      paas apps create checkout --type web --team payments
    """
    from paas.service.catalog import create_app

    v.name(name, "app name")
    with transaction() as db:
        row = create_app(db, name, app_type, team)
    if as_json:
        print_json({"name": row.name, "type": row.app_type, "team": row.team, "created_at": row.created_at})
    else:
        click.echo(f"app {name} created ({app_type})")


@apps.command("list")
@json_option
def apps_list(as_json):
    """List apps, with their release counts and last deploy.

    \b
    Example:
      paas apps list
    """
    from paas.db.catalog import list_apps

    with database() as db:
        rows = list_apps(db)
    if as_json:
        print_json([{"name": r.name, "type": r.app_type, "team": r.team, "created_at": r.created_at,
                     "releases": r.releases, "last_deploy_at": r.last_deploy_at} for r in rows])
        return
    print_table(["app", "type", "team", "releases", "last deploy"],
                [(r.name, r.app_type, r.team, r.releases, r.last_deploy_at) for r in rows])


@apps.command("show")
@app_argument
@json_option
def apps_show(app, as_json):
    """An app, its processes and its release in each environment.

    \b
    Example:
      paas apps show checkout
    """
    from paas.db.catalog import live_releases_of, processes
    from paas.service.catalog import get_app

    name = resolve_app(app)
    with database() as db:
        a = get_app(db, name)
        procs = processes(db, a.id)
        current = live_releases_of(db, a.id)
    data = {
        "name": a.name, "type": a.app_type, "team": a.team, "created_at": a.created_at,
        "gc_policy": a.gc_policy,
        "processes": [{"name": p.name, "command": p.command, "port": p.port,
                       "health_check_path": p.health_check_path} for p in procs],
        "environments": [{"environment": c.environment, "release_version": c.release_version, "image": c.image,
                          "image_digest": c.image_digest, "deployed_at": c.deployed_at,
                          "known_good_at": c.known_good_at} for c in current],
    }
    if as_json:
        print_json(data)
        return
    click.echo(f"{a.name}  type={a.app_type}  team={a.team or '-'}")
    print_table(["process", "command", "port", "health check"],
                [(p.name, p.command, p.port, p.health_check_path) for p in procs])
    print_table(["environment", "release", "image", "deployed", "known-good"],
                [(c.environment, f"v{c.release_version}", c.image, c.deployed_at, c.known_good_at) for c in current])


@apps.command("gc-policy")
@click.argument("name")
@click.option("--keep-task-definitions", type=str, help="Task-definition revisions to keep per process (1-1000).")
@click.option("--previous-colour-keep", help="How long the previous colour keeps running after a blue-green or "
              "canary deploy, e.g. 30m (0: scale it down at once).")
@click.option("--idle-scale-to-zero", help="When a colour with no traffic that no rollback needs is scaled to 0, "
              "e.g. 2h, or 'never'.")
@click.option("--reset", is_flag=True, help="Drop the app's overrides first (back to its app type's defaults).")
@json_option
def apps_gc_policy(name, keep_task_definitions, previous_colour_keep, idle_scale_to_zero, reset, as_json):
    """Show or override APP's garbage-collection policy.

    Overrides are stored in apps.gc_policy; the rest comes from the app type.

    \b
    Examples:
      paas apps gc-policy checkout
      paas apps gc-policy checkout --keep-task-definitions 3 --previous-colour-keep 30m --idle-scale-to-zero never
    """
    from paas.service.gc import effective_policy, set_policy

    changes = {k: val for k, val in (("keep_task_definitions", keep_task_definitions),
                                     ("previous_colour_keep_seconds", previous_colour_keep),
                                     ("idle_scale_to_zero_seconds", idle_scale_to_zero)) if val is not None}
    if changes or reset:
        with transaction() as db:
            row, overrides = set_policy(db, name, changes, reset=reset)
    else:
        from paas.service.catalog import get_app

        with database() as db:
            row = get_app(db, name)
        overrides = dict(row.gc_policy or {})
    policy = effective_policy(row).to_json()
    if as_json:
        print_json({"app": row.name, "type": row.app_type, "overrides": overrides, "policy": policy})
        return
    from paas.cli.common import human_seconds

    def show(key, value):
        if value is None:
            return "never"
        return str(value) if key == "keep_task_definitions" else human_seconds(value)

    from paas.settings import gc_settings

    settings = gc_settings()

    def source(key):
        return "app override" if key in overrides else "PAAS_GC_* setting" if key in settings else \
            f"{row.app_type} default"

    print_table(["setting", "value", "from"],
                [(k.replace("_", " "), show(k, val), source(k)) for k, val in policy.items()],
                title=f"GC policy of {row.name} ({row.app_type})")
