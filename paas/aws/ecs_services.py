"""ECS services: observed in batches of 10, created idempotently, updated and scaled.

AWS limits kept here: DescribeServices takes ≤ 10 services a call, DescribeTasks ≤ 100 tasks;
CreateService's ``clientToken`` is ≤ 36 ASCII characters 33-126 (longer tokens are hashed
deterministically, sha256 → 36 hex characters, so a retry still sends the same token).

Emulator (moto 5.2) gaps, and why the code is still right on AWS:

* CreateService on an existing name silently replaces the service in moto (AWS answers
  InvalidParameterException "Creation of service was not idempotent"). An existing ACTIVE
  service is looked for first and taken as the result of an earlier attempt (one extra
  DescribeServices per creation, which is rare). AWS's exception (a racing creator) becomes a
  TransientError, so the next pass observes the service and plans an update.
* moto does not enforce the DescribeServices / DescribeTasks batch limits.

Ownership (ownership.py): before CreateService adopts an existing service and before every
UpdateService, the service's tags (DescribeServices ``include=["TAGS"]``, one call) must name
the spec's owner. Inside a reconcile pass (seen_tags.py) the pass's own DescribeServices asks
for the tags too, and the check uses that answer instead of a second call.

UpdateService answers with the whole service description: it comes back as ``Call.observed``
(a `ServiceState`), so the reconciler plans on from it without describing the service again.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Mapping

from botocore.exceptions import ClientError

from paas.aws import ownership, seen_tags
from paas.aws.api import Api, chunks, rid
from paas.aws.driver import Call
from paas.aws.ecs_task_definitions import TaskDefinitions
from paas.aws.errors import describe, error_message, map_error
from paas.aws.ownership import tag_dict
from paas.domain.errors import TransientError
from paas.domain.observed import ServiceDeployment, ServiceState
from paas.domain.specs import ServiceSpec

DESCRIBE_SERVICES_MAX = 10
DESCRIBE_TASKS_MAX = 100
CLIENT_TOKEN_MAX = 36
SERVICE_EVENTS_KEPT = 5


def ecs_client_token(token: str) -> str:
    ok = all(33 <= ord(c) <= 126 for c in token)
    if ok and 0 < len(token) <= CLIENT_TOKEN_MAX:
        return token
    return hashlib.sha256(token.encode()).hexdigest()[:CLIENT_TOKEN_MAX]


SEEN_KIND = "ecs-service"


def service_state(s: dict) -> ServiceState:
    """One service of a DescribeServices (or UpdateService) response as paas reads it."""
    deployments = tuple(
        ServiceDeployment(
            status=d.get("status", ""),
            task_definition=d.get("taskDefinition", ""),
            desired=int(d.get("desiredCount") or 0),
            running=int(d.get("runningCount") or 0),
            pending=int(d.get("pendingCount") or 0),
            failed_tasks=int(d.get("failedTasks") or 0),
            rollout_state=d.get("rolloutState"),
            rollout_reason=d.get("rolloutStateReason"),
        )
        for d in s.get("deployments") or []
    )
    tg = next((lb.get("targetGroupArn") for lb in s.get("loadBalancers") or []
               if lb.get("targetGroupArn")), None)
    events = tuple(e.get("message", "") for e in (s.get("events") or [])[:SERVICE_EVENTS_KEPT])
    return ServiceState(
        name=s["serviceName"], status=s.get("status", ""), task_definition=s.get("taskDefinition") or "",
        desired=int(s.get("desiredCount") or 0), running=int(s.get("runningCount") or 0),
        pending=int(s.get("pendingCount") or 0), deployments=deployments, target_group_arn=tg, events=events,
    )


def _observed(resp: dict) -> ServiceState | None:
    """The service as UpdateService answered it (AWS returns the whole description)."""
    svc = resp.get("service") or {}
    return service_state(svc) if svc.get("serviceName") and "deployments" in svc else None


class Services:
    def __init__(self, api: Api, task_definitions: TaskDefinitions) -> None:
        self.api = api
        self.task_definitions = task_definitions

    def _describe(self, cluster: str, names: list[str], *, tags: bool = False) -> list[dict]:
        raw: list[dict] = []
        extra = {"include": ["TAGS"]} if tags else {}
        for chunk in chunks(list(dict.fromkeys(names)), DESCRIBE_SERVICES_MAX):
            resp = self.api.call("ecs", "DescribeServices", cluster=cluster, services=list(chunk),
                                 **extra)
            raw.extend(resp.get("services") or [])
        if tags:
            for s in raw:  # for the owner check of a change later in this reconcile pass
                if s.get("status") in ("ACTIVE", "DRAINING"):
                    seen_tags.remember(SEEN_KIND, f"{cluster}/{s.get('serviceName')}", s)
        return raw

    def _live(self, cluster: str, name: str) -> dict | None:
        """The ACTIVE or DRAINING service of that name, with its tags (INACTIVE ones are gone:
        AWS lets a new service take the name). Inside a `seen_tags.scope()`, the description
        this pass already read (with its tags) serves instead of a second call."""
        seen = seen_tags.recall(SEEN_KIND, f"{cluster}/{name}")
        if seen is not seen_tags.MISSING:
            return seen
        for s in self._describe(cluster, [name], tags=True):
            if s.get("serviceName") == name and s.get("status") in ("ACTIVE", "DRAINING"):
                return s
        return None

    def _check_owner(self, operation: str, cluster: str, name: str, service: dict | None,
                     owner: Mapping[str, str] | None) -> None:
        if service is not None:
            ownership.check(operation, f"ECS service {name} in cluster {cluster}",
                            tag_dict(service.get("tags")), owner)

    def describe_services(self, cluster: str, names: list[str], *, releases: bool = False) -> dict[str, ServiceState]:
        # Inside a reconcile pass the tags come along (same call), for the owner check of an
        # update the pass may plan next (seen_tags.py).
        raw = self._describe(cluster, names, tags=seen_tags.active())
        # Reading each unseen task definition's release tag costs a DescribeTaskDefinition per
        # ARN: only when asked (the reconciler knows its own ARNs from the observation cache).
        releases_by_arn = self.task_definitions.release_of(s.get("taskDefinition") for s in raw) if releases else {}
        out: dict[str, ServiceState] = {}
        for s in raw:
            state = service_state(s)
            out[state.name] = replace(state, release=releases_by_arn.get(state.task_definition))
        return out

    def list_services(self, cluster: str) -> list[str]:
        """Service names in the cluster."""
        names: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"cluster": cluster, "maxResults": 100}
            if token:
                params["nextToken"] = token
            resp = self.api.call("ecs", "ListServices", **params)
            names.extend(a.rsplit("/", 1)[-1] for a in resp.get("serviceArns") or [])
            token = resp.get("nextToken")
            if not token:
                return names

    @staticmethod
    def _deployment_configuration(spec: ServiceSpec) -> dict:
        return {
            "minimumHealthyPercent": spec.minimum_healthy_percent,
            "maximumPercent": spec.maximum_percent,
            # ECS's own rollback stays off: the controller rolls back to the last *known-good*
            # release itself (DESIGN.md §1, §4); ECS would roll back to the previous one.
            "deploymentCircuitBreaker": {"enable": spec.circuit_breaker, "rollback": False},
        }

    @staticmethod
    def _network(spec: ServiceSpec) -> dict:
        return {"awsvpcConfiguration": {"subnets": list(spec.subnets),
                                        "securityGroups": list(spec.security_groups),
                                        "assignPublicIp": "ENABLED" if spec.assign_public_ip else "DISABLED"}}

    def create_service(self, spec: ServiceSpec, token: str) -> Call:
        existing = self._live(spec.cluster, spec.name)
        self._check_owner("ecs:CreateService", spec.cluster, spec.name, existing, spec.tags)
        if existing is not None and existing.get("status") == "ACTIVE":
            # an earlier attempt of this step created it (AWS would also answer a same-token
            # retry with the existing service; moto would silently replace it)
            return Call("ecs:CreateService", None,
                        {"existing": True, "task_definition": existing.get("taskDefinition")})
        if existing is not None:
            raise TransientError(f"ecs:CreateService: service {spec.name} is still DRAINING", 15.0)
        params: dict[str, Any] = {
            "cluster": spec.cluster,
            "serviceName": spec.name,
            "taskDefinition": spec.task_definition,
            "desiredCount": spec.desired_count,
            "launchType": "FARGATE",
            "networkConfiguration": self._network(spec),
            "deploymentConfiguration": self._deployment_configuration(spec),
            "deploymentController": {"type": "ECS"},
            "clientToken": ecs_client_token(token),
            "propagateTags": "SERVICE",
            "enableECSManagedTags": True,
        }
        if spec.target_group_arn and spec.container_port:
            params["loadBalancers"] = [{"targetGroupArn": spec.target_group_arn,
                                        "containerName": spec.container_name,
                                        "containerPort": spec.container_port}]
        if spec.health_check_grace_period is not None:
            # 0 when unset: a task slower to start than the target group's checks is killed
            params["healthCheckGracePeriodSeconds"] = spec.health_check_grace_period
        if spec.tags:
            params["tags"] = [{"key": k, "value": v} for k, v in sorted(spec.tags.items())]
        try:
            resp = self.api.call("ecs", "CreateService", allow=("InvalidParameterException",), **params)
        except ClientError as e:
            if "not idempotent" in error_message(e).lower() or "already exists" in error_message(e).lower():
                # a service of that name exists (created by an earlier attempt with another
                # token, or by a racing worker): observe again and plan from what is there
                raise TransientError(describe("ecs:CreateService", e), 5.0) from e
            raise map_error(e, "ecs:CreateService") from e
        svc = resp.get("service") or {}
        seen_tags.forget(SEEN_KIND, f"{spec.cluster}/{spec.name}")
        return Call("ecs:CreateService", rid(resp), {"arn": svc.get("serviceArn")}, observed=_observed(resp))

    def update_service(self, spec: ServiceSpec) -> Call:
        """After checking the service's owner tags against the spec's (one DescribeServices)."""
        self._check_owner("ecs:UpdateService", spec.cluster, spec.name,
                          self._live(spec.cluster, spec.name), spec.tags)
        extra: dict[str, Any] = {}
        if spec.health_check_grace_period is not None:
            extra["healthCheckGracePeriodSeconds"] = spec.health_check_grace_period
        resp = self.api.call("ecs", "UpdateService", cluster=spec.cluster, service=spec.name,
                             taskDefinition=spec.task_definition, desiredCount=spec.desired_count,
                             deploymentConfiguration=self._deployment_configuration(spec),
                             networkConfiguration=self._network(spec),
                             forceNewDeployment=False, **extra)
        svc = resp.get("service") or {}
        return Call("ecs:UpdateService", rid(resp),
                    {"arn": svc.get("serviceArn"), "task_definition": spec.task_definition,
                     "desired": spec.desired_count}, observed=_observed(resp))

    def scale_service(self, cluster: str, name: str, desired: int, *,
                      owner: Mapping[str, str] | None = None) -> Call:
        """With `owner` (paas:app/env/process), the service's tags are checked first."""
        if owner:
            self._check_owner("ecs:UpdateService", cluster, name, self._live(cluster, name), owner)
        resp = self.api.call("ecs", "UpdateService", cluster=cluster, service=name, desiredCount=desired)
        return Call("ecs:UpdateService", rid(resp), {"desired": desired}, observed=_observed(resp))

    def describe_tasks(self, cluster: str, task_arns: list[str]) -> list[dict]:
        """Raw task descriptions, ≤ 100 per call (AWS's limit)."""
        out: list[dict] = []
        for chunk in chunks(list(dict.fromkeys(task_arns)), DESCRIBE_TASKS_MAX):
            resp = self.api.call("ecs", "DescribeTasks", cluster=cluster, tasks=list(chunk))
            out.extend(resp.get("tasks") or [])
        return out

