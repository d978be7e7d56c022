"""Environment settings: AWS identifiers in the shapes AWS issues them, checked before they are stored.

A typo in a region, cluster or ARN would otherwise surface as an AccessDenied or a NotFound on the
first deploy, long after `paas env create` said yes. Formats (AWS docs, and the patterns
cfn-lint checks templates against):

* region: ``us-east-1``, ``eu-central-2``, ``us-gov-west-1``, ``cn-north-1``, ``ap-southeast-4``
* cluster: an ECS cluster name (1-255 of ``[A-Za-z0-9_-]``) or a cluster ARN
* listener: ``arn:aws[-cn|-us-gov]:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/ID/ID``
  (an Application Load Balancer's; NAME ≤ 32 characters, IDs 16 hex digits)
* VPC, subnet, security group: ``vpc-``/``subnet-``/``sg-`` and 8 or 17 hex digits
* role: ``arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`` (NAME ≤ 64 of ``[A-Za-z0-9+=,.@_-]``)
* endpoint URL: ``http(s)://host[:port][/path]`` without credentials, spaces or controls

An environment that routes web traffic also needs a VPC, subnets, the listener and the ALB's
security group (`missing_for_web`); a worker-only environment needs none of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from paas.domain import limits
from paas.domain.errors import UserError
from paas.domain.validate import CONTROL_RE, show

_PARTITION = r"aws(?:-cn|-us-gov|-iso|-iso-b|-iso-e|-iso-f|-eusc)?"
_REGION = r"[a-z]{2}(?:-gov|-iso|-isob)?-[a-z]+-[0-9]{1,2}"
_ACCOUNT = r"[0-9]{12}"

REGION_RE = re.compile(_REGION, re.ASCII)
CLUSTER_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,255}", re.ASCII)
CLUSTER_ARN_RE = re.compile(rf"arn:{_PARTITION}:ecs:(?P<region>{_REGION}):{_ACCOUNT}:cluster/[A-Za-z0-9_-]{{1,255}}",
                            re.ASCII)
LISTENER_ARN_RE = re.compile(
    rf"arn:{_PARTITION}:elasticloadbalancing:(?P<region>{_REGION}):{_ACCOUNT}:"
    r"listener/app/[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?/[0-9a-f]{16}/[0-9a-f]{16}", re.ASCII)
VPC_RE = re.compile(r"vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})", re.ASCII)
SUBNET_RE = re.compile(r"subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})", re.ASCII)
SECURITY_GROUP_RE = re.compile(r"sg-(?:[0-9a-f]{8}|[0-9a-f]{17})", re.ASCII)
ROLE_ARN_RE = re.compile(rf"arn:{_PARTITION}:iam::{_ACCOUNT}:role/(?:[\x21-\x7e]{{1,510}}/)?[A-Za-z0-9+=,.@_-]{{1,64}}",
                         re.ASCII)
ENDPOINT_RE = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]*)?", re.ASCII)


def _check(value: object, pattern: re.Pattern, what: str, example: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise UserError(f"invalid {what} {show(value)}: expected e.g. {example}")
    return value


def region(value: str) -> str:
    return _check(value, REGION_RE, "region", "us-east-1")


def cluster(value: str) -> str:
    """An ECS cluster name or ARN."""
    if isinstance(value, str) and value.startswith("arn:"):
        return _check(value, CLUSTER_ARN_RE, "cluster ARN", "arn:aws:ecs:us-east-1:123456789012:cluster/prod")
    return _check(value, CLUSTER_NAME_RE, "cluster name", "prod (1-255 letters, digits, '-' and '_')")


def listener_arn(value: str) -> str:
    return _check(value, LISTENER_ARN_RE, "listener ARN",
                  "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2")


def vpc_id(value: str) -> str:
    return _check(value, VPC_RE, "VPC id", "vpc-0123456789abcdef0")


def subnet_ids(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return _ids(values, SUBNET_RE, "subnet id", "subnet-0123456789abcdef0", limits.SUBNETS_MAX)


def security_group_id(value: str, what: str = "security group id") -> str:
    return _check(value, SECURITY_GROUP_RE, what, "sg-0123456789abcdef0")


def security_group_ids(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return _ids(values, SECURITY_GROUP_RE, "security group id", "sg-0123456789abcdef0", limits.SECURITY_GROUPS_MAX)


def _ids(values, pattern: re.Pattern, what: str, example: str, most: int) -> tuple[str, ...]:
    if not isinstance(values, (list, tuple)):
        raise UserError(f"invalid {what}s: expected a list")
    if len(values) > most:
        raise UserError(f"too many {what}s: {len(values)}, at most {most} (ECS awsvpc configuration)")
    out = tuple(_check(v, pattern, what, example) for v in values)
    if len(set(out)) != len(out):
        raise UserError(f"a {what} is given twice")
    return out


def role_arn(value: str) -> str:
    return _check(value, ROLE_ARN_RE, "role ARN", "arn:aws:iam::123456789012:role/paas-deployer")


def endpoint_url(value: str) -> str:
    if isinstance(value, str) and (len(value) > limits.ENDPOINT_URL_MAX or CONTROL_RE.search(value)):
        raise UserError("invalid endpoint URL: at most 2048 printable characters")
    return _check(value, ENDPOINT_RE, "endpoint URL", "https://ecs.us-east-1.amazonaws.com or http://127.0.0.1:5000")


@dataclass(frozen=True)
class EnvironmentSettings:
    """An environment's AWS settings, each checked (built by `settings`)."""

    region: str
    cluster: str
    listener_arn: str | None = None
    vpc_id: str | None = None
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()  # the tasks' groups, besides the stack's own
    alb_security_group: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None
    assign_public_ip: bool = False


# the keyword names of `settings` shadow the checks above
_region, _cluster, _listener_arn, _vpc_id, _role_arn, _endpoint_url = (
    region, cluster, listener_arn, vpc_id, role_arn, endpoint_url)


def settings(*, region: str, cluster: str, listener_arn: str | None = None, vpc_id: str | None = None,
             subnets=(), security_groups=(), alb_security_group: str | None = None,
             role_arn: str | None = None, endpoint_url: str | None = None,
             assign_public_ip: bool = False) -> EnvironmentSettings:
    """Every setting of `paas env create/update`, checked; regions of the ARNs must agree."""
    s = EnvironmentSettings(
        region=_region(region),
        cluster=_cluster(cluster),
        listener_arn=None if listener_arn is None else _listener_arn(listener_arn),
        vpc_id=None if vpc_id is None else _vpc_id(vpc_id),
        subnets=subnet_ids(subnets or ()),
        security_groups=security_group_ids(security_groups or ()),
        alb_security_group=None if alb_security_group is None else security_group_id(
            alb_security_group, "ALB security group id"),
        role_arn=None if role_arn is None else _role_arn(role_arn),
        endpoint_url=None if endpoint_url is None else _endpoint_url(endpoint_url),
        assign_public_ip=bool(assign_public_ip),
    )
    for what, arn, pattern in (("listener", s.listener_arn, LISTENER_ARN_RE), ("cluster", s.cluster, CLUSTER_ARN_RE)):
        m = pattern.fullmatch(arn) if arn else None
        if m and m.group("region") != s.region:
            raise UserError(f"the {what} ARN is in {m.group('region')}, the environment in {s.region}")
    return s


def missing_for_web(s: EnvironmentSettings) -> list[str]:
    """What an environment lacks to route web traffic (empty: nothing). A web process needs a
    listener to hang its rule on, a VPC for its target groups, subnets for its tasks, and the
    ALB's security group so the task security group can admit the load balancer."""
    return [what for what, ok in (("--listener-arn", s.listener_arn), ("--vpc-id", s.vpc_id),
                                  ("--subnets", s.subnets), ("--alb-security-group", s.alb_security_group)) if not ok]


def require_web_ready(s: EnvironmentSettings, env_name: str, app: str | None = None) -> None:
    """UserError when an app with web processes is deployed to an environment that cannot route it."""
    missing = missing_for_web(s)
    if missing:
        who = f"{app} has web processes, but " if app else ""
        raise UserError(f"{who}environment {env_name} cannot route web traffic: it has no "
                        f"{', '.join(missing)} (options of paas env create)")
