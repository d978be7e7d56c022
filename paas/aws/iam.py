"""The least-privilege IAM policy for the worker's role, derived from one table.

`OPERATIONS` maps every AWS operation the driver can send (its accounting key, e.g.
``ecs:CreateService``) to the IAM actions that operation needs: usually its namesake, plus
what AWS checks on the side (``ecs:TagResource`` when tags are set on creation,
``iam:PassRole`` for the roles a task definition names). Tests run every driver operation
against the emulator and fail when one is missing here, or when the source calls an operation
this table does not know, so the policy cannot drift from the code.

`SCOPES` narrows actions to resource ARNs where AWS supports resource-level permissions for
them (Service Authorization Reference), by the names paas gives: stacks ``paas-*``, secrets
``paas/*``, roles under the path ``/paas/``; ECS services may only be created with, and changed
while carrying, a ``paas:app`` tag. Actions that take no resource (Describe*/List* mostly,
GetMetricData, task-definition registration) get ``*``.

CloudFormation creates the stack's resources with the caller's permissions, unless a service
role is passed as ``RoleARN`` (``PAAS_CFN_ROLE_ARN``): then the worker needs only
``iam:PassRole`` on that role, and `STACK_RESOURCE_ACTIONS` (IAM roles, target groups,
listener rules, log groups, security groups) belong to the role's policy (`cfn_role_policy`)
instead of the worker's. No IAM write action (iam:Create*, iam:Put*) is then left in the
worker's policy.

IAM quotas kept here: a managed policy is at most 6,144 characters (whitespace not counted).

Pure: no boto3, so ``paas iam policy`` starts fast.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any, Iterable

VERSION = "2012-10-17"
MANAGED_POLICY_MAX_CHARS = 6144

STACK_NAME_PREFIX = "paas-"  # paas.domain.specs.stack_name (checked by a test)
SECRET_NAME_PREFIX = "paas/"  # paas.aws.secrets.secret_name of the CLI's /paas/<env>/<app>/NAME
ROLE_PATH = "/paas/"  # the task and execution roles of paas/planner/infra_template.py
LOG_GROUP_PREFIX = "/paas/"  # paas.planner.infra_template.log_group_name
NOTIFY_PARAMETER_PREFIX = "/paas/notify/"  # paas.domain.notify.parameter_prefix
SCHEDULE_GROUP_PREFIX = "paas"  # paas.domain.names.schedule_group: paas-<app>-<env> or paas_<hash>

ROLE_ARN_RE = re.compile(r"arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:role/[\w+=,.@/-]{1,512}")

# operation the driver sends → IAM actions it needs
OPERATIONS: dict[str, tuple[str, ...]] = {
    "cloudformation:DescribeStacks": ("cloudformation:DescribeStacks",),
    "cloudformation:DescribeStackEvents": ("cloudformation:DescribeStackEvents",),
    "cloudformation:CreateStack": ("cloudformation:CreateStack", "cloudformation:TagResource"),
    "cloudformation:UpdateStack": ("cloudformation:UpdateStack", "cloudformation:TagResource"),
    "cloudformation:DeleteStack": ("cloudformation:DeleteStack",),
    "cloudformation:ContinueUpdateRollback": ("cloudformation:ContinueUpdateRollback",),
    "ecs:DescribeTaskDefinition": ("ecs:DescribeTaskDefinition",),
    "ecs:ListTaskDefinitions": ("ecs:ListTaskDefinitions",),
    "ecs:RegisterTaskDefinition": ("ecs:RegisterTaskDefinition", "ecs:TagResource", "iam:PassRole"),
    "ecs:DeregisterTaskDefinition": ("ecs:DeregisterTaskDefinition",),
    "ecs:DescribeServices": ("ecs:DescribeServices",),
    "ecs:ListServices": ("ecs:ListServices",),
    "ecs:CreateService": ("ecs:CreateService", "ecs:TagResource"),
    "ecs:UpdateService": ("ecs:UpdateService",),
    "ecs:DescribeTasks": ("ecs:DescribeTasks",),
    "ecs:ListTasks": ("ecs:ListTasks",),
    "ecs:RunTask": ("ecs:RunTask", "ecs:TagResource", "iam:PassRole"),
    "ecs:StopTask": ("ecs:StopTask",),
    "logs:FilterLogEvents": ("logs:FilterLogEvents",),
    "logs:GetLogEvents": ("logs:GetLogEvents",),
    "scheduler:GetScheduleGroup": ("scheduler:GetScheduleGroup",),
    "scheduler:CreateScheduleGroup": ("scheduler:CreateScheduleGroup", "scheduler:TagResource"),
    "scheduler:ListTagsForResource": ("scheduler:ListTagsForResource",),
    "scheduler:ListSchedules": ("scheduler:ListSchedules",),
    "scheduler:GetSchedule": ("scheduler:GetSchedule",),
    "scheduler:CreateSchedule": ("scheduler:CreateSchedule", "iam:PassRole"),
    "scheduler:UpdateSchedule": ("scheduler:UpdateSchedule", "iam:PassRole"),
    "scheduler:DeleteSchedule": ("scheduler:DeleteSchedule",),
    "elasticloadbalancing:DescribeTargetHealth": ("elasticloadbalancing:DescribeTargetHealth",),
    "elasticloadbalancing:DescribeRules": ("elasticloadbalancing:DescribeRules",),
    "elasticloadbalancing:DescribeTags": ("elasticloadbalancing:DescribeTags",),
    "elasticloadbalancing:ModifyRule": ("elasticloadbalancing:ModifyRule",),
    "cloudwatch:GetMetricData": ("cloudwatch:GetMetricData",),
    "secretsmanager:CreateSecret": ("secretsmanager:CreateSecret", "secretsmanager:TagResource"),
    "secretsmanager:PutSecretValue": ("secretsmanager:PutSecretValue",),
    "ecr:DescribeImages": ("ecr:DescribeImages",),
    # webhook URLs and signing secrets (paas/aws/parameters.py); the default aws/ssm key needs no kms:Decrypt
    "ssm:PutParameter": ("ssm:PutParameter",),
    "ssm:GetParameter": ("ssm:GetParameter",),
    "ssm:DeleteParameters": ("ssm:DeleteParameters",),
    # pipeline: the push route (EventBridge rule → SQS queue), its queue, the repository's URI
    "ecr:DescribeRepositories": ("ecr:DescribeRepositories",),
    "sqs:CreateQueue": ("sqs:CreateQueue",),
    "sqs:GetQueueAttributes": ("sqs:GetQueueAttributes",),
    "sqs:SetQueueAttributes": ("sqs:SetQueueAttributes",),
    "sqs:ReceiveMessage": ("sqs:ReceiveMessage",),
    "sqs:DeleteMessage": ("sqs:DeleteMessage",),
    "sqs:ChangeMessageVisibility": ("sqs:ChangeMessageVisibility",),
    "events:PutRule": ("events:PutRule",),
    "events:PutTargets": ("events:PutTargets",),
}

# CloudFormation resource type of the infrastructure stack → what creating, updating and
# deleting it takes (the caller's permissions, or the service role's)
STACK_RESOURCE_ACTIONS: dict[str, tuple[str, ...]] = {
    "AWS::ElasticLoadBalancingV2::TargetGroup": (
        "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:ModifyTargetGroup",
        "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
        "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
        "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
        "elasticloadbalancing:DescribeTags"),
    "AWS::ElasticLoadBalancingV2::ListenerRule": (
        "elasticloadbalancing:CreateRule", "elasticloadbalancing:ModifyRule",
        "elasticloadbalancing:SetRulePriorities", "elasticloadbalancing:DeleteRule",
        "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeListeners"),
    "AWS::Logs::LogGroup": (
        "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy", "logs:DescribeLogGroups", "logs:TagResource",
        "logs:UntagResource", "logs:ListTagsForResource"),
    "AWS::IAM::Role": (
        "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole",
        "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:GetRolePolicy",
        "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:AttachRolePolicy",
        "iam:DetachRolePolicy", "iam:ListAttachedRolePolicies", "iam:TagRole", "iam:UntagRole"),
    "AWS::EC2::SecurityGroup": (
        "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup", "ec2:DescribeSecurityGroups",
        "ec2:DescribeSecurityGroupRules", "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress", "ec2:CreateTags", "ec2:DeleteTags", "ec2:DescribeVpcs"),
}

# IAM action → (resource ARN templates, condition); actions not listed take "*"
_STACK = "arn:{partition}:cloudformation:{region}:{account}:stack/" + STACK_NAME_PREFIX + "*/*"
_SECRET = "arn:{partition}:secretsmanager:{region}:{account}:secret:" + SECRET_NAME_PREFIX + "*"
_SERVICE = "arn:{partition}:ecs:{region}:{account}:service/*/*"
_TASK = "arn:{partition}:ecs:{region}:{account}:task/*/*"
_LOG_GROUPS = "arn:{partition}:logs:{region}:{account}:log-group:" + LOG_GROUP_PREFIX + "*"
_SCHEDULES = "arn:{partition}:scheduler:{region}:{account}:schedule/" + SCHEDULE_GROUP_PREFIX + "*/*"
_SCHEDULE_GROUPS = "arn:{partition}:scheduler:{region}:{account}:schedule-group/" + SCHEDULE_GROUP_PREFIX + "*"
_PARAMETERS = "arn:{partition}:ssm:{region}:{account}:parameter" + NOTIFY_PARAMETER_PREFIX + "*"
_PAAS_TAGGED = {"Null": {"aws:ResourceTag/paas:app": "false"}}
SCOPES: dict[str, tuple[tuple[str, ...], dict | None]] = {
    **{a: ((_STACK,), None) for a in (
        "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
        "cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
        "cloudformation:ContinueUpdateRollback", "cloudformation:TagResource")},
    **{a: ((_SECRET,), None) for a in (
        "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:TagResource")},
    "ecs:DescribeServices": ((_SERVICE,), None),
    "ecs:CreateService": ((_SERVICE,), {"Null": {"aws:RequestTag/paas:app": "false"}}),
    "ecs:UpdateService": ((_SERVICE,), _PAAS_TAGGED),
    "ecs:DescribeTasks": ((_TASK,), None),
    "ecs:StopTask": ((_TASK,), None),
    "ecs:RunTask": (("arn:{partition}:ecs:{region}:{account}:task-definition/*:*",), None),
    "ecs:TagResource": (("*",), {"StringEquals": {"ecs:CreateAction": ["CreateService",
                                                                      "RegisterTaskDefinition", "RunTask"]}}),
    **{a: ((_LOG_GROUPS,), None) for a in ("logs:FilterLogEvents", "logs:GetLogEvents")},
    **{a: ((_SCHEDULES,), None) for a in ("scheduler:GetSchedule", "scheduler:CreateSchedule",
                                           "scheduler:UpdateSchedule", "scheduler:DeleteSchedule")},
    **{a: ((_SCHEDULE_GROUPS,), None) for a in ("scheduler:GetScheduleGroup", "scheduler:CreateScheduleGroup",
                                                 "scheduler:ListTagsForResource", "scheduler:TagResource")},
    "elasticloadbalancing:ModifyRule": (
        ("arn:{partition}:elasticloadbalancing:{region}:{account}:listener-rule/app/*/*/*/*",), None),
    "ecr:DescribeImages": (("arn:{partition}:ecr:{region}:{account}:repository/*",), None),
    **{a: ((_PARAMETERS,), None) for a in ("ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameters")},
    "ecr:DescribeRepositories": (("arn:{partition}:ecr:{region}:{account}:repository/*",), None),
    **{a: (("arn:{partition}:sqs:{region}:{account}:paas-*",), None) for a in (
        "sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:ReceiveMessage",
        "sqs:DeleteMessage", "sqs:ChangeMessageVisibility")},
    **{a: (("arn:{partition}:events:{region}:{account}:rule/paas-*",), None) for a in (
        "events:PutRule", "events:PutTargets")},
    # task and execution roles to ECS (task definitions, RunTask); the stack's SchedulerRole to Scheduler
    "iam:PassRole": (("arn:{partition}:iam::{account}:role" + ROLE_PATH + "*",),
                     {"StringEquals": {"iam:PassedToService": ["ecs-tasks.amazonaws.com",
                                                               "scheduler.amazonaws.com"]}}),
}
# when CloudFormation creates the stack's resources with the worker's own permissions
_STACK_RESOURCE_SCOPES: dict[str, tuple[tuple[str, ...], dict | None]] = {
    **{a: (("arn:{partition}:iam::{account}:role" + ROLE_PATH + "*",), None)
       for a in STACK_RESOURCE_ACTIONS["AWS::IAM::Role"]},
    **{a: (("arn:{partition}:logs:{region}:{account}:log-group:" + LOG_GROUP_PREFIX + "*",), None)
       for a in STACK_RESOURCE_ACTIONS["AWS::Logs::LogGroup"] if a != "logs:DescribeLogGroups"},
}


def actions_for(operations: Iterable[str]) -> set[str]:
    """The IAM actions a set of driver operations needs (KeyError for an unknown operation)."""
    return {a for op in operations for a in OPERATIONS[op]}


def _statements(scoped: dict[str, tuple[tuple[str, ...], dict | None]], *,
                partition: str, region: str, account: str) -> list[dict[str, Any]]:
    """One statement per (resources, condition), actions sorted, Sids numbered by service."""
    groups: dict[tuple[tuple[str, ...], str], list[str]] = defaultdict(list)
    for action, (resources, condition) in scoped.items():
        arns = tuple(sorted(r.format(partition=partition, region=region, account=account)
                            for r in resources))
        groups[(arns, json.dumps(condition, sort_keys=True) if condition else "")].append(action)
    out = []
    for i, ((arns, condition), actions) in enumerate(sorted(groups.items(), key=lambda kv: min(kv[1])), 1):
        service = min(actions).split(":", 1)[0]
        name = "NoResourceLevel" if arns == ("*",) and not condition else service.title()
        st: dict[str, Any] = {"Sid": f"{re.sub(r'[^A-Za-z0-9]', '', name)}{i}",
                              "Effect": "Allow", "Action": sorted(actions),
                              "Resource": list(arns) if len(arns) > 1 else arns[0]}
        if condition:
            st["Condition"] = json.loads(condition)
        out.append(st)
    return out


def _scoped(actions: Iterable[str], scopes: dict) -> dict[str, tuple[tuple[str, ...], dict | None]]:
    return {a: scopes.get(a, (("*",), None)) for a in sorted(set(actions))}


def worker_policy(*, cfn_role_arn: str | None = None, partition: str = "aws", region: str = "*",
                  account: str = "*") -> dict[str, Any]:
    """The worker role's identity policy: every action `OPERATIONS` names, scoped; without a
    CloudFormation service role also what the stack's resources take."""
    scoped = _scoped(actions_for(OPERATIONS), SCOPES)
    if cfn_role_arn:
        statements = _statements(scoped, partition=partition, region=region, account=account)
        statements.append({
            "Sid": "PassCloudFormationRole", "Effect": "Allow", "Action": ["iam:PassRole"],
            "Resource": cfn_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}})
        return {"Version": VERSION, "Statement": statements}
    stack = {a for acts in STACK_RESOURCE_ACTIONS.values() for a in acts}
    # ModifyRule stays scoped to listener rules (the driver's use is the narrower one)
    scoped.update({a: v for a, v in _scoped(stack, _STACK_RESOURCE_SCOPES).items() if a not in scoped})
    return {"Version": VERSION, "Statement": _statements(scoped, partition=partition, region=region,
                                                         account=account)}


def cfn_role_policy(*, partition: str = "aws", region: str = "*", account: str = "*") -> dict[str, Any]:
    """The CloudFormation service role's policy: what creating, updating and deleting the
    infrastructure stack's resources takes. (Its trust policy names
    ``cloudformation.amazonaws.com``.)"""
    stack = {a for acts in STACK_RESOURCE_ACTIONS.values() for a in acts}
    return {"Version": VERSION, "Statement": _statements(_scoped(stack, _STACK_RESOURCE_SCOPES),
                                                         partition=partition, region=region,
                                                         account=account)}


def policy_actions(policy: dict[str, Any]) -> set[str]:
    """Every action a policy document allows (no wildcards are used in ours)."""
    out: set[str] = set()
    for st in policy["Statement"]:
        acts = st["Action"]
        out.update([acts] if isinstance(acts, str) else acts)
    return out


def compact_size(policy: dict[str, Any]) -> int:
    """The length IAM counts against its quota: the JSON without whitespace."""
    return len(json.dumps(policy, separators=(",", ":")))
