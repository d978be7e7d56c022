"""Schedule expressions of ``[jobs.NAME]``: EventBridge Scheduler's grammar, checked before anything is written.

Scheduler takes ``at(...)``, ``rate(...)`` and ``cron(...)``; a job recurs, so paas takes the two
recurring forms (Scheduler's "Schedule types" documentation):

* ``rate(value unit)``: value ≥ 1, unit ``minute | minutes | hour | hours | day | days``,
  singular exactly when the value is 1 (``rate(1 hour)``, ``rate(5 minutes)``).
* ``cron(minutes hours day-of-month month day-of-week year)``: six fields; one of day-of-month
  and day-of-week must be ``?``; day-of-week 1-7 is SUN-SAT (names SUN..SAT too); ``L``, ``#``
  and ``W`` as AWS documents them. Evaluated in UTC (paas sets no time zone).

A ScheduleExpression is at most 256 characters. Validation and the next occurrence use
croniter (a maintained cron library) after translating AWS's fields to its own, imported only
for cron expressions, so a deploy without jobs pays nothing for it. Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from paas.domain.errors import UserError
from paas.domain.text import show

EXPRESSION_MAX = 256  # Scheduler: ScheduleExpression length 1-256
PATTERN = r"^(rate|cron)\(.*\)$"  # what a JSON Schema can say; the rest is checked here

_RATE = re.compile(r"^rate\((\d{1,9}) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_FIELD = re.compile(r"^[0-9A-Za-z*?,/#\-]+$")


def cron_fields(body: str) -> str:
    """AWS cron (6 fields, DOW 1-7 = SUN-SAT, ``?``) → croniter (7 fields: seconds, then year)."""
    parts = body.split()
    if len(parts) != 6:
        raise ValueError("a cron expression has six fields: minutes hours day-of-month month day-of-week year")
    if not all(_FIELD.fullmatch(p) for p in parts):
        raise ValueError("a cron field holds digits, names and , - * ? / L W # only")
    minute, hour, dom, month, dow, year = parts
    if "?" not in (dom, dow):
        raise ValueError("one of day-of-month and day-of-week must be '?'")
    if dom == "?" and dow == "?":
        raise ValueError("only one of day-of-month and day-of-week may be '?'")
    dow = re.sub(r"(?<![#/\d])([1-7])(?!\d)", lambda m: str(int(m.group(1)) - 1), dow)
    return " ".join([minute, hour, dom.replace("?", "*"), month, dow.replace("?", "*"), "0", year])


def expression(value: object, what: str = "schedule") -> str:
    """The expression, or a one-line UserError saying what AWS would refuse about it."""
    if not isinstance(value, str):
        raise UserError(f"invalid {what}: expected a string like \"rate(1 hour)\" or \"cron(0 3 * * ? *)\"")
    if not 0 < len(value) <= EXPRESSION_MAX:
        raise UserError(f"invalid {what}: 1 to {EXPRESSION_MAX} characters")
    m = _RATE.fullmatch(value)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if n < 1 or (n == 1) != (not unit.endswith("s")):
            raise UserError(f"invalid {what} {show(value)}: write rate(1 {unit.rstrip('s')}) or "
                            f"rate(N {unit.rstrip('s')}s) with N of at least 2")
        return value
    m = _CRON.fullmatch(value)
    if m:
        try:
            fields = cron_fields(m.group(1))
        except ValueError as e:
            raise UserError(f"invalid {what} {show(value)}: {e}") from None
        from croniter import croniter

        if not croniter.is_valid(fields):
            raise UserError(f"invalid {what} {show(value)}: a field is out of range or not understood "
                            "(minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, "
                            "day-of-week 1-7 or SUN-SAT, year)")
        return value
    raise UserError(f"invalid {what} {show(value)}: expected rate(N unit) or cron(min hour day month weekday year), "
                    "e.g. \"rate(1 hour)\" or \"cron(0 3 * * ? *)\"")


def rate_seconds(value: str) -> int | None:
    """Seconds between runs of a rate expression; None for cron."""
    m = _RATE.fullmatch(value)
    return int(m.group(1)) * _UNIT[m.group(2).rstrip("s")] if m else None


def next_run(value: str, after: datetime, started: datetime | None = None) -> datetime | None:
    """The first occurrence strictly after `after` (UTC). A rate schedule counts from when it
    was created or last changed (`started`), as Scheduler does; None when that is unknown."""
    every = rate_seconds(value)
    if every is not None:
        if started is None:
            return None
        if after < started:
            return started
        k = int((after - started).total_seconds() // every) + 1
        return started + timedelta(seconds=k * every)
    m = _CRON.fullmatch(value)
    if not m:
        return None
    from croniter import croniter

    base = after.astimezone(timezone.utc)
    try:
        return croniter(cron_fields(m.group(1)), base).get_next(datetime)
    except (ValueError, KeyError, StopIteration):  # no further occurrence (a past year)
        return None
