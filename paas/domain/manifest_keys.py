"""The one definition of paas.toml's keys: type, range, pattern, default, documentation.

The parser (paas/domain/manifest.py) reads every value through `read`, and the JSON Schema
(paas/domain/manifest_schema.py) is generated from the same `TOP` table, so the two cannot
drift. What a table cannot say (Fargate's cpu/memory pairs, rising canary steps, a timeout
shorter than the interval, distinct routes per web process, a command shlex can split) is
checked by the parser after reading; the schema documents those rules in descriptions.

Patterns are anchored, ASCII, and valid both as Python `re` and ECMA-262 (JSON Schema) regexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from paas.domain import health, limits, routing, schedule
from paas.domain import validate as v
from paas.domain.errors import UserError

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,29}$"
DURATION_PATTERN = r"^ *[0-9]{1,9} *[smhdw]? *$"
PRINTABLE_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]*$"


@dataclass(frozen=True)
class Key:
    """One key of paas.toml: how it is read and what the schema says about it."""

    kind: str  # string | integer | number | boolean | duration | list | table | tables
    doc: str = ""
    label: str = ""  # how errors name the key (default: its name)
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    whole: bool = False  # duration: whole seconds only
    max_length: int | None = None
    pattern: str | None = None
    enum: tuple | None = None
    items: "Key | None" = None  # list: each item
    min_items: int | None = None
    max_items: int | None = None
    unique: bool = False  # list: no item twice
    keys: dict[str, "Key"] = field(default_factory=dict)  # table: its keys
    each: "Key | None" = None  # tables: each named table (key names match `pattern`)
    check: Callable[[Any, str], Any] | None = None  # extra rule for the value, after the table's
    required: bool = False  # a table without this key is refused


def _fargate_cpus() -> tuple[int, ...]:
    return tuple(sorted(v.FARGATE_SIZES))


def _fargate_memories() -> tuple[int, ...]:
    return tuple(sorted(set().union(*v.FARGATE_SIZES.values())))


HEALTH_CHECK = Key("table", "Target-group health check and ECS grace period of a web process.", keys={
    "path": Key("string", "URL path the load balancer requests.", default="/",
                max_length=limits.HEALTH_CHECK_PATH_MAX, pattern=health.PATH_PATTERN, check=health.path,
                label="health_check.path"),
    "grace_period": Key("duration", "Seconds ECS ignores failing health checks of a new task.", default=60,
                        minimum=limits.HC_GRACE_PERIOD[0], maximum=limits.HC_GRACE_PERIOD[1], whole=True,
                        label="health_check.grace_period"),
    "interval": Key("duration", "Seconds between checks.", default=10, minimum=limits.HC_INTERVAL[0],
                    maximum=limits.HC_INTERVAL[1], whole=True, label="health_check.interval"),
    "timeout": Key("duration", "Seconds without an answer that fail a check; shorter than interval.", default=5,
                   minimum=limits.HC_TIMEOUT[0], maximum=limits.HC_TIMEOUT[1], whole=True,
                   label="health_check.timeout"),
    "healthy_threshold": Key("integer", "Consecutive successes before a target is healthy.", default=2,
                             minimum=limits.HC_THRESHOLD[0], maximum=limits.HC_THRESHOLD[1],
                             label="health_check.healthy_threshold"),
    "unhealthy_threshold": Key("integer", "Consecutive failures before a target is unhealthy.", default=3,
                               minimum=limits.HC_THRESHOLD[0], maximum=limits.HC_THRESHOLD[1],
                               label="health_check.unhealthy_threshold"),
    "healthy_codes": Key("string", "HTTP codes (200-499) that count as healthy: 200, 200,302 or 200-399.",
                         default="200-399", max_length=limits.HC_CODES_MAX_LEN, pattern=health.CODES_PATTERN,
                         check=health.healthy_codes, label="health_check.healthy_codes"),
})

ROUTING = Key("table", "Listener-rule conditions: at most 5 values and 5 wildcards in total.", keys={
    "paths": Key("list", "Path patterns (case-sensitive; * and ? wildcards).", default=[routing.CATCH_ALL],
                 label="routing.paths", min_items=1, max_items=limits.RULE_CONDITION_VALUES_MAX, unique=True,
                 items=Key("string", max_length=limits.RULE_VALUE_MAX, pattern=routing.PATH_PATTERN,
                           check=routing.path_pattern, label="routing.paths value")),
    "host": Key("string", "Host name (case-insensitive; * and ? wildcards; letters after the last '.').",
                max_length=limits.RULE_VALUE_MAX, pattern=routing.HOST_PATTERN, check=routing.host,
                label="routing.host"),
})

PROCESS = Key("table", "One process type, run as ECS services; with a port it is a web process.", keys={
    "command": Key("string", "Command line (split like a shell would); default: the image's.",
                   max_length=limits.COMMAND_MAX, pattern=PRINTABLE_PATTERN, check=v.command),
    "port": Key("integer", "Container port; makes the process a web process.", minimum=1, maximum=65535),
    "cpu": Key("integer", "Fargate cpu units.", default=256, enum=_fargate_cpus()),
    "memory": Key("integer", "Fargate memory in MiB (a pair Fargate accepts for the cpu).", default=512,
                  minimum=min(_fargate_memories()), maximum=max(_fargate_memories())),
    "count": Key("integer", "Tasks to run on the first deploy (later: paas scale).", default=1, minimum=0,
                 maximum=1000),
    "health_check_path": Key("string", "Same as health_check.path (the older spelling; give one of them).",
                             max_length=limits.HEALTH_CHECK_PATH_MAX, pattern=health.PATH_PATTERN,
                             check=health.path),
    "health_check": HEALTH_CHECK,
    "routing": ROUTING,
})

STRATEGY = Key("table", "Deployment strategy defaults.", keys={
    "default": Key("string", "Strategy when paas deploy gives none.", default="rolling", enum=v.STRATEGIES,
                   label="strategy"),
    "canary_steps": Key("list", "Canary traffic percentages, rising, ending at 100.", default=[10, 100],
                        min_items=1, max_items=100, label="canary steps",
                        items=Key("integer", minimum=1, maximum=100, label="canary step")),
    "bake": Key("duration", "How long each step bakes (default: the worker's setting).", minimum=0,
                maximum=limits.DURATION_MAX_SECONDS, label="bake time"),
    "bake_seconds": Key("duration", "Same as bake.", minimum=0, maximum=limits.DURATION_MAX_SECONDS,
                        label="bake time"),
    "step_deadline": Key("duration", "How long a step may wait before it fails.", minimum=0,
                         maximum=limits.DURATION_MAX_SECONDS, label="step deadline"),
    "max_5xx_rate": Key("number", "Canary gate: highest target 5xx rate.", default=0.01, minimum=0, maximum=1),
    "max_p99_ms": Key("number", "Canary gate: highest p99 latency in ms.", default=1000, minimum=0,
                      maximum=limits.P99_MS_MAX),
    "max_p99_ratio": Key("number", "Canary gate: highest p99 ratio to the stable colour.", default=2.0,
                         minimum=0, maximum=limits.P99_RATIO_MAX),
    "min_requests": Key("integer", "Canary gate: requests needed before it decides.", default=20, minimum=0,
                        maximum=limits.MIN_REQUESTS_MAX, label="strategy.min_requests"),
})

RELEASE = Key("table", "Release phase: a one-off task of each new release, run before its services change "
              "(migrations). A non-zero exit fails the deployment and changes nothing.", keys={
    "command": Key("string", "Command line of the release task (split like a shell would).", required=True,
                   max_length=limits.COMMAND_MAX, pattern=PRINTABLE_PATTERN, check=v.command,
                   label="release.command"),
    "process": Key("string", "Process whose task definition runs it (default: web, else the first process).",
                   pattern=NAME_PATTERN, label="release.process"),
    "timeout": Key("duration", "Stop the task and fail the deployment after this long (default: the "
                   "worker's rollout deadline).", minimum=1, maximum=limits.RELEASE_TIMEOUT_MAX,
                   label="release.timeout"),
})

JOB = Key("table", "A scheduled job: an EventBridge Scheduler schedule running a task of the live release.", keys={
    "schedule": Key("string", "rate(N unit) or cron(min hour day month weekday year), UTC: \"rate(1 hour)\", "
                    "\"cron(0 3 * * ? *)\".", required=True, max_length=schedule.EXPRESSION_MAX,
                    pattern=schedule.PATTERN, check=schedule.expression, label="schedule"),
    "command": Key("string", "Command line of the job's task (split like a shell would).", required=True,
                   max_length=limits.COMMAND_MAX, pattern=PRINTABLE_PATTERN, check=v.command, label="job command"),
    "process": Key("string", "Process whose task definition runs it (default: web, else the first process).",
                   pattern=NAME_PATTERN, label="job process"),
    "cpu": Key("integer", "Fargate cpu units of the job's task (default: its process's).", enum=_fargate_cpus(),
               label="job cpu"),
    "memory": Key("integer", "Fargate memory in MiB of the job's task (default: its process's).",
                  minimum=min(_fargate_memories()), maximum=max(_fargate_memories()), label="job memory"),
})

STAGE = Key("table", "One pipeline stage: an environment a release is promoted into, in order.", keys={
    "environment": Key("string", "The environment (it must exist).", required=True, pattern=NAME_PATTERN,
                       label="pipeline stage environment"),
    "strategy": Key("string", "How the stage's deployment replaces its release.", default="rolling",
                    enum=v.STRATEGIES, label="pipeline stage strategy"),
    "canary_steps": Key("list", "Canary traffic percentages, rising, ending at 100 (canary stages).",
                        min_items=1, max_items=100, label="pipeline canary steps",
                        items=Key("integer", minimum=1, maximum=100, label="canary step")),
    "soak": Key("duration", "How long a release must have been known-good here before the next stage may "
                "have it.", default=0, minimum=0, maximum=limits.DURATION_MAX_SECONDS, label="pipeline soak"),
    "approval": Key("boolean", "A person approves each promotion into this stage (paas approve).",
                    default=False, label="pipeline approval"),
})

PIPELINE = Key("table", "Delivery pipeline: ECR pushes tested, then promoted stage by stage.", keys={
    "repository": Key("string", "The ECR repository watched for pushes.", required=True, max_length=256,
                      pattern=r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$",
                      label="pipeline.repository"),
    "tags": Key("string", "Which pushed tags count: a glob (main-*) or semver.", required=True, max_length=128,
                label="pipeline.tags"),
    "test_command": Key("string", "Integration tests: run as a one-off task of the pushed image.", required=True,
                        max_length=limits.COMMAND_MAX, pattern=PRINTABLE_PATTERN, check=v.command,
                        label="pipeline.test_command"),
    "test_timeout": Key("duration", "A check still running after this fails.", default=900, minimum=1,
                        maximum=limits.RELEASE_TIMEOUT_MAX, label="pipeline.test_timeout"),
    "stages": Key("list", "The stages, in order.", required=True, min_items=1, max_items=10, items=STAGE,
                  label="pipeline.stages"),
})

TOP = Key("table", "paas.toml: an app's processes, routing and strategy defaults.", keys={
    "app": Key("string", "The app this file belongs to (checked against the app deployed).",
               pattern=NAME_PATTERN, check=lambda x, what: v.name(x, "app name"), label="app"),
    "type": Key("string", "App type; must agree with the app's.", default="web", enum=v.APP_TYPES,
                label="app type"),
    "processes": Key("tables", "Process types by name.", pattern=NAME_PATTERN, max_items=limits.PROCESSES_MAX,
                     each=PROCESS, label="processes"),
    "routing": ROUTING,
    "strategy": STRATEGY,
    "release": RELEASE,
    "jobs": Key("tables", "Scheduled jobs by name.", pattern=NAME_PATTERN, max_items=limits.JOBS_MAX, each=JOB,
                label="jobs"),
    "pipeline": PIPELINE,
})


# --------------------------------------------------------------------------- reading

_COMPILED: dict[str, re.Pattern] = {}


def _fullmatch(pattern: str, value: str) -> bool:
    rx = _COMPILED.get(pattern)
    if rx is None:
        rx = _COMPILED[pattern] = re.compile(pattern[1:-1], re.ASCII)
    return rx.fullmatch(value) is not None


def read(value: Any, key: Key, where: str) -> Any:
    """The value, checked against `key` (UserError naming `where` otherwise); durations → seconds."""
    what = key.label or where.rsplit(".", 1)[-1]
    k = key.kind
    if k == "table":
        if not isinstance(value, dict):
            raise UserError(f"paas.toml: {where} must be a table")
        extra = sorted(set(value) - set(key.keys))
        if extra:
            prefix = "" if where == "[top]" else where.strip("[]") + "."
            raise UserError(f"paas.toml: unknown key {prefix}{extra[0]!r} (allowed: {', '.join(sorted(key.keys))})")
        missing = [k for k, sub in key.keys.items() if sub.required and k not in value]
        if missing:
            raise UserError(f"paas.toml: {where} needs a {missing[0]}")
        return value
    if k == "tables":
        if not isinstance(value, dict):
            raise UserError(f"paas.toml: [{what}] must be a table")
        if key.max_items is not None and len(value) > key.max_items:
            raise UserError(f"paas.toml: {len(value)} {what}, at most {key.max_items}")
        return value
    if k == "string":
        if not isinstance(value, str):
            raise UserError(f"invalid {what} {v.show(value)}: expected a string")
        if key.enum is not None and value not in key.enum:
            raise UserError(f"invalid {what} {v.show(value)}: expected one of {', '.join(key.enum)}")
        m = v.CONTROL_RE.search(value)
        if m:
            raise UserError(f"invalid {what}: control character {v.show(m.group())} at position {m.start()}")
        if key.max_length is not None and len(value) > key.max_length:
            raise UserError(f"invalid {what}: {len(value)} characters, at most {key.max_length}")
        if key.check is not None:  # its message explains the rule better than a pattern
            value = key.check(value, what)
        if key.pattern is not None and not _fullmatch(key.pattern, value):
            raise UserError(f"invalid {what} {v.show(value)}: expected a value matching {key.pattern}")
        return value
    elif k == "integer":
        if key.enum is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value not in key.enum:
                allowed = (", ".join(str(e) for e in key.enum) if len(key.enum) <= 10
                           else f"{min(key.enum)}-{max(key.enum)}, a size Fargate offers")
                raise UserError(f"invalid {what} {v.show(value)}: expected one of {allowed}")
        else:
            v.integer(value, what, int(key.minimum), int(key.maximum))
    elif k == "number":
        v.number(value, what, key.minimum, key.maximum)
    elif k == "boolean":
        if not isinstance(value, bool):
            raise UserError(f"invalid {what} {v.show(value)}: expected true or false")
    elif k == "duration":
        value = v.seconds(value, what, key.maximum)
        if key.whole and (value != int(value)):
            raise UserError(f"invalid {what} {value!r}: expected whole seconds")
        if value < key.minimum:
            raise UserError(f"invalid {what}: {value:g}s, at least {key.minimum:g}s")
        value = int(value) if key.whole else value
    elif k == "list":
        if not isinstance(value, list):
            raise UserError(f"invalid {what}: expected a list")
        if (key.min_items is not None and len(value) < key.min_items) or (
                key.max_items is not None and len(value) > key.max_items):
            raise UserError(f"invalid {what}: {len(value)} items, expected {key.min_items}-{key.max_items}")
        value = [read(x, key.items, f"{where}[{i}]") for i, x in enumerate(value)]
        if key.unique and len(set(map(repr, value))) != len(value):
            raise UserError(f"invalid {what}: an item is given twice")
    if key.check is not None:
        value = key.check(value, what)
    return value


def get(table: dict, name: str, parent: Key, where: str) -> Any:
    """Key `name` of `table` read through its definition; its default when absent."""
    key = parent.keys[name]
    if name not in table:
        return key.default
    return read(table[name], key, f"{where}.{name}".lstrip("."))
