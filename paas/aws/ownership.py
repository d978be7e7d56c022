"""Who owns an AWS resource, and the check made before paas changes one.

Resource names are derived from app, environment and process names, and those may collide
(DESIGN.md §3); AWS updates whatever carries the name. So before paas creates over, adopts or
updates a CloudFormation stack, an ECS service, a task-definition family or a listener rule,
the driver reads the resource's tags and compares its ``paas:app`` / ``paas:env`` /
``paas:process`` with the ones the request carries (the spec's tags, or an ``owner`` mapping):

* every owner key the request names must be on the resource with the same value;
* a resource with no owner tag at all is not paas's: refused too (paas never adopts unmanaged
  resources), except a listener rule that paas's own stack created: CloudFormation does not put
  the stack's tags on it in every case (moto never does), so a rule without owner tags is
  checked through the stack whose outputs name it.

A mismatch raises `OwnershipConflict` (a `PermanentError`: retrying changes nothing) with one
line naming the resource, its owner and who asked. A request without any owner key is not
checked (the caller did not say who it is).
"""

from __future__ import annotations

from typing import Iterable, Mapping

from paas.aws.errors import OwnershipConflict

OWNER_KEYS = ("paas:app", "paas:env", "paas:process")


def tag_dict(tags: Iterable[Mapping[str, str]] | Mapping[str, str] | None) -> dict[str, str]:
    """AWS tag lists (``Key``/``Value`` or ECS's ``key``/``value``) or a dict → a dict."""
    if not tags:
        return {}
    if isinstance(tags, Mapping):
        return dict(tags)
    out: dict[str, str] = {}
    for t in tags:
        k = t.get("Key", t.get("key"))
        if k is not None:
            out[k] = t.get("Value", t.get("value", ""))
    return out


def owner(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Just the owner tags."""
    return {k: tags[k] for k in OWNER_KEYS if tags and k in tags}


def describe(o: Mapping[str, str]) -> str:
    """``{"paas:app": "shop", "paas:env": "prod"}`` → ``app shop, env prod``."""
    return ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in o.items()) or "no paas owner"


def check(operation: str, resource: str, found: Mapping[str, str] | None,
          wanted: Mapping[str, str] | None) -> None:
    """Raise `OwnershipConflict` unless `found` (the resource's tags) names the owner in `wanted`."""
    want = owner(wanted)
    if not want:
        return
    have = owner(found)
    if not have:
        raise OwnershipConflict(f"{operation}: refusing to change {resource}: it has no paas tags, "
                                f"so paas does not manage it (asked by {describe(want)})")
    if any(have.get(k) != v for k, v in want.items()):
        raise OwnershipConflict(f"{operation}: refusing to change {resource}: it belongs to "
                                f"{describe(have)}, not to {describe(want)}")
