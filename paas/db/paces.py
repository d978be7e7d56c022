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

# A caller takes the next slot only when it is at most HORIZON seconds away; otherwise it is told
# how far away it is and asks again later. Reserving slots far ahead would fix their spacing at
# the rate of the moment: when the rate rises (slow start, recovery), a queue of reservations made
# at the old rate would still go out at it.
HORIZON = 0.5
SLOT = """
WITH old AS (SELECT next_slot AS was FROM aws_paces WHERE account = %(a)s AND operation = %(o)s FOR UPDATE)
UPDATE aws_paces p
   SET next_slot = CASE WHEN old.was <= clock_timestamp() + make_interval(secs => %(h)s)
                        THEN greatest(old.was, clock_timestamp()) + make_interval(secs => 1.0 / p.rate)
                        ELSE old.was END
  FROM old
 WHERE p.account = %(a)s AND p.operation = %(o)s
RETURNING old.was <= clock_timestamp() + make_interval(secs => %(h)s) AS taken,
          greatest(0.0, extract(epoch FROM old.was - clock_timestamp())::float8) AS wait
"""

# The control loop, one per account and operation whichever worker reports:
# - start: the first throttle starts the pace at half the rate that worker was sending at (a
#   worker knows only its own rate, so this may be well under the account's);
# - slow start: until the first cut, each success multiplies the rate by SLOW_START (TCP's slow
#   start), so a start below AWS's rate is left within a few requests;
# - cut: a throttle, at most once a second (the answers to requests already in flight, from every
#   worker, report the same excess), sets the rate to what AWS accepted since the last cut
#   (successes / seconds, when that is below the pace: AWS's own refill rate while its bucket is
#   empty; over MEASURE_SECONDS at least) or else cuts it by BETA (botocore's adaptive retry mode
#   uses 0.7), never below half the rate in one cut;
# - then each success adds STEP requests/s (additive increase) and the pace is dropped at its ceiling.
SLOW_START = 1.25
BETA = 0.7
MEASURE_SECONDS = 3.0  # the shortest window, and
MEASURE_MIN_OK = 3  # the fewest successes, that say what AWS accepts (else: BETA); never below half
_CUT = "(p.last_cut <= clock_timestamp() - interval '1 second')"
_ACCEPTED = ("(CASE WHEN p.ok_since <= clock_timestamp() - make_interval(secs => %(window)s) "
             "AND p.ok_count >= %(min_ok)s "
             "THEN p.ok_count / extract(epoch FROM clock_timestamp() - p.ok_since)::float8 END)")
_NEW_RATE = (f"greatest(p.floor, p.rate / 2.0, CASE WHEN {_ACCEPTED} < p.rate THEN {_ACCEPTED} "
             "ELSE p.rate * %(beta)s END)")
THROTTLED = f"""
INSERT INTO aws_paces AS p (account, operation, rate, ceiling, floor, next_slot, last_cut, started_at,
                            ok_since, ok_count, slow_start, throttles)
VALUES (%(a)s, %(o)s, greatest(%(f)s, %(s)s / 2.0), %(c)s, %(f)s,
        clock_timestamp() + make_interval(secs => 1.0 / greatest(%(f)s, %(s)s / 2.0)), clock_timestamp(),
        clock_timestamp(), clock_timestamp(), 0, true, 1)
ON CONFLICT (account, operation) DO UPDATE SET
    throttles = p.throttles + 1,
    rate = CASE WHEN {_CUT} THEN {_NEW_RATE} ELSE p.rate END,
    next_slot = CASE WHEN {_CUT} THEN greatest(p.next_slot, clock_timestamp() + make_interval(secs => 1.0 / {_NEW_RATE}))
                     ELSE p.next_slot END,
    slow_start = CASE WHEN {_CUT} THEN false ELSE p.slow_start END,
    ok_count = CASE WHEN {_CUT} THEN 0 ELSE p.ok_count END,
    ok_since = CASE WHEN {_CUT} THEN clock_timestamp() ELSE p.ok_since END,
    last_cut = CASE WHEN {_CUT} THEN clock_timestamp() ELSE p.last_cut END,
    updated_at = clock_timestamp()
RETURNING rate
"""

SUCCEEDED = """
WITH up AS (
    UPDATE aws_paces SET rate = least(ceiling, CASE WHEN slow_start THEN rate * %(slow)s ELSE rate + %(step)s END),
                         ok_count = ok_count + 1, updated_at = clock_timestamp()
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

    def slot(self, account: str, operation: str) -> tuple[bool, float] | None:
        """(True, seconds until this caller's slot) when it took one; (False, seconds until the
        next slot) when that is beyond HORIZON (ask again nearer the time); None when the
        operation is not paced."""
        rows = self._run(SLOT, a=account, o=operation, h=HORIZON)
        return (bool(rows[0].taken), float(rows[0].wait)) if rows else None

    def throttled(self, account: str, operation: str, *, start: float, ceiling: float, floor: float) -> float:
        """Record a throttle: the pace starts at half `start` (the rate this worker was sending
        at), or is cut (see above); the shared rate after it."""
        return float(self._run(THROTTLED, a=account, o=operation, s=float(start), c=float(ceiling),
                               f=float(floor), beta=BETA, window=MEASURE_SECONDS, min_ok=MEASURE_MIN_OK)[0].rate)

    def succeeded(self, account: str, operation: str, step: float) -> float | None:
        """A paced request went through: the rate up (×SLOW_START before the first cut, + `step`
        after); the pace is dropped at its ceiling. The rate after it (None: not paced, or no longer)."""
        rows = self._run(SUCCEEDED, a=account, o=operation, step=float(step), slow=SLOW_START)
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
