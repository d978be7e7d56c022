"""The infrastructure stack of one app+environment, as a CloudFormation template (pure).

No boto3, no I/O: `build_stack_template(...)` returns a JSON-able dict; the driver sends it.

What the stack owns (DESIGN.md §3):

* per *web* process (``ProcessSpec.port is not None``):
  - two target groups, blue and green (TargetType ``ip`` for awsvpc tasks, HTTP, health check on
    the manifest's path, short intervals). Blue's Port is the process port, green's the port + 1
    (port − 1 for 65535), so the two colours are distinct target groups on separate ports as the
    design asks. ECS registers each task with its real container port, which overrides the
    target group's default port, so tasks listen on the process port whatever the colour.
    Names are left to CloudFormation (``<stack>-<logical id>-<random>``, ≤ 32 chars), so a
    replacement never collides with the old resource's name.
  - one listener rule on the environment's listener: ``path-pattern`` from ``routing.paths``,
    ``host-header`` when ``routing.host`` is set, and a forward action to both target groups
    weighted blue 100 / green 0. The controller moves the weights afterwards with one
    ModifyRule call; CloudFormation's copy of the weights is only the initial state.
* a log group ``/paas/<env>/<app>`` (30 days), a task role and an execution role (trust
  ``ecs-tasks.amazonaws.com``; the execution role has AmazonECSTaskExecutionRolePolicy and may
  read the app's secrets: ``ssm:GetParameters`` on ``parameter/paas/<env>/<app>/*`` and
  ``secretsmanager:GetSecretValue`` on ``secret:paas/<env>/<app>/*``), and a security group for
  the tasks in the VPC (ingress on the web ports from the ALB's security groups when given).

IAM roles have no explicit names, so CAPABILITY_IAM is enough.

Output keys (process names match ``^[a-z][a-z0-9-]{0,29}$``; output keys and logical ids must be
alphanumeric): the process name with each ``-`` replaced by ``X`` (process names are lower
case, so this is reversible and collision-free), followed by a fixed suffix::

    <enc>BlueTargetGroup   <enc>GreenTargetGroup   <enc>ListenerRule

e.g. ``api-v2`` → ``apiXv2BlueTargetGroup``. Plus ``TaskRoleArn``, ``ExecutionRoleArn``,
``LogGroupName``, ``SecurityGroupId`` (and ``LoadBalancerArn`` when given). The driver parses
them back into ``{process: ProcessInfra}`` (paas/aws/boto_driver.py keeps its own copy of this
tiny scheme so that paas.aws does not import the planner; tests/aws round-trip it).

Listener rule priorities (ALB: 1..50000, unique per listener) are derived deterministically from
app, env, process and `priority_seed`: sha256 → an integer in a band. Rules with a host or a
path other than the catch-all ``/*`` get the band 1..25000 and catch-all rules 25001..50000, so
specific rules are evaluated before catch-alls. Collisions: with n rules on a listener the chance
that a new rule collides is about n/25000. ELBv2 rejects a duplicate priority
(PriorityInUse); for a new stack that fails the create (ROLLBACK_COMPLETE, which the driver
deletes so it can be re-created). The caller resolves it by bumping `priority_seed` (stored with
the app+environment) — the priority is a pure function of its inputs, so re-rendering the
template for an unchanged app never moves its rule.

moto (5.2) CloudFormation, checked against this template: every resource type here is created
(TargetGroup, ListenerRule — visible through DescribeRules with its weighted forward action —
LogGroup, IAM Role with inline policy, SecurityGroup with ingress). Gaps: TargetGroup Tags and
TargetGroupAttributes and Role ManagedPolicyArns are ignored; a changed TargetGroup property
drops the target group from the stack (no in-place update in moto); DeleteStack leaves target
groups and listener rules behind. None needs a change here; see tests/aws/test_infra_stack.py.
"""

from __future__ import annotations

import hashlib
import re

from paas.domain.errors import UserError
from paas.domain.manifest import Manifest

PRIORITY_BAND = 25000
MAX_CONDITION_VALUES = 5  # ALB: at most 5 match evaluations per rule
EXECUTION_POLICY = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
LOG_RETENTION_DAYS = 30

SUFFIX_BLUE = "BlueTargetGroup"
SUFFIX_GREEN = "GreenTargetGroup"
SUFFIX_RULE = "ListenerRule"

_PROCESS_RE = re.compile(r"^[a-z][a-z0-9-]{0,29}$")


def encode_process(name: str) -> str:
    """``api-v2`` → ``apiXv2`` (alphanumeric, reversible for valid process names)."""
    if not _PROCESS_RE.fullmatch(name):
        raise UserError(f"invalid process name {name!r} (expected ^[a-z][a-z0-9-]{{0,29}}$)")
    return name.replace("-", "X")


def decode_process(enc: str) -> str:
    return enc.replace("X", "-")


def output_keys(process: str) -> dict[str, str]:
    e = encode_process(process)
    return {"blue": e + SUFFIX_BLUE, "green": e + SUFFIX_GREEN, "rule": e + SUFFIX_RULE}


def log_group_name(app: str, env: str) -> str:
    return f"/paas/{env}/{app}"


def secrets_prefix(app: str, env: str) -> str:
    return f"/paas/{env}/{app}/"


def rule_priority(app: str, env: str, process: str, *, catch_all: bool, seed: int | str = 0) -> int:
    digest = hashlib.sha256(f"{app}\0{env}\0{process}\0{seed}".encode()).digest()
    n = int.from_bytes(digest[:8], "big") % PRIORITY_BAND
    return 1 + n + (PRIORITY_BAND if catch_all else 0)


def _green_port(port: int) -> int:
    return port + 1 if port < 65535 else port - 1


def _conditions(manifest: Manifest) -> list[dict]:
    paths = list(manifest.routing.paths)
    host = manifest.routing.host
    if len(paths) + (1 if host else 0) > MAX_CONDITION_VALUES:
        raise UserError(f"routing: at most {MAX_CONDITION_VALUES} path/host values in total "
                        f"(ALB limit per listener rule); got {len(paths)} paths"
                        + (" and a host" if host else ""))
    conds: list[dict] = [{"Field": "path-pattern", "PathPatternConfig": {"Values": paths}}]
    if host:
        conds.append({"Field": "host-header", "HostHeaderConfig": {"Values": [host]}})
    return conds


def build_stack_template(app: str, env: str, manifest: Manifest, *, vpc_id: str,
                         listener_arn: str, load_balancer_arn: str | None = None,
                         priority_seed: int | str = 0,
                         alb_security_groups: tuple[str, ...] = ()) -> dict:
    """The CloudFormation template (a dict) for app+env; deterministic for equal inputs."""
    tags = [{"Key": "paas:app", "Value": app}, {"Key": "paas:env", "Value": env}]
    resources: dict[str, dict] = {}
    outputs: dict[str, dict] = {}

    catch_all = manifest.routing.host is None and all(p == "/*" for p in manifest.routing.paths)
    web = [p for p in sorted(manifest.processes.values(), key=lambda p: p.name) if p.port is not None]
    conditions = _conditions(manifest) if web else []

    for proc in web:
        keys = output_keys(proc.name)
        ptags = tags + [{"Key": "paas:process", "Value": proc.name}]
        for colour, key, port in (("blue", keys["blue"], proc.port),
                                  ("green", keys["green"], _green_port(proc.port))):
            resources[key] = {
                "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "Properties": {
                    "VpcId": vpc_id,
                    "TargetType": "ip",
                    "Protocol": "HTTP",
                    "Port": port,
                    "HealthCheckEnabled": True,
                    "HealthCheckProtocol": "HTTP",
                    "HealthCheckPath": proc.health_check_path,
                    "HealthCheckIntervalSeconds": 10,
                    "HealthCheckTimeoutSeconds": 5,
                    "HealthyThresholdCount": 2,
                    "UnhealthyThresholdCount": 3,
                    "Matcher": {"HttpCode": "200-399"},
                    "TargetGroupAttributes": [
                        {"Key": "deregistration_delay.timeout_seconds", "Value": "30"},
                    ],
                    "Tags": ptags + [{"Key": "paas:colour", "Value": colour}],
                },
            }
            outputs[key] = {"Description": f"{proc.name} {colour} target group ARN",
                            "Value": {"Ref": key}}
        resources[keys["rule"]] = {
            "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
            "Properties": {
                "ListenerArn": listener_arn,
                "Priority": rule_priority(app, env, proc.name, catch_all=catch_all, seed=priority_seed),
                "Conditions": conditions,
                "Actions": [{
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": {"Ref": keys["blue"]}, "Weight": 100},
                            {"TargetGroupArn": {"Ref": keys["green"]}, "Weight": 0},
                        ],
                        "TargetGroupStickinessConfig": {"Enabled": False},
                    },
                }],
            },
        }
        outputs[keys["rule"]] = {"Description": f"{proc.name} listener rule ARN",
                                 "Value": {"Ref": keys["rule"]}}

    resources["LogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": log_group_name(app, env),
                       "RetentionInDays": LOG_RETENTION_DAYS},
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                       "Action": "sts:AssumeRole"}],
    }
    prefix = secrets_prefix(app, env)
    resources["TaskRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {"AssumeRolePolicyDocument": trust, "Path": "/paas/", "Tags": tags},
    }
    resources["ExecutionRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": trust,
            "Path": "/paas/",
            "ManagedPolicyArns": [{"Fn::Sub": EXECUTION_POLICY}],
            "Policies": [{
                "PolicyName": "paas-secrets",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": ["ssm:GetParameters"],
                         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:"
                                                 "${AWS::AccountId}:parameter" + prefix + "*"}},
                        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                                                 "${AWS::AccountId}:secret:" + prefix.lstrip("/") + "*"}},
                    ],
                },
            }],
            "Tags": tags,
        },
    }
    ingress = []
    for proc in web:
        for sg in alb_security_groups:
            ingress.append({"IpProtocol": "tcp", "FromPort": proc.port, "ToPort": proc.port,
                            "SourceSecurityGroupId": sg,
                            "Description": f"ALB to {proc.name}"})
    sg_props: dict = {
        "GroupDescription": f"paas {app} {env} tasks",
        "VpcId": vpc_id,
        "Tags": tags,
    }
    if ingress:
        sg_props["SecurityGroupIngress"] = ingress
    resources["TaskSecurityGroup"] = {"Type": "AWS::EC2::SecurityGroup", "Properties": sg_props}

    outputs.update({
        "TaskRoleArn": {"Value": {"Fn::GetAtt": ["TaskRole", "Arn"]}},
        "ExecutionRoleArn": {"Value": {"Fn::GetAtt": ["ExecutionRole", "Arn"]}},
        "LogGroupName": {"Value": {"Ref": "LogGroup"}},
        "SecurityGroupId": {"Value": {"Fn::GetAtt": ["TaskSecurityGroup", "GroupId"]}},
    })
    if load_balancer_arn:
        outputs["LoadBalancerArn"] = {"Value": load_balancer_arn}

    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"paas infrastructure for {app} in {env}",
        "Resources": resources,
        "Outputs": outputs,
    }
