"""ECS tasks paas starts or watches: RunTask (found again by ``startedBy``), DescribeTasks,
ListTasks and StopTask.

AWS limits kept here: DescribeTasks ≤ 100 tasks a call; ListTasks pages of ≤ 100; RunTask's
``clientToken`` ≤ 64 ASCII characters 33-126 (for 24 hours a retry with the same token and
parameters in the same cluster returns the same task); ``startedBy`` ≤ 36 characters of
``[A-Za-z0-9_/-]`` (the shortest limit AWS documents for it); StopTask's ``reason`` ≤ 255
characters. Overrides: a container's ``command`` is a list of strings; task-level ``cpu`` and
``memory`` are strings.

Idempotency (a worker that crashed after RunTask must not start a second release phase): `run_task`
first lists the cluster's tasks with the spec's ``startedBy`` (running, then stopped) and takes one
of the same task definition as the earlier attempt's; only then RunTask, with the ``clientToken``.
``startedBy`` names carry a hash of app, environment, id and creation time
(paas/domain/names.py), so another database's task is never taken for ours. Tasks take the task
definition's ``paas:*`` tags (``propagateTags``), so `stop_task` can check who owns a task.

Emulator (moto 5.2) gaps: RunTask ignores ``clientToken`` and ``propagateTags`` (the ``startedBy``
lookup covers the first; tasks carry no tags, so `stop_task` falls back to the task definition's
tags); DescribeTasks leaves an unknown task out without the ``MISSING`` failure AWS reports (an
ARN that comes back neither way is taken as missing); task ids are UUIDs, not AWS's 32 hex
digits; moto's own tasks never stop (the devstack's data plane runs them,
paas/devstack/standalone.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Mapping

from paas.aws import ownership
from paas.aws.api import Api, chunks, rid
from paas.aws.driver import Call
from paas.aws.ownership import tag_dict
from paas.domain.errors import PermanentError, TransientError
from paas.domain.observed import TaskState
from paas.domain.specs import TaskRunSpec

DESCRIBE_TASKS_MAX = 100
LIST_TASKS_PAGE = 100
CLIENT_TOKEN_MAX = 64
STARTED_BY_RE = re.compile(r"[A-Za-z0-9_/-]{1,36}")
STOP_REASON_MAX = 255
# RunTask failures worth retrying: no capacity yet, an agent reconnecting
_RETRY_FAILURES = ("RESOURCE:", "AGENT", "CAPACITY")


def run_client_token(token: str) -> str:
    ok = all(33 <= ord(c) <= 126 for c in token)
    if not (ok and 0 < len(token) <= CLIENT_TOKEN_MAX):
        raise PermanentError(f"ecs:RunTask: client token {token!r} is not 1-64 ASCII characters")
    return token


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(float(value), timezone.utc)


def task_state(t: dict) -> TaskState:
    """A DescribeTasks entry → TaskState (the first container is the essential one paas defines)."""
    containers = t.get("containers") or [{}]
    c = containers[0]
    return TaskState(
        arn=t["taskArn"], task_definition=t.get("taskDefinitionArn", ""), last_status=t.get("lastStatus", ""),
        desired_status=t.get("desiredStatus", ""), group=t.get("group"), started_by=t.get("startedBy"),
        container=c.get("name"), created_at=_dt(t.get("createdAt")), started_at=_dt(t.get("startedAt")),
        stopped_at=_dt(t.get("stoppedAt")), stop_code=t.get("stopCode"), stopped_reason=t.get("stoppedReason"),
        exit_code=c.get("exitCode"), container_reason=c.get("reason"),
    )


class Tasks:
    def __init__(self, api: Api) -> None:
        self.api = api

    def list_tasks(self, cluster: str, *, family: str | None = None, service: str | None = None,
                   started_by: str | None = None, status: str = "RUNNING") -> list[str]:
        """Task ARNs, every page (ECS keeps stopped tasks listed for at least an hour)."""
        params: dict[str, Any] = {"cluster": cluster, "desiredStatus": status, "maxResults": LIST_TASKS_PAGE}
        if family:
            params["family"] = family
        if service:
            params["serviceName"] = service
        if started_by:
            params["startedBy"] = started_by
        arns: list[str] = []
        while True:
            resp = self.api.call("ecs", "ListTasks", **params)
            arns.extend(resp.get("taskArns") or [])
            token = resp.get("nextToken")
            if not token:
                return arns
            params["nextToken"] = token

    def task_states(self, cluster: str, task_arns: list[str], *, tags: bool = False) -> dict[str, TaskState]:
        """≤ 100 per call. A task ECS does not know (any more) comes back with status ``MISSING``."""
        out: dict[str, TaskState] = {}
        extra = {"include": ["TAGS"]} if tags else {}
        for chunk in chunks(list(dict.fromkeys(task_arns)), DESCRIBE_TASKS_MAX):
            resp = self.api.call("ecs", "DescribeTasks", cluster=cluster, tasks=list(chunk), **extra)
            for t in resp.get("tasks") or []:
                out[t["taskArn"]] = task_state(t)
            missing = {f.get("arn") for f in resp.get("failures") or [] if f.get("reason") == "MISSING"}
            # moto answers an unknown task with neither a task nor a failure: missing too
            missing |= {a for a in chunk if a not in out and not any(f.get("arn") == a for f in
                                                                      resp.get("failures") or [])}
            for arn in missing:
                if arn and arn not in out:
                    out[arn] = TaskState(arn=arn, task_definition="", last_status="MISSING",
                                         desired_status="MISSING")
        return out

    def run_task(self, spec: TaskRunSpec, client_token: str) -> Call:
        """The task of an earlier attempt with the same ``startedBy``, else a new one."""
        if not STARTED_BY_RE.fullmatch(spec.started_by):
            raise PermanentError(f"ecs:RunTask: startedBy {spec.started_by!r} is not 1-36 of [A-Za-z0-9_/-]")
        for status in ("RUNNING", "STOPPED"):
            found = self.list_tasks(spec.cluster, started_by=spec.started_by, status=status)
            mine = [a for a, t in self.task_states(spec.cluster, found).items()
                    if t.task_definition == spec.task_definition] if found else []
            if mine:
                return Call("ecs:RunTask", None, {"task_arn": mine[0], "existing": True})
        overrides: dict[str, Any] = {"containerOverrides": [{"name": spec.container_name,
                                                             "command": list(spec.command)}]}
        if spec.cpu is not None:
            overrides["cpu"] = str(spec.cpu)
        if spec.memory is not None:
            overrides["memory"] = str(spec.memory)
        resp = self.api.call(
            "ecs", "RunTask", cluster=spec.cluster, taskDefinition=spec.task_definition, count=1,
            launchType="FARGATE", startedBy=spec.started_by, clientToken=run_client_token(client_token),
            overrides=overrides, propagateTags="TASK_DEFINITION", enableECSManagedTags=True,
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": list(spec.subnets), "securityGroups": list(spec.security_groups),
                "assignPublicIp": "ENABLED" if spec.assign_public_ip else "DISABLED"}},
        )
        tasks = resp.get("tasks") or []
        if not tasks:
            failures = "; ".join(f"{f.get('reason')}: {f.get('detail') or f.get('arn') or ''}".rstrip(": ")
                                 for f in resp.get("failures") or []) or "no task and no reason"
            msg = f"ecs:RunTask: {failures} (request id {rid(resp)})"
            if any(r in failures for r in _RETRY_FAILURES):
                raise TransientError(msg, 10.0)
            raise PermanentError(msg, rid(resp))
        return Call("ecs:RunTask", rid(resp), {"task_arn": tasks[0]["taskArn"], "existing": False})

    def stop_task(self, cluster: str, task_arn: str, reason: str, *,
                  owner: Mapping[str, str] | None = None) -> Call:
        """With `owner`, the task's tags (or, without any, its task definition's) must name it."""
        if owner:
            resp = self.api.call("ecs", "DescribeTasks", cluster=cluster, tasks=[task_arn], include=["TAGS"])
            found = (resp.get("tasks") or [None])[0]
            if found is not None:
                tags = tag_dict(found.get("tags"))
                if not ownership.owner(tags):
                    td = self.api.call("ecs", "DescribeTaskDefinition", taskDefinition=found["taskDefinitionArn"],
                                       include=["TAGS"])
                    tags = tag_dict(td.get("tags"))
                ownership.check("ecs:StopTask", f"task {task_arn}", tags, owner)
        resp = self.api.call("ecs", "StopTask", cluster=cluster, task=task_arn, reason=reason[:STOP_REASON_MAX])
        return Call("ecs:StopTask", rid(resp), {"task_arn": task_arn})
