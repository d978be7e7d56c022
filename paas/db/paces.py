"""The AWS request paces every worker of an account shares (table `aws_paces`, migration 0009).

`paas.aws.budget` learns a pace for an operation AWS throttles (AIMD); a worker hands it this
store so that all its peers, on any host, follow one pace instead of one each: N separate AIMD
loops against one AWS bucket each halve on their own throttles and together keep well under the
bucket's rate (4 workers kept 69 % of it in bench/fleet.py).

Each method is one statement on a connection of its own (autocommit: nothing is held between
calls, a frozen worker holds no lock); a slot is a time, not a lease, so a worker that dies
after taking one only wastes that slot. Errors propagate: the budget falls back to its
in-process pace while the database is unreachable.
"""

from __future__ import annotations

import threading
from typing import Any

from paas.db.sql import connect

STATEMENT_TIMEOUT_MS = 5000

SLOT = """
UPDATE aws_paces SET next_slot = greatest(next_slot, clock_timestamp()) + make_interval(secs => 1.0 / rate)
 WHERE account = %(a)s AND operation = %(o)s
RETURNING greatest(0.0, extract(epoch FROM next_slot - clock_timestamp())::float8 - 1.0 / rate) AS wait
"""

# The first throttle starts the pace at half the rate the operation was being sent at (as the
# in-process pace does). A worker only knows its own sending rate, so for JOIN_SECONDS after the
# pace starts, each other worker's first throttle adds half of its own rate: the pace starts at
# half the account's rate, not at half of one worker's share. After that, a throttle cuts the
# rate by BETA, at most once a second (the answers to requests already in flight, from every
# worker, report the same excess): one loop serves the whole account, so it backs off less than
# one of N competing loops must (botocore's adaptive retry mode uses 0.7 for its one client).
BETA = 0.7
JOIN_SECONDS = 5.0  # > paas.aws.budget.SHARED_REFRESH: every worker sees a new pace in time
_JOINING = ("(p.started_at > clock_timestamp() - make_interval(secs => %(join)s) "
            "AND NOT (%(w)s = ANY(p.reporters)))")
_CUT = "(p.last_cut <= clock_timestamp() - interval '1 second')"
THROTTLED = f"""
INSERT INTO aws_paces AS p (account, operation, rate, ceiling, floor, next_slot, last_cut, started_at,
                            reporters, throttles)
VALUES (%(a)s, %(o)s, greatest(%(f)s, %(s)s / 2.0), %(c)s, %(f)s,
        clock_timestamp() + make_interval(secs => 1.0 / greatest(%(f)s, %(s)s / 2.0)), clock_timestamp(),
        clock_timestamp(), ARRAY[%(w)s]::text[], 1)
ON CONFLICT (account, operation) DO UPDATE SET
    throttles = p.throttles + 1,
    rate = CASE WHEN {_JOINING} THEN least(p.ceiling, p.rate + EXCLUDED.rate)
                WHEN {_CUT} THEN greatest(p.floor, p.rate * %(beta)s)
                ELSE p.rate END,
    next_slot = CASE WHEN {_JOINING} THEN p.next_slot
                     WHEN {_CUT} THEN greatest(p.next_slot, clock_timestamp()
                                               + make_interval(secs => 1.0 / greatest(p.floor, p.rate * %(beta)s)))
                     ELSE p.next_slot END,
    last_cut = CASE WHEN {_JOINING} THEN p.last_cut WHEN {_CUT} THEN clock_timestamp() ELSE p.last_cut END,
    reporters = CASE WHEN {_JOINING} THEN p.reporters || %(w)s::text ELSE p.reporters END,
    updated_at = clock_timestamp()
RETURNING rate
"""

# a worker that finds a new pace it did not start (it was sending that operation too, but met
# no throttle of its own) adds half its rate, once, while the pace is new
JOIN = """
UPDATE aws_paces SET rate = least(ceiling, rate + greatest(0.0, %(r)s / 2.0)), reporters = reporters || %(w)s::text,
       updated_at = clock_timestamp()
 WHERE account = %(a)s AND operation = %(o)s
   AND started_at > clock_timestamp() - make_interval(secs => %(join)s) AND NOT (%(w)s = ANY(reporters))
RETURNING rate
"""

SUCCEEDED = """
WITH up AS (
    UPDATE aws_paces SET rate = least(ceiling, rate + %(step)s), updated_at = clock_timestamp()
     WHERE account = %(a)s AND operation = %(o)s
    RETURNING rate, ceiling)
SELECT rate, rate >= ceiling AS done FROM up
"""

DROP_AT_CEILING = "DELETE FROM aws_paces WHERE account = %(a)s AND operation = %(o)s AND rate >= ceiling"

PACED = "SELECT operation, rate FROM aws_paces WHERE account = %(a)s"


class DbPaces:
    """`paas.aws.budget.SharedPaces` over the metadata database: one connection, one lock."""

    def __init__(self, url: str, application_name: str = "paas-paces") -> None:
        self.url = url
        self.application_name = application_name
        self._lock = threading.Lock()
        self._db: Any = None

    def _run(self, sql: str, **params: Any) -> list[Any]:
        with self._lock:
            if self._db is None:
                self._db = connect(self.url, application_name=self.application_name)
                self._db.conn.autocommit = True
                # an AWS request waits on these statements: never for long
                self._db.execute("SET statement_timeout = %(t)s", t=STATEMENT_TIMEOUT_MS)
            try:
                return self._db.all(sql, **params)
            except Exception:
                db, self._db = self._db, None  # a new connection next time
                try:
                    db.close()
                except Exception:
                    pass
                raise

    def slot(self, account: str, operation: str) -> float | None:
        """Seconds until this caller's turn (its slot is taken); None when the operation is not paced."""
        rows = self._run(SLOT, a=account, o=operation)
        return float(rows[0].wait) if rows else None

    def throttled(self, account: str, operation: str, *, start: float, ceiling: float, floor: float,
                  reporter: str) -> float:
        """Record a throttle `reporter` (one worker process) met: the pace starts at half `start`
        (the rate this worker was sending at), grows by half of each other worker's rate while
        it is new, and is cut by BETA after that; the shared rate after it."""
        return float(self._run(THROTTLED, a=account, o=operation, s=float(start), c=float(ceiling),
                               f=float(floor), beta=BETA, join=JOIN_SECONDS, w=reporter[:128])[0].rate)

    def join(self, account: str, operation: str, *, sent_rate: float, reporter: str) -> float | None:
        """`reporter` was sending `operation` at `sent_rate` when it found the pace: half of that
        is added while the pace is new (once per reporter). The rate after it; None: too late."""
        rows = self._run(JOIN, a=account, o=operation, r=float(sent_rate), w=reporter[:128], join=JOIN_SECONDS)
        return float(rows[0].rate) if rows else None

    def succeeded(self, account: str, operation: str, step: float) -> float | None:
        """A paced request went through: the rate a step up; the pace is dropped at its ceiling.
        The rate after it (None: not paced, or no longer)."""
        rows = self._run(SUCCEEDED, a=account, o=operation, step=float(step))
        if not rows:
            return None
        if rows[0].done:
            self._run(DROP_AT_CEILING, a=account, o=operation)
            return None
        return float(rows[0].rate)

    def paced(self, account: str) -> dict[str, float]:
        """The account's paced operations and their rates."""
        return {r.operation: float(r.rate) for r in self._run(PACED, a=account)}

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
