"""CloudFormation failure states on moto, the way a stack fails on AWS (a moto gap).

moto creates a stack's resources inside the CreateStack / UpdateStack call and, when one
fails (a listener rule whose priority is in use, a target group name over 32 characters),
answers the API call with that resource's error and leaves the stack half-made and
CREATE_IN_PROGRESS. On AWS the call succeeds and the *stack* fails:

* create: the resource is ``CREATE_FAILED`` with its reason; the stack goes
  ``ROLLBACK_IN_PROGRESS`` ("The following resource(s) failed to create: [X]. Rollback
  requested by user."), deletes what it created and rests at ``ROLLBACK_COMPLETE`` (only a
  delete gets it anywhere). ``OnFailure=DO_NOTHING`` / ``DisableRollback`` leave it
  ``CREATE_FAILED``; ``OnFailure=DELETE`` deletes it.
* update: the resource is ``UPDATE_FAILED`` (``CREATE_FAILED`` for a new one); the stack
  goes ``UPDATE_ROLLBACK_IN_PROGRESS`` ("The following resource(s) failed to update: [X].")
  back to the previous template, then ``UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS`` and
  ``UPDATE_ROLLBACK_COMPLETE``. New resources are created first and old ones removed only
  after success (cleanup), so a failed update never loses what the stack had.

Each resource gets its own events (``*_IN_PROGRESS``, ``*_COMPLETE`` / ``*_FAILED``) in
DescribeStackEvents, and the stack's ``StackStatusReason`` names the failed resources. The
reason of a failed resource carries the service's message and error code, e.g. "The
specified priority is in use. (Service: ElasticLoadBalancingV2; Status Code: 400; Error
Code: PriorityInUse; ...)".

Also closed here: moto's DeleteStack (and so a rollback) left TargetGroups and
ListenerRules behind (no ``delete_from_cloudformation_json``); they are deleted now.
Still synchronous: the stack reaches its final state inside the API call (a fast AWS).
Change sets (ExecuteChangeSet) are not covered.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

_ctx = threading.local()  # the stack operation in progress (the moto lock serialises them)


@dataclass
class _Operation:
    stack: Any
    kind: str  # "create" | "update"
    quiet: bool = False  # no resource events (rolling back)
    on_failure: str = "ROLLBACK"
    failed: list[str] = field(default_factory=list)
    new_ids: set[str] = field(default_factory=set)  # failed resources that were being created


class ResourceFailed(Exception):
    def __init__(self, logical_id: str, resource_type: str, reason: str) -> None:
        super().__init__(reason)
        self.logical_id, self.resource_type, self.reason = logical_id, resource_type, reason


def _op() -> _Operation | None:
    return getattr(_ctx, "op", None)


def reason_of(exc: BaseException, resource_type: str) -> str:
    """A resource's failure reason the way CloudFormation words a service error."""
    if isinstance(exc, ResourceFailed):
        return exc.reason
    code = getattr(exc, "error_type", None) or (getattr(exc, "code", None) if isinstance(getattr(exc, "code", None), str) else None)
    message = getattr(exc, "message", None) or str(exc)
    if not code:
        return f"Internal Failure ({type(exc).__name__}: {message})"
    status = getattr(exc, "code", 400) if isinstance(getattr(exc, "code", None), int) else 400
    service = resource_type.split("::")[1] if resource_type.count("::") == 2 else resource_type
    return (f"{message} (Service: {service}; Status Code: {status}; Error Code: {code}; "
            f"Request ID: {uuid.uuid4()}; Proxy: null)")


def _event(op: _Operation, logical_id: str, resource_type: str, status: str, reason: str | None = None,
           physical_id: str | None = None) -> None:
    from moto.cloudformation.models import Event

    stack = op.stack
    stack.events.append(Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                              physical_resource_id=physical_id or "", resource_type=resource_type,
                              resource_status=status, resource_status_reason=reason, resource_properties=None))


def _wrap_resource_call(original: Any, verb: str) -> Any:
    @wraps(original)
    def wrapper(logical_id: str, resource_json: dict[str, Any], resources_map: Any, *args: Any, **kwargs: Any) -> Any:
        op = _op()
        rtype = resource_json.get("Type", "")
        if op is None or op.quiet or op.stack.stack_id != resources_map.stack_id:
            return original(logical_id, resource_json, resources_map, *args, **kwargs)
        retry = logical_id in op.failed  # moto retries changes (dependency order): report once
        if not retry:
            _event(op, logical_id, rtype, f"{verb}_IN_PROGRESS")
        try:
            resource = original(logical_id, resource_json, resources_map, *args, **kwargs)
        except Exception as exc:
            reason = reason_of(exc, rtype)
            if not isinstance(exc, ResourceFailed) and not retry:
                _event(op, logical_id, rtype, f"{verb}_FAILED", reason)
                op.failed.append(logical_id)
                if verb == "CREATE":
                    op.new_ids.add(logical_id)
            raise ResourceFailed(logical_id, rtype, reason) from exc
        _event(op, logical_id, rtype, f"{verb}_COMPLETE",
               physical_id=getattr(resource, "physical_resource_id", None))
        return resource

    return wrapper


class _NoOutputs(dict):  # type: ignore[type-arg]
    exports: list[Any] = []


def _delete_created(stack: Any, op: _Operation) -> None:
    """Delete what the failed create made (resource events DELETE_*), then forget the resources."""
    rmap = stack.resource_map
    created = [k for k in rmap._resource_json_map if k in rmap._parsed_resources]
    for logical_id in created:
        _event(op, logical_id, rmap._resource_json_map[logical_id].get("Type", ""), "DELETE_IN_PROGRESS")
    op.quiet = True
    rmap.delete()
    for logical_id in created:
        _event(op, logical_id, rmap._resource_json_map[logical_id].get("Type", ""), "DELETE_COMPLETE")
    rmap._resource_json_map = {}
    stack.output_map = _NoOutputs()


def _failed_create(backend: Any, stack: Any, op: _Operation) -> None:
    names = ", ".join(op.failed) or "?"
    if op.on_failure == "DO_NOTHING":
        stack.status, stack.status_reason = "CREATE_FAILED", f"The following resource(s) failed to create: [{names}]. "
        stack._add_stack_event("CREATE_FAILED", resource_status_reason=stack.status_reason)
        return
    stack.status = "ROLLBACK_IN_PROGRESS"
    stack.status_reason = f"The following resource(s) failed to create: [{names}]. Rollback requested by user."
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=stack.status_reason)
    _delete_created(stack, op)
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")
    if op.on_failure == "DELETE":
        backend.stacks.pop(stack.stack_id, None)
        stack.status = "DELETE_COMPLETE"
        stack._add_stack_event("DELETE_COMPLETE")
        backend.deleted_stacks[stack.stack_id] = stack


def _failed_update(stack: Any, op: _Operation, old: dict[str, Any]) -> None:
    names = ", ".join(op.failed) or "?"
    verb = "create" if all(n in op.new_ids for n in op.failed) else "update"
    stack.status = "UPDATE_ROLLBACK_IN_PROGRESS"
    stack.status_reason = f"The following resource(s) failed to {verb}: [{names}]. "
    stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=stack.status_reason)
    op.quiet = True
    try:
        stack.resource_map.update(old["template_dict"], old["parameters"])
    except Exception as exc:  # the rollback itself failed: AWS stops at UPDATE_ROLLBACK_FAILED
        stack.status = "UPDATE_ROLLBACK_FAILED"
        stack.status_reason = f"The following resource(s) failed to update: [{names}]. Rollback failed: {exc}"
        stack._add_stack_event("UPDATE_ROLLBACK_FAILED", resource_status_reason=stack.status_reason)
        return
    stack.template, stack.template_dict = old["template"], old["template_dict"]
    stack.output_map = stack._create_output_map()
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    stack.status = "UPDATE_ROLLBACK_COMPLETE"
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")


def _aws_order_update(original: Any) -> Any:
    """ResourceMap.update in AWS's order: create new resources, update changed ones, and only
    then remove the old ones (moto removes first, so a failed update had already lost them)."""

    @wraps(original)
    def update(self: Any, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
        removed = {n: self._resource_json_map[n] for n in self.build_resource_diff(template, parameters)["Remove"]}
        # with the removed resources still in the template moto removes nothing: adds and changes
        original(self, {**template, "Resources": {**template["Resources"], **removed}}, parameters)
        for name, resource_json in removed.items():  # cleanup, after success
            resource = self._parsed_resources.get(name)
            if resource is not None and not isinstance(resource, str):
                self._delete_resource(resource, resource_json)
            self._parsed_resources.pop(name, None)
        self._template = template
        self._resource_json_map = template["Resources"]

    return update


def _delete_elbv2_resource(original: Any) -> Any:
    """moto has no CloudFormation delete for TargetGroup / ListenerRule: delete them here."""

    @wraps(original)
    def _delete_resource(self: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
        rtype = resource_json.get("Type")
        if rtype in ("AWS::ElasticLoadBalancingV2::TargetGroup", "AWS::ElasticLoadBalancingV2::ListenerRule"):
            from moto.elbv2.models import elbv2_backends

            backend = elbv2_backends[self._account_id][self._region_name]
            arn = parsed_resource.arn
            if rtype.endswith("TargetGroup"):
                if arn in backend.target_groups:
                    backend.delete_target_group(arn)
            else:
                try:
                    backend.delete_rule(arn)
                except Exception:  # already gone
                    pass
            return
        original(self, parsed_resource, resource_json)

    return _delete_resource


def install() -> None:
    from moto.cloudformation import models, parsing, responses

    parsing.parse_and_create_resource = _wrap_resource_call(parsing.parse_and_create_resource, "CREATE")
    parsing.parse_and_update_resource = _wrap_resource_call(parsing.parse_and_update_resource, "UPDATE")
    parsing.ResourceMap.update = _aws_order_update(parsing.ResourceMap.update)
    parsing.ResourceMap._delete_resource = _delete_elbv2_resource(parsing.ResourceMap._delete_resource)

    original_create_resources, original_stack_update = models.Stack.create_resources, models.Stack.update
    original_response_create = responses.CloudFormationResponse.create_stack

    @wraps(original_response_create)
    def response_create_stack(self: Any) -> Any:
        on_failure = self._get_param("OnFailure")
        if str(self._get_param("DisableRollback")).lower() == "true":
            on_failure = "DO_NOTHING"
        _ctx.on_failure = on_failure or "ROLLBACK"
        try:
            return original_response_create(self)
        finally:
            _ctx.on_failure = None

    @wraps(original_create_resources)
    def create_resources(stack: Any) -> None:
        op = _ctx.op = _Operation(stack, "create", on_failure=getattr(_ctx, "on_failure", None) or "ROLLBACK")
        try:
            original_create_resources(stack)
        except ResourceFailed:
            _failed_create(models.cloudformation_backends[stack.account_id][stack.region_name], stack, op)
        finally:
            _ctx.op = None

    @wraps(original_stack_update)
    def stack_update(stack: Any, template: str, role_arn: str | None = None, parameters: Any = None,
                     tags: Any = None) -> None:
        old = {"template": stack.template, "template_dict": stack.template_dict,
               "parameters": dict(stack.resource_map.input_parameters or {})}
        op = _ctx.op = _Operation(stack, "update")
        try:
            original_stack_update(stack, template, role_arn, parameters=parameters, tags=tags)
            stack.status_reason = None
        except ResourceFailed:
            _failed_update(stack, op, old)
        finally:
            _ctx.op = None

    models.Stack.create_resources = create_resources
    models.Stack.update = stack_update
    responses.CloudFormationResponse.create_stack = response_create_stack
