"""bench/plans: the worker's queue statements and the history / status reads keep their plans at scale.

    .venv/bin/python bench/plans.py [--apps 1000] [--deployments 100000] [--runs 30]
    .venv/bin/python bench/fleet.py --explain         # the same

Two scratch databases seeded by SQL (bench/history.py's bulk loader: apps over 3 environments,
skewed per-app history, a few recent deployments still pending): the baseline, 100 apps and
1,000 deployments, and the fleet, `--apps` apps and `--deployments` deployments; both with a
work_queue row per app+environment, a third of them due (the queued wave), and one observation per
app+environment. ANALYZE, then every statement below runs `--runs` times (median execution time
printed for the baseline and the fleet side by side) and its EXPLAIN (ANALYZE, BUFFERS) at fleet
scale is printed:

* claim: the body of `paas_claim()` (FOR UPDATE SKIP LOCKED in a CTE + UPDATE; rolled back);
* the worker loop's `queue.next_due_in` and the gauges' `queue.depth`;
* `paas history APP --limit 20` and `paas history --since 24h` (`paas.service.history.history`);
* `paas status APP` (`paas.service.history.status`): every statement it sends, captured from
  the service function itself.

A plan "degrades" when it reads a big table (deployments, releases, events) with a Seq Scan or
its median time grows more than 10x from the baseline; exit status 1 then.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import history as hist  # noqa: E402

BIG = ("deployments", "releases", "deployment_events")
CLAIM_BODY = """
    WITH due AS (
        SELECT w.app_id, w.environment_id, w.lease_owner IS NOT NULL AS rescued
          FROM work_queue w
         WHERE w.run_after <= now()
           AND (w.lease_expires_at IS NULL OR w.lease_expires_at < now())
         ORDER BY w.run_after
         LIMIT 1
           FOR UPDATE SKIP LOCKED
    )
    UPDATE work_queue w
       SET lease_owner = 'bench:1',
           lease_expires_at = now() + make_interval(secs => 30),
           fencing_token = w.fencing_token + 1,
           attempts = w.attempts + 1,
           updated_at = now()
      FROM due
     WHERE w.app_id = due.app_id AND w.environment_id = due.environment_id
    RETURNING w.app_id, w.environment_id, w.fencing_token, w.enqueued_at, w.attempts, due.rescued
"""


def seed(url: str, apps: int, deployments: int) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        hist.seed(conn, deployments, apps)
        conn.autocommit = False
        cur = conn.cursor()
        # one queue row per app+environment; a third due now (the wave), the rest later
        cur.execute("""
            INSERT INTO work_queue (app_id, environment_id, run_after)
            SELECT a.id, e.id, CASE WHEN (a.id + e.id) % 3 = 0 THEN now() - interval '1 second' * (a.id % 60)
                                    ELSE now() + interval '1 second' * (a.id % 600) END
              FROM apps a CROSS JOIN environments e
        """)
        cur.execute("""
            INSERT INTO observations (app_id, environment_id, data, observed_at)
            SELECT a.id, e.id, '{"processes": {"web": {"release": 1, "desired_count": 2}}}'::jsonb, now()
              FROM apps a CROSS JOIN environments e
        """)
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
    finally:
        conn.close()


class Capture:
    """A paas.db.sql.Db that records every statement a service function sends."""

    def __init__(self, url: str) -> None:
        from paas.db.sql import Db, connect

        self.db = connect(url, "paas-bench")
        self.seen: list[tuple[str, dict]] = []
        outer = self

        class Recording(Db):
            def _run(self, sql, params):  # noqa: ANN001
                outer.seen.append((sql, dict(params or {})))
                return super()._run(sql, params)

        self.rec = Recording(self.db.conn)


def statements(url: str, app: str) -> list[tuple[str, str, dict]]:
    """(label, sql, params) of every statement measured."""
    from paas.service import history as svc

    out: list[tuple[str, str, dict]] = [
        ("claim (paas_claim body)", CLAIM_BODY, {}),
        ("queue.next_due_in", None, {}),  # filled below from the module's own SQL
        ("queue.depth", None, {}),
    ]
    cap = Capture(url)
    from paas.db import queue

    queue.next_due_in(cap.rec)
    queue.depth(cap.rec)
    (s1, p1), (s2, p2) = cap.seen[-2:]
    out[1] = ("queue.next_due_in", s1, p1)
    out[2] = ("queue.depth", s2, p2)
    for label, call in (("history APP --limit 20", lambda: svc.history(cap.rec, app=app, limit=20)),
                        ("history --since 24h", lambda: svc.history(cap.rec, since="24h", limit=50)),
                        ("status APP", lambda: svc.status(cap.rec, app, "production"))):
        cap.seen.clear()
        call()
        cap.rec.rollback()
        prelude = []  # SET LOCAL ... a service sends first: run before each later EXPLAIN
        for i, (sql, params) in enumerate(cap.seen):
            if not sql.lstrip().upper().startswith(("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")):
                prelude.append((sql, params))
                continue
            out.append((f"{label} [{i + 1}/{len(cap.seen)}]", sql, {**params, "__prelude": list(prelude)}))
    cap.db.close()
    return out


def _prelude(db, params: dict) -> dict:  # noqa: ANN001
    params = dict(params)
    for sql, p in params.pop("__prelude", []):
        db.execute(sql, **p)
    return params


def explain(db, sql: str, params: dict, analyze: bool = True) -> list[str]:  # noqa: ANN001
    opts = "ANALYZE, BUFFERS" if analyze else "COSTS OFF"
    params = _prelude(db, params)
    rows = db.all(f"EXPLAIN ({opts}) {sql}", **params)
    db.rollback()
    return [r["QUERY PLAN"] for r in rows]


def timing(db, sql: str, params: dict, runs: int) -> float:  # noqa: ANN001
    """Median server execution time, ms (from EXPLAIN ANALYZE's summary, without timing overhead)."""
    ms = []
    for _ in range(runs):
        p = _prelude(db, params)
        lines = db.all(f"EXPLAIN (ANALYZE, TIMING OFF) {sql}", **p)
        db.rollback()
        for r in lines:
            m = re.match(r"Execution Time: ([\d.]+) ms", r["QUERY PLAN"])
            if m:
                ms.append(float(m.group(1)))
    return statistics.median(ms)


def seq_scans(plan: list[str]) -> list[str]:
    return [t for t in BIG for line in plan if re.search(rf"Seq Scan on {t}\b", line)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--deployments", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args(argv)
    from paas.db.migrate import upgrade
    from paas.db.sql import connect

    print(c.machine())
    server = c.server_url()
    names = {k: f"paas_bench_plans_{k}_{uuid.uuid4().hex[:6]}" for k in ("base", "fleet")}
    sizes = {"base": (100, 1000), "fleet": (args.apps, args.deployments)}
    try:
        dbs = {}
        for k, name in names.items():
            c.admin(server, f'CREATE DATABASE "{name}"')
            url = c.with_db(server, name)
            upgrade(url)
            t = time.perf_counter()
            seed(url, *sizes[k])
            print(f"{k}: {sizes[k][0]} apps, {sizes[k][1]} deployments, seeded in {time.perf_counter() - t:.1f} s")
            dbs[k] = url
        app = "app-0000"  # the busiest app (the loader gives app 0 the remainder)
        stmts = {k: statements(u, app) for k, u in dbs.items()}
        conns = {k: connect(u, "paas-bench") for k, u in dbs.items()}
        c.banner(f"median execution time, ms ({args.runs} runs; baseline 100 apps / 1,000 deployments)")
        print(f"{'statement':<36}{'baseline':>10}{'fleet':>10}{'ratio':>8}  big-table seq scans")
        bad = []
        plans = []
        for (label, sql, params), (_, fsql, fparams) in zip(stmts["base"], stmts["fleet"]):
            b = timing(conns["base"], sql, params, args.runs)
            f = timing(conns["fleet"], fsql, fparams, args.runs)
            plan = explain(conns["fleet"], fsql, fparams)
            scans = seq_scans(plan)
            ratio = f / b if b > 0 else float("inf")
            print(f"{label:<36}{b:>10.3f}{f:>10.3f}{ratio:>7.1f}x  {', '.join(scans) or '-'}")
            if scans or (ratio > 10 and f > 1.0):
                bad.append(label)
            plans.append((label, fsql, plan))
        for label, sql, plan in plans:
            c.banner(f"EXPLAIN (ANALYZE, BUFFERS) at fleet scale: {label}")
            print(" ".join(sql.split())[:300])
            print("\n".join(plan))
        print()
        print(f"{'MISSED' if bad else 'OK    '} plans keep their shape at {args.apps} apps / {args.deployments} "
              f"deployments{': degraded ' + ', '.join(bad) if bad else ''}")
        for conn in conns.values():
            conn.close()
        return 1 if bad else 0
    finally:
        for name in names.values():
            c.admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
