"""EventBridge Scheduler: an app+environment's schedule group and its jobs' schedules.

Each job is a schedule whose target is ECS RunTask (Scheduler's templated ECS target): ``Arn``
is the cluster's ARN, ``RoleArn`` the role Scheduler assumes (the stack's SchedulerRole),
``EcsParameters`` the task definition, Fargate, the network, the task group that marks the job's
tasks and ``PropagateTags`` so the tasks carry the task definition's ``paas:*`` tags; ``Input``
is the RunTask ``overrides`` (the job's command and size) as JSON. ``FlexibleTimeWindow`` is OFF:
a job runs at its time.

AWS rules kept here: schedule and group names are 1-64 of ``[0-9a-zA-Z-_.]`` (checked before
sending); ``ClientToken`` 1-64 of ``[a-zA-Z0-9-_]``; ListSchedules pages of ≤ 100; an expression is
1-256 characters. Scheduler tags schedule *groups*, not schedules: the group carries
``paas:app`` / ``paas:env``, and before paas changes a schedule in a group it reads the group's
tags (ListTagsForResource) and refuses a group another owner's tags name (ownership.py).

Emulator (moto 5.2) gaps: CreateScheduleGroup of an existing name silently replaces the group and
drops its schedules (AWS: ConflictException), so the group is looked up first; ``ClientToken`` is
ignored; nothing fires (the devstack fires due schedules, paas/devstack/schedules.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Mapping

from botocore.exceptions import ClientError

from paas.aws import ownership
from paas.aws.api import Api, rid
from paas.aws.driver import Call
from paas.aws.ownership import tag_dict
from paas.domain.errors import PermanentError
from paas.domain.observed import ScheduleState
from paas.domain.specs import ScheduleSpec

NAME_RE = re.compile(r"[0-9a-zA-Z._-]{1,64}")
TOKEN_MAX = 64
LIST_PAGE = 100


def _name(kind: str, value: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise PermanentError(f"scheduler: {kind} name {value!r} is not 1-64 of [0-9a-zA-Z-_.]")
    return value


def client_token(*parts: object) -> str:
    raw = "-".join(str(p) for p in parts)
    if len(raw) <= TOKEN_MAX and re.fullmatch(r"[a-zA-Z0-9_-]+", raw):
        return raw
    return hashlib.sha256(raw.encode()).hexdigest()[:TOKEN_MAX]


def target(spec: ScheduleSpec) -> dict[str, Any]:
    return {
        "Arn": spec.cluster_arn,
        "RoleArn": spec.role_arn,
        "Input": json.dumps(spec.overrides(), sort_keys=True),
        "EcsParameters": {
            "TaskDefinitionArn": spec.task_definition,
            "TaskCount": 1,
            "LaunchType": "FARGATE",
            "Group": spec.task_group,
            "PropagateTags": "TASK_DEFINITION",
            "EnableECSManagedTags": True,
            "NetworkConfiguration": {"awsvpcConfiguration": {
                "Subnets": list(spec.subnets), "SecurityGroups": list(spec.security_groups),
                "AssignPublicIp": "ENABLED" if spec.assign_public_ip else "DISABLED"}},
        },
    }


def schedule_state(s: dict) -> ScheduleState:
    t = s.get("Target") or {}
    ecs = t.get("EcsParameters") or {}
    vpc = (ecs.get("NetworkConfiguration") or {}).get("awsvpcConfiguration") or {}
    try:
        parsed = json.loads(t["Input"]) if t.get("Input") else None
    except ValueError:
        parsed = None
    return ScheduleState(
        name=s["Name"], group=s.get("GroupName") or "default", expression=s.get("ScheduleExpression", ""),
        state=s.get("State", ""), cluster_arn=t.get("Arn"), role_arn=t.get("RoleArn"),
        task_definition=ecs.get("TaskDefinitionArn"), input=parsed if isinstance(parsed, dict) else None,
        subnets=tuple(vpc.get("Subnets") or ()), security_groups=tuple(vpc.get("SecurityGroups") or ()),
        assign_public_ip=vpc.get("AssignPublicIp") == "ENABLED", task_group=ecs.get("Group"),
    )


class Scheduler:
    def __init__(self, api: Api) -> None:
        self.api = api

    def _group(self, name: str) -> dict | None:
        try:
            return self.api.call("scheduler", "GetScheduleGroup", allow=("ResourceNotFoundException",),
                                 Name=_name("schedule group", name))
        except ClientError:
            return None

    def _check_owner(self, operation: str, group: dict, owner: Mapping[str, str] | None) -> None:
        if not owner:
            return
        tags = self.api.call("scheduler", "ListTagsForResource", ResourceArn=group["Arn"]).get("Tags")
        ownership.check(operation, f"schedule group {group['Name']}", tag_dict(tags), owner)

    def group_exists(self, name: str) -> bool:
        return self._group(name) is not None

    def ensure_group(self, name: str, owner: Mapping[str, str]) -> Call:
        """The group, created with the owner's tags when missing; an existing one must be the owner's."""
        found = self._group(name)
        if found is not None:
            self._check_owner("scheduler:CreateScheduleGroup", found, owner)
            return Call("scheduler:CreateScheduleGroup", None, {"group": name, "existing": True})
        resp = self.api.call("scheduler", "CreateScheduleGroup", Name=name, ClientToken=client_token("paas", name),
                             Tags=[{"Key": k, "Value": v} for k, v in sorted(ownership.owner(owner).items())])
        return Call("scheduler:CreateScheduleGroup", rid(resp), {"group": name, "arn": resp.get("ScheduleGroupArn")})

    def schedules(self, group: str) -> dict[str, ScheduleState]:
        """Every schedule in the group (ListSchedules, then GetSchedule each); {} without the group."""
        names: list[str] = []
        params: dict[str, Any] = {"GroupName": _name("schedule group", group), "MaxResults": LIST_PAGE}
        while True:
            try:
                resp = self.api.call("scheduler", "ListSchedules", allow=("ResourceNotFoundException",), **params)
            except ClientError:
                return {}
            names += [s["Name"] for s in resp.get("Schedules") or [] if s.get("GroupName", group) == group]
            token = resp.get("NextToken")
            if not token:
                break
            params["NextToken"] = token
        out = {}
        for name in names:
            try:
                s = self.api.call("scheduler", "GetSchedule", allow=("ResourceNotFoundException",),
                                  GroupName=group, Name=name)
            except ClientError:
                continue  # deleted meanwhile
            out[name] = schedule_state(s)
        return out

    def put_schedule(self, spec: ScheduleSpec, *, create: bool, token: str) -> Call:
        """CreateSchedule (or UpdateSchedule) after checking that the group is the owner's."""
        group = self._group(spec.group)
        if group is None:
            raise PermanentError(f"scheduler: schedule group {spec.group} does not exist")
        self._check_owner("scheduler:CreateSchedule" if create else "scheduler:UpdateSchedule", group, spec.owner)
        params = dict(Name=_name("schedule", spec.name), GroupName=spec.group, ScheduleExpression=spec.expression,
                      FlexibleTimeWindow={"Mode": "OFF"}, State="ENABLED", Target=target(spec),
                      ClientToken=client_token(token), Description=f"paas job {spec.name}")
        result = {"schedule": spec.name, "task_definition": spec.task_definition}
        if create:
            try:
                resp = self.api.call("scheduler", "CreateSchedule", allow=("ConflictException",), **params)
                return Call("scheduler:CreateSchedule", rid(resp), {**result, "arn": resp.get("ScheduleArn")})
            except ClientError:
                pass  # only ConflictException comes back raw: an earlier attempt created it; update it
        resp = self.api.call("scheduler", "UpdateSchedule", **params)
        return Call("scheduler:UpdateSchedule", rid(resp), {**result, "arn": resp.get("ScheduleArn")})

    def delete_schedule(self, group: str, name: str, *, owner: Mapping[str, str] | None, token: str) -> Call:
        found = self._group(group)
        if found is None:
            return Call("scheduler:DeleteSchedule", None, {"schedule": name, "existing": False})
        self._check_owner("scheduler:DeleteSchedule", found, owner)
        try:
            resp = self.api.call("scheduler", "DeleteSchedule", allow=("ResourceNotFoundException",),
                                 GroupName=group, Name=_name("schedule", name), ClientToken=client_token(token))
        except ClientError:
            return Call("scheduler:DeleteSchedule", None, {"schedule": name, "existing": False})
        return Call("scheduler:DeleteSchedule", rid(resp), {"schedule": name})
