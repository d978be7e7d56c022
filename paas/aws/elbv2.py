"""ELBv2: target health, and the listener rule's forward weights (the atomic traffic shift).

AWS limits kept here (checked against the ELBv2 API reference):

* DescribeTargetHealth takes one target group per call.
* DescribeRules documents no maximum for ``RuleArns`` (only ``PageSize`` ≤ 400); ARNs go in
  batches of 20 (DescribeTags' limit, so one batch can be checked for ownership in one call)
  and ``NextMarker`` is followed.
* A weighted forward action spreads traffic over 1-5 target groups, weights 0-999.

* DescribeTags takes ≤ 20 resource ARNs.

Ownership (ownership.py): before a ModifyRule with an ``owner``, the rule's own paas tags are
read (DescribeTags); a rule without them must be named in the outputs of the owner's stack
(its CloudFormation stack created it; DescribeStacks, usually already read this pass).

moto does not enforce the DescribeRules batch size; its DescribeTags answers an unknown rule
ARN with no tags instead of RuleNotFound, and CloudFormation-created rules carry no tags.
"""

from __future__ import annotations

from typing import Any, Mapping

from botocore.exceptions import ClientError

from paas.aws import ownership
from paas.aws.api import Api, chunks, rid
from paas.aws.cloudformation import CloudFormation
from paas.aws.driver import Call
from paas.aws.ownership import tag_dict
from paas.domain.errors import PermanentError
from paas.domain.observed import ListenerRuleState, TargetHealth
from paas.domain.specs import stack_name

DESCRIBE_RULES_BATCH = 20
WEIGHT_MAX = 999
FORWARD_TARGET_GROUPS_MAX = 5


class Elbv2:
    def __init__(self, api: Api, cloudformation: CloudFormation) -> None:
        self.api = api
        self.cloudformation = cloudformation

    def _check_rule_owner(self, rule_arn: str, owner: Mapping[str, str]) -> None:
        """The rule's own paas tags (DescribeTags), else the stack whose outputs name it."""
        resp = self.api.call("elbv2", "DescribeTags", ResourceArns=[rule_arn])
        tags: dict[str, str] = {}
        for d in resp.get("TagDescriptions") or []:
            if d.get("ResourceArn") == rule_arn:
                tags = tag_dict(d.get("Tags"))
        what, want = f"listener rule {rule_arn}", dict(owner)
        if not ownership.owner(tags) and owner.get("paas:app") and owner.get("paas:env"):
            stack = stack_name(owner["paas:app"], owner["paas:env"])
            via_stack = self.cloudformation.rule_owner(rule_arn, stack)
            if via_stack is not None:
                # the stack is the app+environment's; processes are not on it
                tags, what = via_stack, f"listener rule {rule_arn} (of stack {stack})"
                want.pop("paas:process", None)
        ownership.check("elasticloadbalancing:ModifyRule", what, tags, want)

    def target_health(self, target_group_arns: list[str]) -> dict[str, TargetHealth]:
        """Per target group: healthy, unhealthy (incl. ``unavailable``), total (registered,
        not draining). A target group that no longer exists is absent from the result."""
        out: dict[str, TargetHealth] = {}
        for arn in dict.fromkeys(target_group_arns):
            try:
                resp = self.api.call("elbv2", "DescribeTargetHealth",
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
            resp = self.api.call("elbv2", "DescribeRules", allow=("RuleNotFound", "RuleNotFoundException"),
                                 **params)
            rules.extend(resp.get("Rules") or [])
            marker = resp.get("NextMarker")
            if not marker:
                return rules

    def listener_rules(self, listener_arn: str) -> list[ListenerRuleState]:
        """Every rule on the listener (DescribeRules by ListenerArn, pages of 400): what priority
        allocation needs to keep rules in order and never reuse a number."""
        out: list[ListenerRuleState] = []
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"ListenerArn": listener_arn, "PageSize": 400}
            if marker:
                params["Marker"] = marker
            resp = self.api.call("elbv2", "DescribeRules", **params)
            for r in resp.get("Rules") or []:
                hosts: list[str] = []
                paths: list[str] = []
                for c in r.get("Conditions") or []:
                    field = c.get("Field")
                    values = list(c.get("Values") or [])
                    if field == "host-header":
                        values += (c.get("HostHeaderConfig") or {}).get("Values") or []
                        hosts += values
                    elif field == "path-pattern":
                        values += (c.get("PathPatternConfig") or {}).get("Values") or []
                        paths += values
                prio = r.get("Priority")
                out.append(ListenerRuleState(
                    arn=r["RuleArn"], priority=None if r.get("IsDefault") or prio in (None, "default") else int(prio),
                    hosts=tuple(dict.fromkeys(hosts)), paths=tuple(dict.fromkeys(paths))))
            marker = resp.get("NextMarker")
            if not marker:
                return out

    def rule_weights(self, rule_arns: list[str]) -> dict[str, dict[str, int]]:
        """rule ARN → {target group ARN: weight}. Rules that don't exist are absent."""
        rules: list[dict] = []
        for chunk in chunks(list(dict.fromkeys(rule_arns)), DESCRIBE_RULES_BATCH):
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

    def set_weights(self, rule_arn: str, weights: dict[str, int], *,
                    owner: Mapping[str, str] | None = None) -> Call:
        """ONE ModifyRule call: the whole traffic split changes atomically. With `owner`
        (paas:app/paas:env), the rule's owner is checked first (ownership.py)."""
        if not 1 <= len(weights) <= FORWARD_TARGET_GROUPS_MAX:
            raise PermanentError(f"elasticloadbalancing:ModifyRule: a forward action takes 1 to "
                                 f"{FORWARD_TARGET_GROUPS_MAX} target groups, got {len(weights)}")
        for tg, w in weights.items():
            if not 0 <= int(w) <= WEIGHT_MAX:
                raise PermanentError(f"elasticloadbalancing:ModifyRule: weight {w} for {tg} "
                                     f"outside 0..{WEIGHT_MAX}")
        action = {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": tg, "Weight": int(w)}
                                 for tg, w in weights.items()],
                "TargetGroupStickinessConfig": {"Enabled": False},
            },
        }
        if owner:
            self._check_rule_owner(rule_arn, owner)
        resp = self.api.call("elbv2", "ModifyRule", RuleArn=rule_arn, Actions=[action])
        return Call("elasticloadbalancing:ModifyRule", rid(resp), {"weights": dict(weights)})

