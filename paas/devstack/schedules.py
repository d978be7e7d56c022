"""EventBridge Scheduler, simulated: schedules that are due run their ECS task.

moto implements the Scheduler API (CreateSchedule, GetSchedule, ListSchedules, ...) but
only stores schedules: nothing ever fires, and any expression is accepted. Here the data
plane's clock (``paas.clock``) fires every ENABLED schedule whose target is an ECS cluster
(``Target.EcsParameters``, the templated RunTask target) when it is due: RunTask of
``EcsParameters.TaskDefinitionArn`` in the cluster ``Target.Arn`` with ``TaskCount``,
``LaunchType``, ``NetworkConfiguration``, ``PlatformVersion`` and ``Group``, and the
target's ``Input`` (a JSON object, e.g. ``{"containerOverrides": [...]}``) as the task
``overrides``. The tasks then run like any RunTask task (``standalone``).

Expressions (AWS's syntax, evaluated in ``ScheduleExpressionTimezone``, default UTC):

* ``rate(value unit)``, unit minute(s) | hour(s) | day(s): first at ``StartDate`` (or when
  the schedule was created: "your schedule starts invoking the target immediately"), then
  every interval;
* ``cron(minutes hours day-of-month month day-of-week year)``: six fields, ``?`` allowed,
  day-of-week 1-7 = SUN-SAT (``croniter`` computes the times);
* ``at(yyyy-mm-ddThh:mm:ss)``: once; ``ActionAfterCompletion: DELETE`` deletes it after.

``EndDate`` ends a recurring schedule. Missed occurrences (a clock jump) fire once each, at
most ``MAX_CATCH_UP`` per schedule per tick. CreateSchedule / UpdateSchedule with an
expression AWS would refuse answer ``ValidationException`` (``validate_expression``).
Not simulated: flexible time windows (always OFF), retries and dead-letter queues, targets
other than ECS.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

MAX_CATCH_UP = 10
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


def _cron_fields(body: str) -> str:
    """AWS cron (6 fields, DOW 1-7 = SUN-SAT, ``?``) -> croniter (7 fields, DOW 0-6, seconds)."""
    parts = body.split()
    if len(parts) != 6:
        raise ValueError("a cron expression has six fields: minutes hours day-of-month month day-of-week year")
    minute, hour, dom, month, dow, year = parts
    if "?" not in (dom, dow):
        raise ValueError("one of day-of-month and day-of-week must be '?'")
    dow = re.sub(r"(?<![#/\d])([1-7])(?!\d)", lambda m: str(int(m.group(1)) - 1), dow)
    return " ".join([minute, hour, dom.replace("?", "*"), month, dow.replace("?", "*"), "0", year])


def validate_expression(expression: str, timezone: str | None = None) -> None:
    """Raise ``ValueError`` (one line) for an expression or time zone AWS would refuse."""
    try:
        ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Invalid ScheduleExpressionTimezone {timezone!r}") from None
    expr = (expression or "").strip()
    m = _RATE.match(expr)
    if m:
        value, unit = int(m.group(1)), m.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise ValueError(f"Invalid Schedule Expression {expression!r}: use 'rate(1 minute)' or 'rate(5 minutes)'")
        return
    m = _CRON.match(expr)
    if m:
        from croniter import croniter

        if not croniter.is_valid(_cron_fields(m.group(1))):
            raise ValueError(f"Invalid Schedule Expression {expression!r}")
        return
    if _AT.match(expr):
        return
    raise ValueError(f"Invalid Schedule Expression {expression!r}: expected at(...), rate(...) or cron(...)")


def _epoch(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=dt.timezone.utc).timestamp()
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def occurrences(expression: str, timezone: str | None, start: float, after: float) -> Iterator[float]:
    """Fire times (epoch seconds) strictly after ``after``, for a schedule starting at ``start``."""
    tz = ZoneInfo(timezone or "UTC")
    expr = expression.strip()
    m = _RATE.match(expr)
    if m:
        step = int(m.group(1)) * _UNIT[m.group(2).rstrip("s")]
        k = 0 if after < start else int((after - start) // step) + 1
        while True:
            yield start + k * step
            k += 1
    m = _CRON.match(expr)
    if m:
        from croniter import croniter

        base = dt.datetime.fromtimestamp(max(after, start - 1e-6), tz)
        it = croniter(_cron_fields(m.group(1)), base)
        while True:
            yield it.get_next(dt.datetime).timestamp()
    m = _AT.match(expr)
    if m:
        at = dt.datetime.fromisoformat(m.group(1)).replace(tzinfo=tz).timestamp()
        if at > after:
            yield at
        return


def _network(cfg: dict[str, Any] | None) -> dict[str, Any] | None:
    """Scheduler's ``AwsvpcConfiguration`` (PascalCase) -> ECS's ``awsvpcConfiguration``."""
    vpc = (cfg or {}).get("AwsvpcConfiguration") or (cfg or {}).get("awsvpcConfiguration")
    if not vpc:
        return None
    out: dict[str, Any] = {"subnets": vpc.get("Subnets") or vpc.get("subnets") or []}
    if vpc.get("SecurityGroups") or vpc.get("securityGroups"):
        out["securityGroups"] = vpc.get("SecurityGroups") or vpc.get("securityGroups")
    if vpc.get("AssignPublicIp") or vpc.get("assignPublicIp"):
        out["assignPublicIp"] = vpc.get("AssignPublicIp") or vpc.get("assignPublicIp")
    return {"awsvpcConfiguration": out}


@dataclass
class ScheduleRunner:
    """Remembers, per schedule, the last occurrence it fired; fires the due ones."""

    last_fired: dict[str, tuple[tuple, float]] = field(default_factory=dict)
    fired: list[dict[str, Any]] = field(default_factory=list)  # what happened, newest last (dev tools)

    def fire_due(self, account_id: str, region: str, now: float) -> None:
        from moto.scheduler.models import scheduler_backends

        backend = scheduler_backends[account_id][region]
        for group in list(backend.schedule_groups.values()):
            for schedule in list(group.schedules.values()):
                try:
                    self._fire_schedule(backend, group, schedule, account_id, now)
                except Exception:  # one broken schedule must not stop the others
                    log.exception("schedule %s failed to fire", schedule.arn)

    def _fire_schedule(self, backend: Any, group: Any, schedule: Any, account_id: str, now: float) -> None:
        target = schedule.target or {}
        if schedule.state != "ENABLED" or not target.get("EcsParameters"):
            return
        created = float(schedule.creation_date)
        start = _epoch(schedule.start_date) or created
        end = _epoch(schedule.end_date)
        version = (schedule.schedule_expression, schedule.schedule_expression_timezone, start, end,
                   schedule.last_modified_date)
        seen = self.last_fired.get(schedule.arn)
        after = seen[1] if seen and seen[0] == version else max(created, start) - 1e-6
        fired = 0
        for t in occurrences(schedule.schedule_expression, schedule.schedule_expression_timezone, start, after):
            if t > now or (end is not None and t > end) or fired >= MAX_CATCH_UP:
                break
            self._run(schedule, target, account_id, t)
            after, fired = t, fired + 1
        self.last_fired[schedule.arn] = (version, after)
        if fired and _AT.match(schedule.schedule_expression.strip()) and schedule.action_after_completion == "DELETE":
            backend.delete_schedule(group.name, schedule.name)

    def _run(self, schedule: Any, target: dict[str, Any], account_id: str, at: float) -> None:
        from moto.ecs.models import ecs_backends

        from . import moto_patches, standalone

        cluster_arn = target["Arn"]
        region = cluster_arn.split(":")[3] if cluster_arn.startswith("arn:") else schedule.arn.split(":")[3]
        ecs = ecs_backends[account_id][region]
        params = target["EcsParameters"]
        overrides: dict[str, Any] | None = None
        if target.get("Input"):
            parsed = json.loads(target["Input"])
            overrides = parsed if isinstance(parsed, dict) else None
        record: dict[str, Any] = {"schedule": schedule.arn, "at": at, "task_arns": [], "error": None}
        try:
            tasks = ecs.run_task(
                cluster_arn, params["TaskDefinitionArn"], int(params.get("TaskCount") or 1), overrides,
                None, None, params.get("LaunchType"), _network(params.get("NetworkConfiguration")),
                params.get("Group"), params.get("PlatformVersion"),
                [{"capacityProvider": c.get("capacityProvider") or c.get("CapacityProvider"),
                  "weight": c.get("weight", 0), "base": c.get("base", 0)}
                 for c in params.get("CapacityProviderStrategy") or []] or None,
            )
        except Exception as exc:  # AWS would retry, then give up (or use the DLQ)
            record["error"] = str(exc) or type(exc).__name__
            self.fired.append(record)
            return
        lookup = moto_patches.PROFILE_LOOKUP[-1] if moto_patches.PROFILE_LOOKUP else None
        for task in tasks:
            if lookup is not None:
                standalone.adopt(ecs, task, at, lookup)
            record["task_arns"].append(task.task_arn)
        self.fired.append(record)
        del self.fired[:-100]
