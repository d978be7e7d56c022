"""The infrastructure stack of one app+environment, as a CloudFormation template (pure).

No boto3, no I/O: `build_stack_template(...)` returns a JSON-able dict; the driver sends it.

What the stack owns (DESIGN.md §3):

* per *web* process (``ProcessSpec.port is not None``):
  - two target groups, blue and green (TargetType ``ip`` for awsvpc tasks, HTTP), with the
    process's health check (``[processes.NAME.health_check]``: path, interval, timeout,
    thresholds, healthy codes; defaults 10 s / 5 s / 2 / 3 / ``200-399``). Blue's Port is the
    process port, green's the port + 1 (port − 1 for 65535), so the two colours are distinct
    target groups on separate ports as the design asks. ECS registers each task with its real
    container port, which overrides the target group's default port, so tasks listen on the
    process port whatever the colour. Names are left to CloudFormation
    (``<stack>-<logical id>-<random>``, ≤ 32 chars), so a replacement never collides with the
    old resource's name and no app/process name can make one too long.
  - one listener rule on the environment's listener: ``path-pattern`` and, when set,
    ``host-header`` from the process's routing (its own ``[processes.NAME.routing]``, else the
    manifest's ``[routing]``), and a forward action to both target groups weighted blue 100 /
    green 0. The controller moves the weights afterwards with one ModifyRule call;
    CloudFormation's copy of the weights is only the initial state. The rule's priority is
    given by the caller (`priorities`: allocated from the listener's free priorities by
    paas.domain.routing.allocate_priority and stored); see "Priorities" below.
* a log group ``/paas/<env>/<app>``, a task role and an execution role (trust
  ``ecs-tasks.amazonaws.com``; the execution role has AmazonECSTaskExecutionRolePolicy and may
  read the app's secrets: ``ssm:GetParameters`` on ``parameter/paas/<env>/<app>/*`` and
  ``secretsmanager:GetSecretValue`` on ``secret:paas/<env>/<app>/*``), and a security group
  for the tasks that admits the ALB's security group (`alb_security_group`) on each web
  process's container port and nothing else (egress: all, so tasks reach ECR, logs and SSM).

* when the manifest has ``[jobs.NAME]``: a role EventBridge Scheduler assumes to run them
  (trust ``scheduler.amazonaws.com`` from this account only): ``ecs:RunTask`` on the task
  definitions of the processes the jobs run, ``iam:PassRole`` of the task and execution roles
  to ECS, and ``ecs:TagResource`` for RunTask alone (the job's tasks carry the task definition's
  ``paas:*`` tags). Output ``SchedulerRoleArn``; apps without jobs get no such role.

Log group: retention 30 days by default (`log_retention_days`, one of CloudWatch's allowed
values): long enough to investigate last month's incident, short enough that an idle app costs
nothing. DeletionPolicy and UpdateReplacePolicy are both ``Delete``, on purpose: the stack is
deleted only when an app leaves an environment or after a failed create (ROLLBACK_COMPLETE),
which the driver deletes and re-creates; a retained log group keeps its fixed name, so that
re-create would fail with AlreadyExists. Logs that must outlive the app belong in a
subscription to long-term storage, not in a retained group. Every other resource is stateless
(target groups, rule, roles, security group) and is deleted with the stack.

IAM roles have no explicit names, so CAPABILITY_IAM is enough.

Output keys (process names match ``^[a-z][a-z0-9-]{0,29}$``; output keys and logical ids must be
alphanumeric): the process name with each ``-`` replaced by ``X`` (process names are lower
case, so this is reversible and collision-free), followed by a fixed suffix::

    <enc>BlueTargetGroup   <enc>GreenTargetGroup   <enc>ListenerRule

e.g. ``api-v2`` → ``apiXv2BlueTargetGroup``. Plus ``TaskRoleArn``, ``ExecutionRoleArn``,
``LogGroupName``, ``SecurityGroupId`` (and ``LoadBalancerArn`` when given). The driver parses
them back into ``{process: ProcessInfra}`` (paas/aws/boto_driver.py keeps its own copy of this
tiny scheme so that paas.aws does not import the planner; tests/aws round-trip it).

Priorities (ALB: 1..50000, unique per listener, the lowest matching rule wins): production
callers pass `priorities`, one per web process, allocated by
paas.domain.routing.allocate_priority from the listener's free ones (ordered by specificity:
host + path before path-only before the catch-all) and stored with the app+environment, so
re-rendering the template never moves a rule. Without them (tests, and until the allocation is
wired), the legacy `rule_priority` hash is used: specific rules in 1..25000, catch-alls in
25001..50000; a collision (PriorityInUse) fails the create.

Every template this module can produce passes cfn-lint with no errors and no warnings
(tests/test_infra_lint.py).

moto (5.2) CloudFormation, checked against this template: every resource type here is created
(TargetGroup, ListenerRule — visible through DescribeRules with its weighted forward action —
LogGroup, IAM Role with inline policy, SecurityGroup with ingress). Gaps: TargetGroup Tags and
TargetGroupAttributes and Role ManagedPolicyArns are ignored; a changed TargetGroup property
drops the target group from the stack (no in-place update in moto); DeleteStack leaves target
groups and listener rules behind. None needs a change here; see tests/aws/test_infra_stack.py.
"""

from __future__ import annotations

import hashlib
from typing import Mapping

from paas.domain import limits, names, routing
from paas.domain.errors import UserError
from paas.domain.manifest import Manifest, ProcessSpec
from paas.domain.validate import NAME_RE, show

PRIORITY_BAND = 25000
MAX_CONDITION_VALUES = limits.RULE_CONDITION_VALUES_MAX
EXECUTION_POLICY = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
LOG_RETENTION_DAYS = 30
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_CHOICES = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                         2557, 2922, 3288, 3653)

SUFFIX_BLUE = "BlueTargetGroup"
SUFFIX_GREEN = "GreenTargetGroup"
SUFFIX_RULE = "ListenerRule"

# re-exported: the names live in paas/domain/names.py
log_group_name = names.log_group_name
secrets_prefix = names.secrets_prefix


def encode_process(name: str) -> str:
    """``api-v2`` → ``apiXv2`` (alphanumeric, reversible for valid process names)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise UserError(f"invalid process name {show(name)} (expected ^[a-z][a-z0-9-]{{0,29}}$)")
    return name.replace("-", "X")


def decode_process(enc: str) -> str:
    return enc.replace("X", "-")


def output_keys(process: str) -> dict[str, str]:
    e = encode_process(process)
    return {"blue": e + SUFFIX_BLUE, "green": e + SUFFIX_GREEN, "rule": e + SUFFIX_RULE}


def rule_priority(app: str, env: str, process: str, *, catch_all: bool, seed: int | str = 0) -> int:
    """Legacy hash-derived priority, used only when the caller passes no allocated priorities."""
    digest = hashlib.sha256(f"{app}\0{env}\0{process}\0{seed}".encode()).digest()
    n = int.from_bytes(digest[:8], "big") % PRIORITY_BAND
    return 1 + n + (PRIORITY_BAND if catch_all else 0)


def log_retention(days: int) -> int:
    if isinstance(days, bool) or days not in LOG_RETENTION_CHOICES:
        raise UserError(f"invalid log retention {show(days)}: CloudWatch accepts "
                        f"{', '.join(str(d) for d in LOG_RETENTION_CHOICES)} days")
    return days


def _green_port(port: int) -> int:
    return port + 1 if port < 65535 else port - 1


def _conditions(r: routing.Routing) -> list[dict]:
    routing.check(r)
    conds: list[dict] = [{"Field": "path-pattern", "PathPatternConfig": {"Values": list(r.paths)}}]
    if r.host:
        conds.append({"Field": "host-header", "HostHeaderConfig": {"Values": [r.host]}})
    return conds


def _target_group(vpc_id: str, port: int, proc: ProcessSpec, tags: list[dict]) -> dict:
    hc = proc.health_check
    return {
        "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
        "Properties": {
            "VpcId": vpc_id,
            "TargetType": "ip",
            "Protocol": "HTTP",
            "Port": port,
            "HealthCheckEnabled": True,
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPath": proc.health_check_path,
            "HealthCheckIntervalSeconds": hc.interval,
            "HealthCheckTimeoutSeconds": hc.timeout,
            "HealthyThresholdCount": hc.healthy_threshold,
            "UnhealthyThresholdCount": hc.unhealthy_threshold,
            "Matcher": {"HttpCode": hc.healthy_codes},
            "TargetGroupAttributes": [
                {"Key": "deregistration_delay.timeout_seconds", "Value": "30"},
            ],
            "Tags": tags,
        },
    }


def _priority(priorities: Mapping[str, int] | None, app: str, env: str, proc: str, r: routing.Routing) -> int:
    if priorities is None:
        catch_all = r.host is None and all(p == routing.CATCH_ALL for p in r.paths)
        return rule_priority(app, env, proc, catch_all=catch_all, seed=f"{app}/{env}")
    p = priorities.get(proc)
    lo, hi = limits.RULE_PRIORITY
    if isinstance(p, bool) or not isinstance(p, int) or not lo <= p <= hi:
        raise UserError(f"no valid listener-rule priority for web process {proc}: got {show(p)}")
    return p


def _scheduler_role(app: str, env: str, manifest: Manifest, tags: list[dict]) -> dict:
    """What EventBridge Scheduler needs to run the app's jobs, and nothing else."""
    families = sorted({names.family(app, env, manifest.task_process(j.process)) for j in manifest.jobs.values()})
    statements = [
        {"Effect": "Allow", "Action": ["ecs:RunTask"],
         "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/"
                                  + f + ":*"} for f in families]},
        {"Effect": "Allow", "Action": ["ecs:TagResource"], "Resource": "*",
         "Condition": {"StringEquals": {"ecs:CreateAction": "RunTask"}}},
        {"Effect": "Allow", "Action": ["iam:PassRole"],
         "Resource": [{"Fn::GetAtt": ["TaskRole", "Arn"]}, {"Fn::GetAtt": ["ExecutionRole", "Arn"]}],
         "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
    ]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]}
    return {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": trust, "Path": "/paas/", "Tags": tags,
        "Policies": [{"PolicyName": "paas-run-jobs",
                      "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}]}}


def build_stack_template(app: str, env: str, manifest: Manifest, *, vpc_id: str,
                         listener_arn: str, load_balancer_arn: str | None = None,
                         priorities: Mapping[str, int] | None = None,
                         alb_security_group: str | None = None,
                         alb_security_groups: tuple[str, ...] = (),
                         log_retention_days: int = LOG_RETENTION_DAYS) -> dict:
    """The CloudFormation template (a dict) for app+env; deterministic for equal inputs.

    `priorities`: listener-rule priority per web process (allocated and stored by the caller;
    None: the legacy hash). `alb_security_group`: the environment's ALB security group, admitted
    by the task security group on every web port (`alb_security_groups`: the same, for callers
    that still pass the environment's list of groups). `log_retention_days`: one of
    LOG_RETENTION_CHOICES.
    """
    tags = [{"Key": "paas:app", "Value": app}, {"Key": "paas:env", "Value": env}]
    resources: dict[str, dict] = {}
    outputs: dict[str, dict] = {}

    web = [p for p in sorted(manifest.processes.values(), key=lambda p: p.name) if p.is_web]
    used: dict[int, str] = {}
    for proc in web:
        keys = output_keys(proc.name)
        r = manifest.route(proc.name)
        prio = _priority(priorities, app, env, proc.name, r)
        if prio in used:
            raise UserError(f"web processes {used[prio]} and {proc.name} were given the same rule priority {prio}")
        used[prio] = proc.name
        ptags = tags + [{"Key": "paas:process", "Value": proc.name}]
        for colour, key, port in (("blue", keys["blue"], proc.port),
                                  ("green", keys["green"], _green_port(proc.port))):
            resources[key] = _target_group(vpc_id, port, proc, ptags + [{"Key": "paas:colour", "Value": colour}])
            outputs[key] = {"Description": f"{proc.name} {colour} target group ARN",
                            "Value": {"Ref": key}}
        resources[keys["rule"]] = {
            "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
            "Properties": {
                "ListenerArn": listener_arn,
                "Priority": prio,
                "Conditions": _conditions(r),
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
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {"LogGroupName": names.log_group_name(app, env),
                       "RetentionInDays": log_retention(log_retention_days)},
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                       "Action": "sts:AssumeRole"}],
    }
    prefix = names.secrets_prefix(app, env)
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
    albs = tuple(dict.fromkeys(((alb_security_group,) if alb_security_group else ()) + tuple(alb_security_groups)))
    ingress = [{"IpProtocol": "tcp", "FromPort": proc.port, "ToPort": proc.port,
                "SourceSecurityGroupId": sg, "Description": f"ALB to {proc.name}"}
               for proc in web for sg in albs]
    sg_props: dict = {
        "GroupDescription": f"paas {app} {env} tasks",
        "VpcId": vpc_id,
        "Tags": tags,
    }
    if ingress:
        sg_props["SecurityGroupIngress"] = ingress
    resources["TaskSecurityGroup"] = {"Type": "AWS::EC2::SecurityGroup", "Properties": sg_props}
    if manifest.jobs:
        resources["SchedulerRole"] = _scheduler_role(app, env, manifest, tags)
        outputs["SchedulerRoleArn"] = {"Value": {"Fn::GetAtt": ["SchedulerRole", "Arn"]}}

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
