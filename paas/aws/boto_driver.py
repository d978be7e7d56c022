"""`BotoDriver`: the `Driver` protocol against the real AWS APIs (boto3).

AWS's real limits are honoured here even where the emulator (moto) is lax:

* ECS DescribeServices: ≤ 10 services per call (batched).
* ECS DescribeTasks: ≤ 100 tasks per call (`describe_tasks`, batched).
* ELBv2 DescribeTargetHealth: one target group per call.
* ELBv2 DescribeRules: the API documents no maximum for ``RuleArns`` (only PageSize ≤ 400);
  we send ≤ 20 ARNs per call as a conservative batch and follow ``NextMarker``.
* CloudWatch GetMetricData: ≤ 500 queries per call, results paged with NextToken.
* ECS CreateService ``clientToken``: ≤ 36 ASCII characters 33-126; longer tokens are hashed
  deterministically (sha256, 36 hex chars) so retries still send the same token.
* CloudFormation ``ClientRequestToken``: 1-128 characters matching ``[a-zA-Z0-9][-a-zA-Z0-9]*``;
  other characters become ``-`` and long tokens are hashed.

Every call goes through `_api`, which counts it (per driver and process-wide) and maps botocore
errors to `TransientError` / `PermanentError` (paas/aws/errors.py).

Emulator (moto 5.2) gaps this driver works around, and why the code is still right on AWS:

* CloudFormation UpdateStack with an unchanged template only says "No updates are to be
  performed" when stack Parameters are passed; the driver compares the ``paas:template`` tag
  with the spec's hash first and skips the call (it also treats the AWS message as success).
* ECS CreateService on an existing name silently replaces the service in moto (AWS answers
  InvalidParameterException "Creation of service was not idempotent"). The driver checks for
  an existing ACTIVE service first and treats it as the result of an earlier attempt (one extra
  DescribeServices per creation, which is rare). AWS's exception (a racing creator) becomes a
  TransientError, so the next pass observes the service and plans an update.
* ECS DescribeServices, GetMetricData and DescribeRules limits are not enforced by moto.
* moto never produces ROLLBACK_COMPLETE / UPDATE_ROLLBACK_FAILED and does not implement
  ContinueUpdateRollback; the tests put a stack into ROLLBACK_COMPLETE through moto's backend.
* moto's CloudFormation cannot update a TargetGroup in place (the resource silently drops out of
  the stack and its outputs), and DeleteStack leaves TargetGroups and ListenerRules behind
  (no delete_from_cloudformation_json). It ignores TargetGroup Tags/TargetGroupAttributes and
  IAM Role ManagedPolicyArns. Nothing to do in the driver (AWS behaves); noted for devstack.

Not in the Protocol but available: `describe_tasks` (≤ 100 per call), `delete_stack`,
`throttle_counts` (added to the Protocol), `clients` (the cached `AwsClients`).
The task-definition → release cache lives on the shared `AwsClients` (task definitions are
immutable and ARNs globally unique), so every driver/thread on those clients benefits.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shlex
import threading
import time
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Sequence

from botocore import xform_name
from botocore.exceptions import ClientError

from paas.aws.accounting import CallCounter, counting_into, operation_key
from paas.aws.driver import Call, MetricQuery
from paas.aws.errors import (
    STACK_BUSY_DELAY,
    describe,
    error_code,
    error_message,
    is_no_updates,
    map_error,
)
from paas.aws.session import AwsClients
from paas.domain.errors import PermanentError, TransientError
from paas.domain.observed import (
    ServiceDeployment,
    ServiceState,
    StackState,
    TargetHealth,
)
from paas.domain.specs import ProcessInfra, ServiceSpec, StackSpec, TaskDefSpec

log = logging.getLogger(__name__)

DESCRIBE_SERVICES_MAX = 10
DESCRIBE_TASKS_MAX = 100
DESCRIBE_RULES_BATCH = 20
GET_METRIC_DATA_MAX = 500
CLIENT_TOKEN_MAX = 36
CFN_TOKEN_MAX = 128
SERVICE_EVENTS_KEPT = 5

TEMPLATE_TAG = "paas:template"
RELEASE_TAG = "paas:release"

# Output-key scheme of paas/planner/infra_template.py (kept in sync; round-tripped by tests).
_OUTPUT_RE = re.compile(r"^([a-z][a-z0-9X]*)(BlueTargetGroup|GreenTargetGroup|ListenerRule)$")

_ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repo>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")

# stack states from which only a delete gets us anywhere
_DELETE_TO_RECOVER = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "REVIEW_IN_PROGRESS"}
_FAILED_STATES = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
                  "UPDATE_ROLLBACK_FAILED", "CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED",
                  "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED"}
_IAM_TYPES_PREFIX = "AWS::IAM::"
_IAM_NAME_PROPS = ("RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName")


def parse_infra(outputs: dict[str, str]) -> dict[str, ProcessInfra]:
    """Stack outputs → {process: ProcessInfra} (see infra_template's output-key scheme)."""
    found: dict[str, dict[str, str]] = {}
    for key, value in outputs.items():
        m = _OUTPUT_RE.match(key)
        if not m:
            continue
        proc = m.group(1).replace("X", "-")
        field = {"BlueTargetGroup": "blue_target_group", "GreenTargetGroup": "green_target_group",
                 "ListenerRule": "rule_arn"}[m.group(2)]
        found.setdefault(proc, {})[field] = value
    return {p: ProcessInfra(**f) for p, f in found.items()}


def cfn_token(token: str) -> str:
    t = re.sub(r"[^-a-zA-Z0-9]", "-", token)
    if not t or not t[0].isalnum():
        t = "t" + t
    if len(t) > CFN_TOKEN_MAX:
        t = t[:CFN_TOKEN_MAX - 17] + "-" + hashlib.sha256(token.encode()).hexdigest()[:16]
    return t


def ecs_client_token(token: str) -> str:
    ok = all(33 <= ord(c) <= 126 for c in token)
    if ok and 0 < len(token) <= CLIENT_TOKEN_MAX:
        return token
    return hashlib.sha256(token.encode()).hexdigest()[:CLIENT_TOKEN_MAX]


def capabilities(template: dict) -> list[str]:
    caps: set[str] = set()
    for res in (template.get("Resources") or {}).values():
        if str(res.get("Type", "")).startswith(_IAM_TYPES_PREFIX):
            caps.add("CAPABILITY_IAM")
            if any(k in (res.get("Properties") or {}) for k in _IAM_NAME_PROPS):
                caps.add("CAPABILITY_NAMED_IAM")
    return sorted(caps)


def _chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _epoch(t: Any) -> float:
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return t.timestamp()
    return float(t)


def _rid(resp: dict) -> str | None:
    return (resp or {}).get("ResponseMetadata", {}).get("RequestId")


def _parse_release(tags: Iterable[dict] | None) -> int | None:
    for t in tags or ():
        if t.get("key") == RELEASE_TAG:
            try:
                return int(t.get("value"))
            except (TypeError, ValueError):
                return None
    return None


class _SecretFilter(logging.Filter):
    """Redacts values registered for the current thread from any log record (botocore logs
    request params and bodies at DEBUG; a secret must never reach a log)."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def values(self) -> list[str]:
        v = getattr(self._local, "values", None)
        if v is None:
            v = self._local.values = []
        return v

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = getattr(self._local, "values", None)
        if not secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001
            text = str(record.msg)
        hit = False
        for s in secrets:
            if s and s in text:
                text = text.replace(s, "***")
                hit = True
        if hit:
            record.msg, record.args = text, None
        return True


_secret_filter = _SecretFilter()
_filtered_loggers: set[str] = set()
_filter_lock = threading.Lock()


def _install_secret_filter() -> None:
    with _filter_lock:
        names = [n for n in list(logging.root.manager.loggerDict)
                 if n.split(".")[0] in ("botocore", "boto3", "urllib3", "s3transfer")]
        for n in ["botocore", "boto3", "urllib3", *names]:
            if n not in _filtered_loggers:
                logging.getLogger(n).addFilter(_secret_filter)
                _filtered_loggers.add(n)


class BotoDriver:
    """The boto3 implementation of `paas.aws.driver.Driver` (plus `describe_tasks`,
    `delete_stack`, `throttle_counts`)."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.region = clients.region
        self._counter = CallCounter()
        self._releases = clients.release_cache  # ARN → paas:release, shared, immutable facts
        self._releases_lock = threading.Lock()
        self._stack_reasons: dict[tuple, str | None] = {}

    # ------------------------------------------------------------------ plumbing
    def _api(self, service: str, operation: str, /, *, allow: tuple[str, ...] = (),
             region: str | None = None, **params: Any) -> dict:
        """One AWS call: counted, and errors mapped (codes in `allow` re-raised as ClientError)."""
        client = self.clients.client(service, region)
        method = getattr(client, xform_name(operation))
        key = operation_key(service, operation)
        with counting_into(self._counter):
            try:
                return method(**params)
            except ClientError as e:
                if error_code(e) in allow:
                    raise
                mapped = map_error(e, key)
                raise mapped from e
            except Exception as e:  # noqa: BLE001
                mapped = map_error(e, key)
                if mapped is None:
                    raise
                raise mapped from e

    def call_counts(self) -> dict[str, int]:
        return self._counter.calls()

    def throttle_counts(self) -> dict[str, int]:
        return self._counter.throttles()

    # ------------------------------------------------------------------ CloudFormation
    def _describe_stack_raw(self, name: str) -> dict | None:
        try:
            resp = self._api("cloudformation", "DescribeStacks", allow=("ValidationError",),
                             StackName=name)
        except ClientError as e:
            if "does not exist" in error_message(e):
                return None
            raise map_error(e, "cloudformation:DescribeStacks") from e
        stacks = resp.get("Stacks") or []
        return stacks[0] if stacks else None

    def _failure_reason(self, stack: dict) -> str | None:
        """The first *_FAILED resource event of the last operation (cached per operation)."""
        key = (stack.get("StackId"), str(stack.get("LastUpdatedTime") or stack.get("CreationTime")),
               stack.get("StackStatus"))
        if key in self._stack_reasons:
            return self._stack_reasons[key]
        reason = None
        try:
            resp = self._api("cloudformation", "DescribeStackEvents", StackName=stack["StackId"])
            for ev in resp.get("StackEvents") or []:  # newest first
                st = ev.get("ResourceStatus", "")
                if st.endswith("_FAILED") and ev.get("ResourceStatusReason"):
                    reason = f"{ev.get('LogicalResourceId')}: {ev['ResourceStatusReason']}"
                if ev.get("ResourceType") == "AWS::CloudFormation::Stack" and st.endswith("_IN_PROGRESS") \
                        and ev.get("ResourceStatusReason") == "User Initiated":
                    break  # start of the last operation
        except TransientError:
            return None
        self._stack_reasons[key] = reason
        return reason

    def describe_stack(self, name: str) -> StackState | None:
        s = self._describe_stack_raw(name)
        if s is None or s.get("StackStatus") == "DELETE_COMPLETE":
            return None
        status = s["StackStatus"]
        tags = {t["Key"]: t["Value"] for t in s.get("Tags") or []}
        outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in s.get("Outputs") or []}
        reason = s.get("StackStatusReason")
        if status in _FAILED_STATES:
            reason = self._failure_reason(s) or reason
        return StackState(name=s.get("StackName", name), status=status,
                          template_hash=tags.get(TEMPLATE_TAG), reason=reason,
                          infra=parse_infra(outputs), outputs=outputs)

    def apply_stack(self, spec: StackSpec, token: str) -> Call:
        """Create, or update when the template hash differs. Never waits: the reconciler polls
        `describe_stack`. A stack that can only be deleted (failed create: ROLLBACK_COMPLETE) is
        deleted and a TransientError asks to come back and create it."""
        tok = cfn_token(token)
        body = _template_json(spec.template)
        tags = [{"Key": k, "Value": v} for k, v in sorted(spec.tags.items()) if k != TEMPLATE_TAG]
        tags.append({"Key": TEMPLATE_TAG, "Value": spec.template_hash})
        caps = capabilities(spec.template)
        current = self._describe_stack_raw(spec.name)
        status = current.get("StackStatus") if current else None

        if current is None or status == "DELETE_COMPLETE":
            create = dict(StackName=spec.name, TemplateBody=body, Capabilities=caps, Tags=tags,
                          OnFailure="ROLLBACK")
            try:
                try:
                    resp = self._api("cloudformation", "CreateStack",
                                     allow=("AlreadyExistsException", "TokenAlreadyExistsException"),
                                     ClientRequestToken=tok, **create)
                except ClientError as e:
                    if error_code(e) != "TokenAlreadyExistsException":
                        raise
                    # The token was spent on an earlier stack of this name (a failed create we
                    # deleted). Stack names are unique, so a create is idempotent by name anyway:
                    # use a fresh token.
                    resp = self._api("cloudformation", "CreateStack",
                                     allow=("AlreadyExistsException",),
                                     ClientRequestToken=cfn_token(f"{token}-{time.time_ns()}"),
                                     **create)
            except ClientError as e:
                # another attempt (this one, retried, or a racing worker) got there first
                raise TransientError(describe("cloudformation:CreateStack", e), STACK_BUSY_DELAY) from e
            return Call("cloudformation:CreateStack", _rid(resp), {"stack_id": resp.get("StackId")})

        stack_id = current.get("StackId")
        if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
            raise TransientError(f"cloudformation:UpdateStack: stack {spec.name} is {status}; "
                                 "waiting for it to settle", STACK_BUSY_DELAY)
        if status in _DELETE_TO_RECOVER:
            reason = self._failure_reason(current) or current.get("StackStatusReason") or ""
            resp = self._api("cloudformation", "DeleteStack", StackName=stack_id,
                             ClientRequestToken=cfn_token(f"{token}-del"))
            raise TransientError(
                f"cloudformation:DeleteStack: stack {spec.name} was {status}"
                + (f" ({reason})" if reason else "")
                + f"; deleting it so it can be created again (request id {_rid(resp)})",
                STACK_BUSY_DELAY)
        if status == "UPDATE_ROLLBACK_FAILED":
            return self.continue_update_rollback(spec.name, token)
        if status == "DELETE_FAILED":
            raise PermanentError(f"cloudformation:UpdateStack: stack {spec.name} is DELETE_FAILED "
                                 f"({self._failure_reason(current) or current.get('StackStatusReason')}); "
                                 "fix or delete it by hand")

        current_hash = {t["Key"]: t["Value"] for t in current.get("Tags") or []}.get(TEMPLATE_TAG)
        if current_hash == spec.template_hash and status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            return Call("cloudformation:UpdateStack", None, {"stack_id": stack_id, "noop": True})
        try:
            resp = self._api("cloudformation", "UpdateStack",
                             allow=("ValidationError", "TokenAlreadyExistsException"),
                             StackName=spec.name, TemplateBody=body, Capabilities=caps, Tags=tags,
                             ClientRequestToken=tok)
        except ClientError as e:
            if is_no_updates(e):
                return Call("cloudformation:UpdateStack", _rid(e.response),
                            {"stack_id": stack_id, "noop": True})
            if error_code(e) == "TokenAlreadyExistsException":
                # this very update was already accepted (our earlier attempt): success
                return Call("cloudformation:UpdateStack", _rid(e.response),
                            {"stack_id": stack_id, "duplicate": True})
            raise map_error(e, "cloudformation:UpdateStack") from e
        return Call("cloudformation:UpdateStack", _rid(resp), {"stack_id": resp.get("StackId")})

    def continue_update_rollback(self, name: str, token: str) -> Call:
        resp = self._api("cloudformation", "ContinueUpdateRollback", StackName=name,
                         ClientRequestToken=cfn_token(token))
        return Call("cloudformation:ContinueUpdateRollback", _rid(resp), {})

    def delete_stack(self, name: str, token: str) -> Call:
        resp = self._api("cloudformation", "DeleteStack", StackName=name,
                         ClientRequestToken=cfn_token(token))
        return Call("cloudformation:DeleteStack", _rid(resp), {})

    # ------------------------------------------------------------------ ECS task definitions
    def _remember_release(self, arn: str, release: int | None) -> None:
        with self._releases_lock:
            self._releases[arn] = release

    def find_task_definition(self, family: str, release: int) -> str | None:
        try:
            resp = self._api("ecs", "DescribeTaskDefinition", allow=("ClientException",),
                             taskDefinition=family, include=["TAGS"])
        except ClientError as e:
            if "Unable to describe task definition" in error_message(e) or "not found" in error_message(e).lower():
                return None
            raise map_error(e, "ecs:DescribeTaskDefinition") from e
        td = resp.get("taskDefinition") or {}
        arn = td.get("taskDefinitionArn")
        if not arn or td.get("status") not in (None, "ACTIVE"):
            return None
        got = _parse_release(resp.get("tags"))
        self._remember_release(arn, got)
        if got == release:
            return arn
        if got is not None and got < release:
            return None  # the newest revision predates this release: it was never registered
        return self._find_older_revision(family, release)

    def _find_older_revision(self, family: str, release: int, scan: int = 10) -> str | None:
        """A rollback to an older release: its revision is among the family's recent ones.

        Only on a cache miss (the reconciler remembers ARNs it registered); bounded to `scan`
        revisions, newest first, each read once per process (task definitions are immutable).
        """
        resp = self._api("ecs", "ListTaskDefinitions", familyPrefix=family, status="ACTIVE", sort="DESC",
                         maxResults=scan)
        for arn in (resp.get("taskDefinitionArns") or [])[:scan]:
            if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] != family:
                continue  # familyPrefix also matches longer family names
            if self._release_of([arn]).get(arn) == release:
                return arn
        return None

    def register_task_definition(self, spec: TaskDefSpec) -> Call:
        container: dict[str, Any] = {
            "name": spec.container_name,
            "image": spec.image,
            "essential": True,
            "environment": [{"name": k, "value": v} for k, v in sorted(spec.environment.items())],
        }
        if spec.port is not None:
            container["portMappings"] = [{"containerPort": spec.port, "protocol": "tcp"}]
        if spec.command:
            container["command"] = shlex.split(spec.command)
        if spec.secrets:
            container["secrets"] = [{"name": k, "valueFrom": v} for k, v in sorted(spec.secrets.items())]
        if spec.log_group:
            container["logConfiguration"] = {
                "logDriver": "awslogs",
                "options": {"awslogs-group": spec.log_group, "awslogs-region": spec.region,
                            "awslogs-stream-prefix": spec.container_name},
            }
        params: dict[str, Any] = {
            "family": spec.family,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": str(spec.cpu),
            "memory": str(spec.memory),
            "containerDefinitions": [container],
        }
        if spec.execution_role_arn:
            params["executionRoleArn"] = spec.execution_role_arn
        if spec.task_role_arn:
            params["taskRoleArn"] = spec.task_role_arn
        if spec.tags:
            params["tags"] = [{"key": k, "value": v} for k, v in sorted(spec.tags.items())]
        resp = self._api("ecs", "RegisterTaskDefinition", **params)
        td = resp["taskDefinition"]
        arn = td["taskDefinitionArn"]
        rel = spec.tags.get(RELEASE_TAG)
        self._remember_release(arn, int(rel) if rel and rel.isdigit() else None)
        return Call("ecs:RegisterTaskDefinition", _rid(resp),
                    {"arn": arn, "revision": td.get("revision")})

    def deregister_task_definition(self, arn: str) -> Call:
        resp = self._api("ecs", "DeregisterTaskDefinition", taskDefinition=arn)
        return Call("ecs:DeregisterTaskDefinition", _rid(resp), {"arn": arn})

    def list_task_definitions(self, family: str) -> list[str]:
        """ACTIVE revisions of exactly this family, oldest first."""
        arns: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"familyPrefix": family, "status": "ACTIVE", "sort": "ASC"}
            if token:
                params["nextToken"] = token
            resp = self._api("ecs", "ListTaskDefinitions", **params)
            for arn in resp.get("taskDefinitionArns") or []:
                if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family:
                    arns.append(arn)
            token = resp.get("nextToken")
            if not token:
                return arns

    def _release_of(self, arns: Iterable[str]) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for arn in dict.fromkeys(a for a in arns if a):
            with self._releases_lock:
                if arn in self._releases:
                    out[arn] = self._releases[arn]
                    continue
            try:
                resp = self._api("ecs", "DescribeTaskDefinition", allow=("ClientException",),
                                 taskDefinition=arn, include=["TAGS"])
            except ClientError:
                out[arn] = None  # deregistered-and-deleted or foreign: unknown, don't cache
                continue
            rel = _parse_release(resp.get("tags"))
            self._remember_release(arn, rel)
            out[arn] = rel
        return out

    # ------------------------------------------------------------------ ECS services
    def describe_services(self, cluster: str, names: list[str], *, releases: bool = False) -> dict[str, ServiceState]:
        raw: list[dict] = []
        for chunk in _chunks(list(dict.fromkeys(names)), DESCRIBE_SERVICES_MAX):
            resp = self._api("ecs", "DescribeServices", cluster=cluster, services=list(chunk))
            raw.extend(resp.get("services") or [])
        # Reading each unseen task definition's release tag costs a DescribeTaskDefinition per
        # ARN: only when asked (the reconciler knows its own ARNs from the observation cache).
        releases_by_arn = self._release_of(s.get("taskDefinition") for s in raw) if releases else {}
        out: dict[str, ServiceState] = {}
        for s in raw:
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
            td = s.get("taskDefinition") or ""
            out[s["serviceName"]] = ServiceState(
                name=s["serviceName"], status=s.get("status", ""), task_definition=td,
                desired=int(s.get("desiredCount") or 0), running=int(s.get("runningCount") or 0),
                pending=int(s.get("pendingCount") or 0), deployments=deployments,
                target_group_arn=tg, release=releases_by_arn.get(td), events=events,
            )
        return out

    def list_services(self, cluster: str) -> list[str]:
        """Service names in the cluster."""
        names: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"cluster": cluster, "maxResults": 100}
            if token:
                params["nextToken"] = token
            resp = self._api("ecs", "ListServices", **params)
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
                                        "assignPublicIp": "DISABLED"}}

    def create_service(self, spec: ServiceSpec, token: str) -> Call:
        existing = self.describe_services(spec.cluster, [spec.name]).get(spec.name)
        if existing is not None and existing.status == "ACTIVE":
            # an earlier attempt of this step created it (AWS would also answer a same-token
            # retry with the existing service; moto would silently replace it)
            return Call("ecs:CreateService", None,
                        {"existing": True, "task_definition": existing.task_definition})
        if existing is not None and existing.status == "DRAINING":
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
        if spec.tags:
            params["tags"] = [{"key": k, "value": v} for k, v in sorted(spec.tags.items())]
        try:
            resp = self._api("ecs", "CreateService", allow=("InvalidParameterException",), **params)
        except ClientError as e:
            if "not idempotent" in error_message(e).lower() or "already exists" in error_message(e).lower():
                # a service of that name exists (created by an earlier attempt with another
                # token, or by a racing worker): observe again and plan from what is there
                raise TransientError(describe("ecs:CreateService", e), 5.0) from e
            raise map_error(e, "ecs:CreateService") from e
        svc = resp.get("service") or {}
        return Call("ecs:CreateService", _rid(resp), {"arn": svc.get("serviceArn")})

    def update_service(self, spec: ServiceSpec) -> Call:
        resp = self._api("ecs", "UpdateService", cluster=spec.cluster, service=spec.name,
                         taskDefinition=spec.task_definition, desiredCount=spec.desired_count,
                         deploymentConfiguration=self._deployment_configuration(spec),
                         networkConfiguration=self._network(spec),
                         forceNewDeployment=False)
        svc = resp.get("service") or {}
        return Call("ecs:UpdateService", _rid(resp),
                    {"arn": svc.get("serviceArn"), "task_definition": spec.task_definition,
                     "desired": spec.desired_count})

    def scale_service(self, cluster: str, name: str, desired: int) -> Call:
        resp = self._api("ecs", "UpdateService", cluster=cluster, service=name, desiredCount=desired)
        return Call("ecs:UpdateService", _rid(resp), {"desired": desired})

    def describe_tasks(self, cluster: str, task_arns: list[str]) -> list[dict]:
        """Raw task descriptions, ≤ 100 per call (AWS's limit)."""
        out: list[dict] = []
        for chunk in _chunks(list(dict.fromkeys(task_arns)), DESCRIBE_TASKS_MAX):
            resp = self._api("ecs", "DescribeTasks", cluster=cluster, tasks=list(chunk))
            out.extend(resp.get("tasks") or [])
        return out

    # ------------------------------------------------------------------ ELBv2
    def target_health(self, target_group_arns: list[str]) -> dict[str, TargetHealth]:
        """Per target group: healthy, unhealthy (incl. ``unavailable``), total (registered,
        not draining). A target group that no longer exists is absent from the result."""
        out: dict[str, TargetHealth] = {}
        for arn in dict.fromkeys(target_group_arns):
            try:
                resp = self._api("elbv2", "DescribeTargetHealth",
                                 allow=("TargetGroupNotFound", "TargetGroupNotFoundException"),
                                 TargetGroupArn=arn)
            except ClientError:
                continue
            states = [(d.get("TargetHealth") or {}).get("State")
                      for d in resp.get("TargetHealthDescriptions") or []]
            live = [s for s in states if s != "draining"]
            out[arn] = TargetHealth(healthy=sum(s == "healthy" for s in live),
                                    unhealthy=sum(s in ("unhealthy", "unavailable") for s in live),
                                    total=len(live))
        return out

    def _describe_rules(self, arns: list[str]) -> list[dict]:
        rules: list[dict] = []
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"RuleArns": arns}
            if marker:
                params["Marker"] = marker
            resp = self._api("elbv2", "DescribeRules", allow=("RuleNotFound", "RuleNotFoundException"),
                             **params)
            rules.extend(resp.get("Rules") or [])
            marker = resp.get("NextMarker")
            if not marker:
                return rules

    def rule_weights(self, rule_arns: list[str]) -> dict[str, dict[str, int]]:
        """rule ARN → {target group ARN: weight}. Rules that don't exist are absent."""
        rules: list[dict] = []
        for chunk in _chunks(list(dict.fromkeys(rule_arns)), DESCRIBE_RULES_BATCH):
            try:
                rules.extend(self._describe_rules(list(chunk)))
            except ClientError:
                # one of them is gone: ask one by one to keep the others
                for arn in chunk:
                    try:
                        rules.extend(self._describe_rules([arn]))
                    except ClientError:
                        continue
        out: dict[str, dict[str, int]] = {}
        for r in rules:
            weights: dict[str, int] = {}
            for action in r.get("Actions") or []:
                if action.get("Type") != "forward":
                    continue
                fc = action.get("ForwardConfig") or {}
                if fc.get("TargetGroups"):
                    for tg in fc["TargetGroups"]:
                        weights[tg["TargetGroupArn"]] = int(tg.get("Weight", 1) or 0)
                elif action.get("TargetGroupArn"):
                    weights[action["TargetGroupArn"]] = 100  # a single target: all traffic
            out[r["RuleArn"]] = weights
        return out

    def set_weights(self, rule_arn: str, weights: dict[str, int]) -> Call:
        """ONE ModifyRule call: the whole traffic split changes atomically."""
        for tg, w in weights.items():
            if not 0 <= int(w) <= 999:
                raise PermanentError(f"elasticloadbalancing:ModifyRule: weight {w} for {tg} "
                                     "outside 0..999")
        action = {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": tg, "Weight": int(w)}
                                 for tg, w in weights.items()],
                "TargetGroupStickinessConfig": {"Enabled": False},
            },
        }
        resp = self._api("elbv2", "ModifyRule", RuleArn=rule_arn, Actions=[action])
        return Call("elasticloadbalancing:ModifyRule", _rid(resp), {"weights": dict(weights)})

    # ------------------------------------------------------------------ CloudWatch
    def metric_data(self, queries: list[MetricQuery], start: float, end: float) -> dict[str, list[tuple[float, float]]]:
        out: dict[str, list[tuple[float, float]]] = {q.id: [] for q in queries}
        t0 = datetime.fromtimestamp(start, tz=timezone.utc)
        t1 = datetime.fromtimestamp(end, tz=timezone.utc)
        for chunk in _chunks(list(queries), GET_METRIC_DATA_MAX):
            mdq = [{
                "Id": q.id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": q.metric,
                        "Dimensions": [
                            {"Name": "TargetGroup", "Value": _tg_dimension(q.target_group_arn)},
                            {"Name": "LoadBalancer", "Value": _lb_dimension(q.load_balancer_arn)},
                        ],
                    },
                    "Period": q.period,
                    "Stat": q.stat,
                },
                "ReturnData": True,
            } for q in chunk]
            token: str | None = None
            while True:
                params: dict[str, Any] = {"MetricDataQueries": mdq, "StartTime": t0, "EndTime": t1,
                                          "ScanBy": "TimestampAscending"}
                if token:
                    params["NextToken"] = token
                resp = self._api("cloudwatch", "GetMetricData", **params)
                for r in resp.get("MetricDataResults") or []:
                    pts = out.setdefault(r["Id"], [])
                    pts.extend((_epoch(t), float(v)) for t, v in
                               zip(r.get("Timestamps") or [], r.get("Values") or []))
                token = resp.get("NextToken")
                if not token:
                    break
        for k in out:
            out[k].sort(key=lambda p: p[0])
        return out

    # ------------------------------------------------------------------ SSM / ECR
    def put_secret(self, name: str, value: str) -> tuple[str, int]:
        """SecureString, overwritten; returns (parameter ARN, version). The value is redacted
        from every log record made while the call runs (botocore logs params at DEBUG)."""
        _install_secret_filter()
        vals = _secret_filter.values()
        vals.append(value)
        try:
            resp = self._api("ssm", "PutParameter", Name=name, Value=value, Type="SecureString",
                             Overwrite=True, Tier="Standard")
            version = int(resp.get("Version") or 0)
            got = self._api("ssm", "GetParameter", Name=name, WithDecryption=False)
        finally:
            vals.remove(value)
        arn = (got.get("Parameter") or {}).get("ARN")
        log.info("stored secret parameter %s (version %s)", name, version)
        return arn, version

    def resolve_digest(self, image: str) -> str | None:
        m = _ECR_IMAGE.match(image)
        if not m:
            return None
        if m.group("digest"):
            return m.group("digest")
        repo, tag = m.group("repo"), m.group("tag") or "latest"
        try:
            resp = self._api("ecr", "DescribeImages",
                             allow=("ImageNotFoundException", "RepositoryNotFoundException"),
                             region=m.group("region"), registryId=m.group("registry"),
                             repositoryName=repo, imageIds=[{"imageTag": tag}])
        except ClientError as e:
            raise PermanentError(f"ecr:DescribeImages: image {image} not found: {error_message(e)}",
                                 _rid(e.response)) from e
        details = resp.get("imageDetails") or []
        return details[0].get("imageDigest") if details else None


def _tg_dimension(arn: str) -> str:
    """``arn:aws:elasticloadbalancing:r:a:targetgroup/name/id`` → ``targetgroup/name/id``."""
    i = arn.find(":targetgroup/")
    if i < 0:
        raise PermanentError(f"cloudwatch:GetMetricData: not a target group ARN: {arn}")
    return arn[i + 1:]


def _lb_dimension(arn: str) -> str:
    """``arn:aws:elasticloadbalancing:r:a:loadbalancer/app/name/id`` → ``app/name/id``."""
    i = arn.find(":loadbalancer/")
    if i < 0:
        raise PermanentError(f"cloudwatch:GetMetricData: not a load balancer ARN: {arn}")
    return arn[i + len(":loadbalancer/"):]


def _template_json(template: dict) -> str:
    import json

    return json.dumps(template, sort_keys=True, separators=(",", ":"))
