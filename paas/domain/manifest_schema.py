"""paas.toml as a JSON Schema (draft 2020-12), generated from the table the parser reads with.

`schema()` walks paas/domain/manifest_keys.TOP, so a key, type, range, pattern or default
exists in the schema exactly when the parser has it. Two rules between keys are expressed too
(Fargate's cpu/memory pairs, and that only a process with a port takes ``health_check`` or
``routing``). What JSON Schema cannot say is listed in ``$comment`` and checked by the parser
only; a document the parser accepts always validates, the reverse holds except for these:

* canary steps rise strictly and end at 100; health_check.timeout < interval;
* a duration given as text ("2h") stays within the key's maximum;
* a rule has at most 5 path/host values and 5 wildcards in total; web processes route
  different requests; a command splits like a shell command line and is not blank;
* a whole float (``cpu = 256.0``) counts as an integer in JSON Schema but stays a float in TOML,
  which the parser refuses;
* a job's schedule parses as Scheduler's rate/cron grammar; ``release.process`` and a job's
  ``process`` name a process of the file; a job's cpu/memory form a Fargate pair.

Editors (e.g. taplo, VS Code's Even Better TOML) can point at the schema to complete and check
paas.toml as it is typed.
"""

from __future__ import annotations

from typing import Any

from paas.domain import manifest_keys as mk
from paas.domain import validate as v

SCHEMA_ID = "https://paas.invalid/schemas/paas.toml.json"
NOT_EXPRESSED = [
    "strategy.canary_steps rise strictly and end at 100",
    "health_check.timeout is shorter than health_check.interval",
    "a duration given as text stays within the key's maximum",
    "a listener rule has at most 5 path/host values and 5 wildcards in total",
    "the web processes of one app route different requests",
    "command splits like a shell command line (no unclosed quote) and is not blank",
    "a whole float (256.0) is not an integer in paas.toml",
    "a job's schedule is a rate(...) or cron(...) expression EventBridge Scheduler accepts",
    "release.process and a job's process name a process of the file",
    "a job's cpu and memory (its process's for the one not given) are a Fargate pair",
    "each pipeline stage names a different environment, which exists; canary_steps only on a canary stage",
]


def _key(k: mk.Key) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if k.doc:
        out["description"] = k.doc
    if k.kind == "table":
        out.update(type="object", additionalProperties=False,
                   properties={name: _key(sub) for name, sub in k.keys.items()})
        required = [name for name, sub in k.keys.items() if sub.required]
        if required:
            out["required"] = required
    elif k.kind == "tables":
        out.update(type="object", propertyNames={"pattern": k.pattern}, additionalProperties=_key(k.each))
        if k.max_items is not None:
            out["maxProperties"] = k.max_items
    elif k.kind == "string":
        out["type"] = "string"
        if k.enum is not None:
            out["enum"] = list(k.enum)
        if k.max_length is not None:
            out["maxLength"] = k.max_length
        if k.pattern is not None:
            out["pattern"] = k.pattern
    elif k.kind in ("integer", "number"):
        out["type"] = k.kind
        if k.enum is not None:
            out["enum"] = list(k.enum)
        else:
            out.update(minimum=k.minimum, maximum=k.maximum)
    elif k.kind == "boolean":
        out["type"] = "boolean"
    elif k.kind == "duration":
        out["anyOf"] = [
            {"type": "string", "pattern": mk.DURATION_PATTERN, "description": "e.g. 90s, 15m, 24h, 7d, 2w"},
            {"type": "integer" if k.whole else "number", "minimum": k.minimum, "maximum": k.maximum,
             "description": "seconds"},
        ]
    elif k.kind == "list":
        out.update(type="array", items=_key(k.items))
        if k.min_items is not None:
            out["minItems"] = k.min_items
        if k.max_items is not None:
            out["maxItems"] = k.max_items
        if k.unique:
            out["uniqueItems"] = True
    else:  # pragma: no cover - a kind added to the table but not here
        raise ValueError(f"no JSON Schema for kind {k.kind!r}")
    if k.default is not None and k.kind not in ("table", "tables"):  # booleans too: False is a default
        out["default"] = k.default
    return out


def _process_rules() -> list[dict[str, Any]]:
    """Fargate pairs (memory defaults to 512, which only cpu 256 takes) and web-only tables."""
    rules: list[dict[str, Any]] = []
    for cpu, memories in sorted(v.FARGATE_SIZES.items()):
        when = ({"anyOf": [{"required": ["cpu"], "properties": {"cpu": {"const": cpu}}},
                           {"not": {"required": ["cpu"]}}]} if cpu == 256
                else {"required": ["cpu"], "properties": {"cpu": {"const": cpu}}})
        then: dict[str, Any] = {"properties": {"memory": {"enum": sorted(memories)}}}
        if 512 not in memories:
            then["required"] = ["memory"]
        rules.append({"if": when, "then": then})
    rules.append({"if": {"not": {"required": ["port"]}},
                  "then": {"properties": {"health_check": False, "routing": False}}})
    rules.append({"not": {"required": ["health_check_path", "health_check"],
                          "properties": {"health_check": {"required": ["path"]}}}})
    return rules


def schema() -> dict[str, Any]:
    """The JSON Schema of paas.toml (a new dict on every call)."""
    s = _key(mk.TOP)
    s["properties"]["processes"]["additionalProperties"]["allOf"] = _process_rules()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "paas.toml",
        "$comment": "Checked by paas but not expressible here: " + "; ".join(NOT_EXPRESSED) + ".",
        **s,
    }


if __name__ == "__main__":  # python -m paas.domain.manifest_schema > paas.schema.json
    import json

    print(json.dumps(schema(), indent=2))
