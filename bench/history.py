"""bench/history: the `paas history` queries over 1,000,000 deployments.

Seeds a scratch database (2,000 apps, 3 environments, images, config versions, 1,000,000
releases and 1,000,000 deployments spread over a year) with COPY, ANALYZEs it, then times the
exact SQL `paas history` runs (built by `paas.service.history.history_sql`):

  - `paas history APP --limit 50`          target p95 <= 10 ms
  - `paas history --since 24h` (org-wide)  target p95 <= 50 ms

200 runs each (random apps for the first), and prints EXPLAIN (ANALYZE, BUFFERS) for both.

    .venv/bin/python bench/history.py [--deployments N] [--apps N] [--runs N] [--keep]

Uses PAAS_DATABASE_URL's server when set, else the embedded PostgreSQL; the scratch database
is created and dropped by this script.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ENVS = ("production", "staging", "dev")
IMAGES_PER_APP = 20


from _common import admin, pct, server_url, with_db  # noqa: E402  (one scratch-database helper for every bench)


def copy(cur, table: str, columns: tuple[str, ...], rows) -> int:
    buf = io.StringIO()
    n = 0
    for r in rows:
        buf.write("\t".join("\\N" if c is None else str(c) for c in r))
        buf.write("\n")
        n += 1
    buf.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)
    return n


def seed(conn, n_deployments: int, n_apps: int) -> dict:
    """Bulk load, the way one would restore a big history.

    The small tables are COPYed as they are. Releases and deployments are COPYed as compact
    rows (ids, app, environment, version, age) into a temporary table and expanded into both
    tables with one INSERT ... SELECT each, while their foreign keys and secondary indexes are
    dropped; those are then re-created from their own catalog definitions (so the schema ends
    exactly as migrated) and the foreign keys validated in bulk.
    """
    rnd = random.Random(42)
    year = 365 * 86400
    cur = conn.cursor()
    cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
    cur.execute("SET LOCAL synchronous_commit = off")
    cur.execute("SELECT setseed(0.42)")

    t0 = time.perf_counter()
    copy(cur, "environments", ("id", "name", "region", "cluster"),
         [(i + 1, e, "us-east-1", f"{e}-cluster") for i, e in enumerate(ENVS)])
    apps = [f"app-{i:04d}" for i in range(n_apps)]
    copy(cur, "apps", ("id", "name", "app_type", "team"),
         [(i + 1, a, ("web", "worker", "batch")[i % 3], f"team-{i % 40}") for i, a in enumerate(apps)])
    copy(cur, "images", ("id", "reference", "repository", "tag"),
         [(a * IMAGES_PER_APP + k + 1, f"registry.example.com/app-{a:04d}:1.{k}",
           f"registry.example.com/app-{a:04d}", f"1.{k}") for a in range(n_apps) for k in range(IMAGES_PER_APP)])
    copy(cur, "config_versions", ("id", "app_id", "environment_id", "version", "actor"),
         [(a * len(ENVS) + e + 1, a + 1, e + 1, 1, "seed@bench") for a in range(n_apps) for e in range(len(ENVS))])

    # Skewed: a few busy apps, a long tail (log-normal weights), summing to n_deployments.
    weights = [rnd.lognormvariate(0, 1) for _ in range(n_apps)]
    total = sum(weights)
    counts = [max(1, int(w / total * n_deployments)) for w in weights]
    counts[0] += n_deployments - sum(counts)

    # Compact rows: id, app, env, version (consecutive per app+env in time order), seconds ago,
    # the previous release of that app+env (a rollback target).
    buf = io.StringIO()
    rid = 0
    rand = rnd.random
    NULL = "\\N"
    for a, n in enumerate(counts):
        last = [0] * len(ENVS)
        ver = [0] * len(ENVS)
        app_id = a + 1
        for ago in sorted((int(rand() * year) for _ in range(n)), reverse=True):
            rid += 1
            r = rand()
            e = 0 if r < 0.5 else (1 if r < 0.85 else 2)
            ver[e] += 1
            buf.write(f"{rid}\t{app_id}\t{e + 1}\t{ver[e]}\t{ago}\t{last[e] or NULL}\n")
            last[e] = rid
    t_gen = time.perf_counter() - t0
    cur.execute("CREATE TEMP TABLE seed (id bigint, app_id int, environment_id int, version int, ago int, "
                "prev bigint) ON COMMIT DROP")
    buf.seek(0)
    cur.copy_expert("COPY seed FROM STDIN", buf)
    t_copy = time.perf_counter() - t0
    # Ids in time order, as a live system inserts them (the table's heap is then in time order too).
    cur.execute("""
        CREATE TEMP TABLE seed_t ON COMMIT DROP AS
        SELECT n.nid AS id, n.app_id, n.environment_id, n.version, n.ago, p.nid AS prev
          FROM (SELECT row_number() OVER (ORDER BY ago DESC, id) AS nid, * FROM seed) n
          LEFT JOIN (SELECT row_number() OVER (ORDER BY ago DESC, id) AS nid, id FROM seed) p ON p.id = n.prev
         ORDER BY 1
    """)

    # Drop foreign keys and secondary indexes of the two big tables; remember their definitions.
    cur.execute("""
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid IN ('releases'::regclass, 'deployments'::regclass, 'deployment_events'::regclass)
           AND contype IN ('f', 'u')
    """)
    constraints = cur.fetchall()
    for table, con, _ in constraints:
        cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{con}"')
    cur.execute("""
        SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
         WHERE indrelid IN ('releases'::regclass, 'deployments'::regclass) AND NOT indisprimary
    """)
    indexes = cur.fetchall()
    for ix, _ in indexes:
        cur.execute(f'DROP INDEX "{ix}"')

    n_img, n_env = IMAGES_PER_APP, len(ENVS)
    cur.execute(f"""
        INSERT INTO releases (id, app_id, environment_id, version, kind, image_id, config_version_id, formation,
                              manifest, actor, message, created_at, known_good_at)
        SELECT s.id, s.app_id, s.environment_id, s.version,
               (ARRAY['deploy','deploy','deploy','deploy','deploy','deploy','config','scale','rollback'])[1 + s.id %% 9],
               (s.app_id - 1) * {n_img} + 1 + (s.version %% {n_img}),
               (s.app_id - 1) * {n_env} + s.environment_id,
               %(formation)s::jsonb, %(manifest)s::jsonb,
               'dev' || (s.id * 7 %% 200) || '@corp', 'ship ' || s.id,
               now() - make_interval(secs => s.ago),
               CASE WHEN s.id %% 10 < 8 THEN now() - make_interval(secs => s.ago) + interval '10 minutes' END
          FROM seed_t s ORDER BY s.id
    """, {"formation": json.dumps({"web": {"count": 2, "cpu": 256, "memory": 512}}),
          "manifest": json.dumps({"app_type": "web", "processes": {"web": {"name": "web", "port": 8080}}})})
    cur.execute("""
        INSERT INTO deployments (id, app_id, environment_id, release_id, strategy, state, actor, message,
                                 created_at, started_at, finished_at, rolled_back_from_id, rolled_back_to_id, error)
        SELECT s.id, s.app_id, s.environment_id, s.id, (ARRAY['rolling','blue-green','canary'])[1 + s.id % 3],
               st.state, 'dev' || (s.id * 7 % 200) || '@corp', 'ship ' || s.id,
               s.created, CASE WHEN st.state IN ('superseded','cancelled','pending') THEN NULL
                               ELSE s.created + interval '5 seconds' END,
               CASE WHEN st.state = 'pending' THEN NULL
                    ELSE s.created + make_interval(secs => 30 + s.id % 870) END,
               CASE WHEN st.state = 'rolled_back' THEN s.id END,
               CASE WHEN st.state = 'rolled_back' THEN s.prev END,
               CASE WHEN st.state IN ('failed','rolled_back') THEN 'health check failed' END
          FROM (SELECT *, now() - make_interval(secs => ago) AS created, random() AS r FROM seed_t ORDER BY id) s
          CROSS JOIN LATERAL (SELECT CASE
                    WHEN s.ago < 1200 AND s.r < 0.5 THEN 'pending'
                    WHEN s.r < 0.85 THEN 'succeeded'
                    WHEN s.r < 0.89 THEN 'failed'
                    WHEN s.r < 0.92 AND s.prev IS NOT NULL THEN 'rolled_back'
                    WHEN s.r < 0.98 THEN 'superseded'
                    ELSE 'cancelled' END AS state) st
    """)
    for _, definition in indexes:
        cur.execute(definition)
    for table, con, definition in constraints:
        cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{con}" {definition}')
    for table in ("environments", "apps", "images", "config_versions", "releases", "deployments"):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    conn.commit()
    t_seed = time.perf_counter() - t0
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE")
    conn.autocommit = False
    t_all = time.perf_counter() - t0
    return {"deployments": rid, "apps": n_apps, "generate_s": t_gen, "copy_s": t_copy - t_gen,
            "load_s": t_seed - t_copy, "seed_s": t_seed, "with_analyze_s": t_all,
            "apps_by_size": sorted(range(n_apps), key=lambda i: -counts[i]), "app_names": apps, "counts": counts}


def timed(db, sql: str, params: dict) -> float:
    """One `paas history` query as the CLI runs it (paas.service.history.run_history_sql), in its own
    transaction."""
    from paas.service.history import run_history_sql

    t = time.perf_counter()
    run_history_sql(db, sql, params)
    db.rollback()
    return (time.perf_counter() - t) * 1000


def fresh(url: str, sql: str, params: dict) -> float:
    """Connect, query, close: what one `paas history` process pays on the database side."""
    from paas.db.sql import connect
    from paas.service.history import run_history_sql

    t = time.perf_counter()
    db = connect(url)
    run_history_sql(db, sql, params)
    db.close()
    return (time.perf_counter() - t) * 1000


def explain(db, sql: str, params: dict) -> str:
    db.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    out = "\n".join(r["QUERY PLAN"] for r in db.all("EXPLAIN (ANALYZE, BUFFERS) " + sql, **params))
    db.rollback()
    return out


def report(label: str, ms: list[float], target: float) -> bool:
    p50, p95 = statistics.median(ms), pct(ms, 95)
    ok = p95 <= target
    print(f"{label:<48} runs={len(ms):<4} p50={p50:7.2f} ms  p95={p95:7.2f} ms  max={max(ms):7.2f} ms  "
          f"target p95<={target:g} ms: {'OK' if ok else 'MISSED'}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deployments", type=int, default=1_000_000)
    ap.add_argument("--apps", type=int, default=2_000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="Keep the scratch database (prints its URL).")
    args = ap.parse_args()

    import psycopg2

    from paas.db.migrate import upgrade
    from paas.db.url import redact
    from paas.service.history import DEFAULT_LIMIT, history_sql

    server = server_url()
    name = f"paas_bench_history_{uuid.uuid4().hex[:8]}"
    admin(server, f'CREATE DATABASE "{name}"')
    url = with_db(server, name)
    print(f"scratch database: {redact(url)}")
    try:
        upgrade(url)
        conn = psycopg2.connect(url, application_name="bench-history")
        s = seed(conn, args.deployments, args.apps)
        print(f"seeded {s['deployments']:,} deployments (+ as many releases) over {s['apps']:,} apps in "
              f"{s['seed_s']:.1f} s (generate {s['generate_s']:.1f} s, COPY {s['copy_s']:.1f} s, insert + indexes + "
              f"foreign keys {s['load_s']:.1f} s); with VACUUM ANALYZE {s['with_analyze_s']:.1f} s; target < 60 s: "
              f"{'OK' if s['seed_s'] < 60 else 'MISSED'}")
        names, counts = s["app_names"], s["counts"]
        busiest = s["apps_by_size"][0]
        print(f"deployments per app: median {int(statistics.median(counts))}, busiest {names[busiest]} "
              f"with {counts[busiest]:,}")
        from paas.db.sql import Db

        db = Db(conn)
        rnd = random.Random(7)

        def rand_app() -> str:
            return names[rnd.randrange(len(names))]

        ok = True
        # paas history APP --limit 50 (random apps; PAAS_ENV unset: all environments)
        sql_app, _ = history_sql(app="x", limit=50)
        for _ in range(20):  # warm-up
            timed(db, sql_app, {"app": rand_app(), "limit": 50})
        ms = [timed(db, sql_app, {"app": rand_app(), "limit": 50}) for _ in range(args.runs)]
        ok &= report("paas history APP --limit 50 (random apps)", ms, 10)
        ms = [timed(db, sql_app, {"app": names[busiest], "limit": 50}) for _ in range(args.runs)]
        ok &= report(f"paas history {names[busiest]} --limit 50 (busiest)", ms, 10)
        sql_app_env, _ = history_sql(app="x", env="production", limit=50)
        ms = [timed(db, sql_app_env, {"app": rand_app(), "env": "production", "limit": 50})
              for _ in range(args.runs)]
        ok &= report("paas history APP --env production --limit 50", ms, 10)

        # org-wide, last 24 hours: as the CLI runs it (default limit), 100 rows, every row of the window
        sql_org, p_org = history_sql(since_seconds=86400, limit=DEFAULT_LIMIT)
        ms = [timed(db, sql_org, p_org) for _ in range(args.runs)]
        ok &= report(f"paas history --since 24h (default --limit {DEFAULT_LIMIT})", ms, 50)
        sql_100, p_100 = history_sql(since_seconds=86400, limit=100)
        ms = [timed(db, sql_100, p_100) for _ in range(args.runs)]
        ok &= report("paas history --since 24h --limit 100", ms, 50)
        sql_all, p_all = history_sql(since_seconds=86400, limit=0)
        n_day = db.scalar(f"SELECT count(*) FROM ({sql_all}) q", **p_all)
        db.rollback()
        ms = [timed(db, sql_all, p_all) for _ in range(args.runs)]
        report(f"(info) --since 24h --limit 0 (all {n_day:,} rows)", ms, 50)

        # what one CLI process pays: a new connection's first plan (cold catalog cache) + query
        ms = [fresh(url, sql_app, {"app": rand_app(), "limit": 50}) for _ in range(50)]
        p50, p95 = statistics.median(ms), pct(ms, 95)
        print(f"{'(info) connect + history APP --limit 50 + close':<48} runs=50   p50={p50:7.2f} ms  "
              f"p95={p95:7.2f} ms")

        print("\nEXPLAIN (ANALYZE, BUFFERS)  paas history APP --limit 50")
        print(explain(db, sql_app, {"app": names[busiest], "limit": 50}))
        print("\nEXPLAIN (ANALYZE, BUFFERS)  paas history --since 24h (default limit)")
        print(explain(db, sql_org, p_org))
        print("\nEXPLAIN (ANALYZE, BUFFERS)  paas history --since 24h --limit 0")
        print(explain(db, sql_all, p_all))
        conn.close()
        print(f"\nall targets met: {'yes' if ok else 'NO'}")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {redact(url)}")
        else:
            admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
