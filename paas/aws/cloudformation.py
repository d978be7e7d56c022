"""The infrastructure stack through CloudFormation (DESIGN.md §3): one stack per app+environment.

`apply_stack` creates, or updates when the template hash (the ``paas:template`` tag) differs;
it never waits: the reconciler polls `describe_stack`. "No updates are to be performed" is
success, `ClientRequestToken` rides on every mutating call. An existing stack of that name is
changed only when its ``paas:app`` / ``paas:env`` tags name the spec's owner (ownership.py;
DescribeStacks returns the tags, so the check costs no call).

With a CloudFormation service role (``PAAS_CFN_ROLE_ARN``, `paas.aws.session.make_driver`),
every stack operation passes it as ``RoleARN``: CloudFormation creates the stack's resources
(IAM roles, target groups, ...) as that role, and the worker needs no write access to them,
only ``iam:PassRole`` on the role (`paas iam policy --cfn-role-arn`, paas/aws/iam.py).

AWS limits kept here: ``ClientRequestToken`` is 1-128 characters matching
``[a-zA-Z0-9][-a-zA-Z0-9]*``; other characters become ``-`` and long tokens are hashed.

Emulator (moto 5.2) gaps, and why the code is still right on AWS:

* UpdateStack with an unchanged template only says "No updates are to be performed" when stack
  Parameters are passed; the hash tag is compared first and the call skipped (the AWS message is
  treated as success too).
* moto never produces ROLLBACK_COMPLETE / UPDATE_ROLLBACK_FAILED and does not implement
  ContinueUpdateRollback; the tests put a stack into ROLLBACK_COMPLETE through moto's backend.
* moto cannot update a TargetGroup in place (the resource silently drops out of the stack and
  its outputs), and DeleteStack leaves TargetGroups and ListenerRules behind. It ignores
  TargetGroup Tags/TargetGroupAttributes and IAM Role ManagedPolicyArns. Nothing to do here
  (AWS behaves); noted for devstack.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Mapping

from botocore.exceptions import ClientError

from paas.aws import ownership
from paas.aws.api import Api, rid
from paas.aws.driver import Call
from paas.aws.errors import STACK_BUSY_DELAY, describe, error_code, error_message, is_no_updates, map_error
from paas.aws.ownership import tag_dict
from paas.domain.errors import PermanentError, TransientError
from paas.domain.observed import StackState
from paas.domain.specs import ProcessInfra, StackSpec

CFN_TOKEN_MAX = 128
TEMPLATE_TAG = "paas:template"

# Output-key scheme of paas/planner/infra_template.py (kept in sync; round-tripped by tests).
_OUTPUT_RE = re.compile(r"^([a-z][a-z0-9X]*)(BlueTargetGroup|GreenTargetGroup|ListenerRule)$")

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


def capabilities(template: dict) -> list[str]:
    caps: set[str] = set()
    for res in (template.get("Resources") or {}).values():
        if str(res.get("Type", "")).startswith(_IAM_TYPES_PREFIX):
            caps.add("CAPABILITY_IAM")
            if any(k in (res.get("Properties") or {}) for k in _IAM_NAME_PROPS):
                caps.add("CAPABILITY_NAMED_IAM")
    return sorted(caps)


def template_json(template: dict) -> str:
    return json.dumps(template, sort_keys=True, separators=(",", ":"))


class CloudFormation:
    def __init__(self, api: Api, role_arn: str | None = None) -> None:
        self.api = api
        # the CloudFormation service role stack operations run as (RoleARN), if configured
        self._role = {"RoleARN": role_arn} if role_arn else {}
        self._stack_reasons: dict[tuple, str | None] = {}
        # listener rule ARN → owner tags of the stack whose outputs name it (see ownership.py)
        self._rule_owners: dict[str, dict[str, str]] = {}

    def _describe_stack_raw(self, name: str) -> dict | None:
        try:
            resp = self.api.call("cloudformation", "DescribeStacks", allow=("ValidationError",),
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
            resp = self.api.call("cloudformation", "DescribeStackEvents", StackName=stack["StackId"])
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
        tags = tag_dict(s.get("Tags"))
        outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in s.get("Outputs") or []}
        reason = s.get("StackStatusReason")
        if status in _FAILED_STATES:
            reason = self._failure_reason(s) or reason
        infra = parse_infra(outputs)
        for p in infra.values():
            if p.rule_arn:
                self._rule_owners[p.rule_arn] = ownership.owner(tags)
        return StackState(name=s.get("StackName", name), status=status,
                          template_hash=tags.get(TEMPLATE_TAG), reason=reason,
                          infra=infra, outputs=outputs)

    def rule_owner(self, rule_arn: str, stack: str) -> dict[str, str] | None:
        """The owner tags of `stack` if its outputs name `rule_arn` (None: not that stack's)."""
        if rule_arn not in self._rule_owners:
            self.describe_stack(stack)
        return self._rule_owners.get(rule_arn)

    def _check_owner(self, operation: str, stack: dict | None, name: str,
                     owner: Mapping[str, str] | None) -> None:
        if stack is not None and stack.get("StackStatus") != "DELETE_COMPLETE":
            ownership.check(operation, f"stack {name}", tag_dict(stack.get("Tags")), owner)

    def apply_stack(self, spec: StackSpec, token: str) -> Call:
        """Create, or update when the template hash differs. Never waits: the reconciler polls
        `describe_stack`. A stack that can only be deleted (failed create: ROLLBACK_COMPLETE) is
        deleted and a TransientError asks to come back and create it."""
        tok = cfn_token(token)
        body = template_json(spec.template)
        tags = [{"Key": k, "Value": v} for k, v in sorted(spec.tags.items()) if k != TEMPLATE_TAG]
        tags.append({"Key": TEMPLATE_TAG, "Value": spec.template_hash})
        caps = capabilities(spec.template)
        current = self._describe_stack_raw(spec.name)
        status = current.get("StackStatus") if current else None
        self._check_owner("cloudformation:UpdateStack", current, spec.name, spec.tags)

        if current is None or status == "DELETE_COMPLETE":
            create = dict(StackName=spec.name, TemplateBody=body, Capabilities=caps, Tags=tags,
                          OnFailure="ROLLBACK", **self._role)
            try:
                try:
                    resp = self.api.call("cloudformation", "CreateStack",
                                         allow=("AlreadyExistsException", "TokenAlreadyExistsException"),
                                         ClientRequestToken=tok, **create)
                except ClientError as e:
                    if error_code(e) != "TokenAlreadyExistsException":
                        raise
                    # The token was spent on an earlier stack of this name (a failed create we
                    # deleted). Stack names are unique, so a create is idempotent by name anyway:
                    # use a fresh token.
                    resp = self.api.call("cloudformation", "CreateStack",
                                         allow=("AlreadyExistsException",),
                                         ClientRequestToken=cfn_token(f"{token}-{time.time_ns()}"),
                                         **create)
            except ClientError as e:
                # another attempt (this one, retried, or a racing worker) got there first
                raise TransientError(describe("cloudformation:CreateStack", e), STACK_BUSY_DELAY) from e
            return Call("cloudformation:CreateStack", rid(resp), {"stack_id": resp.get("StackId")})

        stack_id = current.get("StackId")
        if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
            raise TransientError(f"cloudformation:UpdateStack: stack {spec.name} is {status}; "
                                 "waiting for it to settle", STACK_BUSY_DELAY)
        if status in _DELETE_TO_RECOVER:
            reason = self._failure_reason(current) or current.get("StackStatusReason") or ""
            resp = self.api.call("cloudformation", "DeleteStack", StackName=stack_id,
                                 ClientRequestToken=cfn_token(f"{token}-del"), **self._role)
            raise TransientError(
                f"cloudformation:DeleteStack: stack {spec.name} was {status}"
                + (f" ({reason})" if reason else "")
                + f"; deleting it so it can be created again (request id {rid(resp)})",
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
            resp = self.api.call("cloudformation", "UpdateStack",
                                 allow=("ValidationError", "TokenAlreadyExistsException"),
                                 StackName=spec.name, TemplateBody=body, Capabilities=caps, Tags=tags,
                                 ClientRequestToken=tok, **self._role)
        except ClientError as e:
            if is_no_updates(e):
                return Call("cloudformation:UpdateStack", rid(e.response),
                            {"stack_id": stack_id, "noop": True})
            if error_code(e) == "TokenAlreadyExistsException":
                # this very update was already accepted (our earlier attempt): success
                return Call("cloudformation:UpdateStack", rid(e.response),
                            {"stack_id": stack_id, "duplicate": True})
            raise map_error(e, "cloudformation:UpdateStack") from e
        return Call("cloudformation:UpdateStack", rid(resp), {"stack_id": resp.get("StackId")})

    def continue_update_rollback(self, name: str, token: str, *,
                                 owner: Mapping[str, str] | None = None) -> Call:
        """With `owner` (paas:app/paas:env), the stack's tags are checked first."""
        if owner:
            self._check_owner("cloudformation:ContinueUpdateRollback",
                              self._describe_stack_raw(name), name, owner)
        resp = self.api.call("cloudformation", "ContinueUpdateRollback", StackName=name,
                             ClientRequestToken=cfn_token(token), **self._role)
        return Call("cloudformation:ContinueUpdateRollback", rid(resp), {})

    def delete_stack(self, name: str, token: str, *, owner: Mapping[str, str] | None = None) -> Call:
        """With `owner` (paas:app/paas:env), the stack's tags are checked first."""
        if owner:
            self._check_owner("cloudformation:DeleteStack", self._describe_stack_raw(name), name, owner)
        resp = self.api.call("cloudformation", "DeleteStack", StackName=name,
                             ClientRequestToken=cfn_token(token), **self._role)
        return Call("cloudformation:DeleteStack", rid(resp), {})

