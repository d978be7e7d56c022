"""bench/resync_cost: one full resync of an environment with 100, 300 and 1,000 steady services.

Seeds the emulator through boto3 (one task definition and one ECS service per app process,
desiredCount 1, run by the simulated data plane) and the database with what paas would have
recorded for them (apps, images, config versions, releases v1, succeeded deployments, and
observations whose data holds the task-definition cache and the active colour, exactly the
shape `paas.reconciler.resync._expected` reads). Apps have two processes (`web`, `worker`),
so N services = N/2 apps.

Each resync runs in a fresh worker-like subprocess (`resync_cost.py --runner`): it builds a
real `paas.reconciler.worker.Worker` (engine, imports), claims the environment with
`claim_environment`, and runs `resync_environment(db, env, driver_for(env))` with a fresh
driver, exactly as `Worker.run_resync` does, with the `Db` wrapped to count statements. It
reports AWS calls by operation (paas.aws.accounting), statements and commits, and its peak
RSS (VmHWM). In the same process a second resync on the now-warm driver shows what a
long-running worker pays on later resyncs. Then 5 services get their desiredCount changed
behind paas's back (boto3 UpdateService) and a fresh resync must report exactly those 5.

    .venv/bin/python bench/resync_cost.py [--sizes 100,300,1000]

Targets (1,000 services, fresh driver): <= 110 ECS read calls, zero ELB / CloudFormation /
CloudWatch calls, DB statements independent of N, worker peak RSS <= 200 MiB.
The simulated data plane brings the services to steady state and is then left idle during the
resyncs (see `settle`).
The runner's AWS request budget is unlimited (PAAS_AWS_RPS=0) so the bench measures calls, not
the budget; the minimum wall time at the default 20 requests/s is printed next to the calls.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

ECS_READ_TARGET = 110
RSS_TARGET_MIB = 200.0
FORBIDDEN = ("elasticloadbalancing:", "cloudformation:", "cloudwatch:")
READ_PREFIXES = ("Describe", "List", "Get")
PROCS = ("web", "worker")
DEFAULT_RPS = 20.0


# ---------------------------------------------------------------------------------- runner
def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0  # kB -> MiB
    return float("nan")


def runner(url: str) -> None:
    """A worker-like process: one resync with a fresh driver, then one on the warm driver."""
    from paas.aws import accounting
    from paas.db.engine import pooled
    from paas.db.sql import Db
    from paas.reconciler.drivers import driver_for
    from paas.reconciler.resync import claim_environment, resync_environment
    from paas.reconciler.worker import Worker

    class CountingDb(Db):
        statements = 0
        commits = 0

        def _run(self, sql, params):  # noqa: ANN001
            CountingDb.statements += 1
            return super()._run(sql, params)

        def commit(self) -> None:
            CountingDb.commits += 1
            super().commit()

    w = Worker(url, concurrency=1, once=True)
    out: dict = {"rss_start_mib": _vm("VmRSS")}
    with pooled(w.engine) as pdb:
        db = CountingDb(pdb.conn)
        env = claim_environment(db, 3600.0)
        if env is None:
            raise SystemExit("runner: no environment due for resync")
        runs = []
        driver = driver_for(env)  # fresh: first driver of this process, empty caches
        for label in ("fresh driver", "warm driver"):
            CountingDb.statements = CountingDb.commits = 0
            accounting.reset()
            hwm0 = _vm("VmHWM")
            t = time.perf_counter()
            res = resync_environment(db, env, driver)
            secs = time.perf_counter() - t
            runs.append({
                "label": label, "seconds": secs, "services": res.services,
                "drifted": sorted(d["service"] for d in res.drifted), "missing": res.missing,
                "calls": accounting.snapshot()["calls"],
                "statements": CountingDb.statements, "commits": CountingDb.commits,
                "hwm_before_mib": hwm0, "hwm_after_mib": _vm("VmHWM"),
            })
    out["runs"] = runs
    out["rss_end_mib"] = _vm("VmRSS")
    out["peak_rss_mib"] = _vm("VmHWM")
    w.engine.dispose()
    print(json.dumps(out))


# ---------------------------------------------------------------------------------- seeding
def seed_aws(emu, boot: dict, apps: list[str]) -> dict[str, str]:
    """Task definition + service per app process; returns {family:1 key: task definition arn}."""
    import boto3
    from botocore.config import Config

    ecs = boto3.client("ecs", endpoint_url=emu.endpoint_url, region_name="us-east-1",
                       config=Config(max_pool_connections=8, retries={"mode": "standard"}))

    def one(app_proc: tuple[str, str]) -> tuple[str, str]:
        app, proc = app_proc
        fam = f"{app}-dev-{proc}"
        tags = [{"key": "paas:app", "value": app}, {"key": "paas:env", "value": "dev"},
                {"key": "paas:process", "value": proc}, {"key": "paas:release", "value": "1"}]
        td = ecs.register_task_definition(
            family=fam, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": proc, "image": f"registry.example.com/{app}:1", "essential": True}],
            tags=tags)["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster=boot["cluster"], serviceName=f"{app}-{proc}-blue", taskDefinition=td, desiredCount=1,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": list(boot["subnets"]),
                                                          "securityGroups": list(boot["security_groups"]),
                                                          "assignPublicIp": "DISABLED"}},
            deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200,
                                     "deploymentCircuitBreaker": {"enable": True, "rollback": False}},
            tags=tags[:3], propagateTags="SERVICE")
        return f"{fam}:1", td

    with ThreadPoolExecutor(4) as ex:
        return dict(ex.map(one, [(a, p) for a in apps for p in PROCS]))


def seed_db(url: str, apps: list[str], tds: dict[str, str]) -> None:
    from paas.db.sql import connect, jsonb
    from paas.domain.manifest import Manifest, ProcessSpec

    manifest = Manifest(app_type="web", processes={"web": ProcessSpec(name="web", port=8080),
                                                   "worker": ProcessSpec(name="worker")}).to_json()
    formation = {p: {"count": 1, "cpu": 256, "memory": 512} for p in PROCS}
    db = connect(url, "paas-bench-seed")
    try:
        with db.transaction():
            env = db.scalar("SELECT id FROM environments WHERE name = 'dev'")
            rows = db.all("INSERT INTO apps (name, app_type) SELECT unnest(%(n)s::text[]), 'web' RETURNING id, name",
                          n=apps)
            ids = {r.name: r.id for r in rows}
            a_ids = [ids[a] for a in apps]
            db.execute(
                """
                INSERT INTO images (reference, repository, tag)
                SELECT 'registry.example.com/' || n || ':1', 'registry.example.com/' || n, '1' FROM unnest(%(n)s::text[]) n
                """, n=apps)
            db.execute(
                """
                INSERT INTO config_versions (app_id, environment_id, version, vars, secrets, actor)
                SELECT a, %(e)s, 1, '{}', '{}', 'bench' FROM unnest(%(a)s::int[]) a
                """, a=a_ids, e=env)
            db.execute(
                """
                INSERT INTO releases (app_id, environment_id, version, kind, image_id, config_version_id,
                                      formation, manifest, actor, message, known_good_at)
                SELECT v.a, %(e)s, 1, 'deploy', i.id, cv.id, %(f)s::jsonb, %(m)s::jsonb, 'bench', 'seed', now()
                  FROM unnest(%(a)s::int[], %(n)s::text[]) AS v(a, n)
                  JOIN images i ON i.reference = 'registry.example.com/' || v.n || ':1'
                  JOIN config_versions cv ON cv.app_id = v.a AND cv.environment_id = %(e)s AND cv.version = 1
                """, a=a_ids, n=apps, e=env, f=jsonb(formation), m=jsonb(manifest))
            db.execute(
                """
                INSERT INTO deployments (app_id, environment_id, release_id, strategy, state, actor, message,
                                         started_at, finished_at)
                SELECT r.app_id, r.environment_id, r.id, 'rolling', 'succeeded', 'bench', 'seed',
                       now() - interval '1 minute', now()
                  FROM releases r WHERE r.app_id = ANY(%(a)s::int[]) AND r.environment_id = %(e)s
                """, a=a_ids, e=env)
            datas = []
            for a in apps:
                procs, cache = {}, {}
                for p in PROCS:
                    key = f"{a}-dev-{p}:1"
                    cache[key] = tds[key]
                    procs[p] = {"active_colour": "blue", "release": 1, "desired_count": 1,
                                "colours": {"blue": {"service": f"{a}-{p}-blue", "release": 1,
                                                     "task_definition": tds[key], "desired_count": 1}}}
                datas.append(jsonb({"processes": procs, "task_definitions": cache, "stack": None}))
            db.execute(
                """
                INSERT INTO observations (app_id, environment_id, data, observed_at)
                SELECT v.a, %(e)s, v.d::jsonb, now() FROM unnest(%(a)s::int[], %(d)s::text[]) AS v(a, d)
                """, a=a_ids, d=datas, e=env)
    finally:
        db.close()


def settle(emu, n: int) -> tuple[int, float]:
    """Tick the simulated data plane until every service runs its one task, then leave it idle.

    The data plane's tick is O(services x tasks) (ecs_scheduler.service_tasks scans every task
    of the cluster for each service) and holds the emulator's lock: at 1,000 services a tick
    takes over a second and, ticking continuously, starves API requests (the first version of
    this bench timed out after 300 s). Real ECS's data plane does not block the API, so the
    services are brought to steady state first and the resyncs run with the data plane idle."""
    from moto.backends import get_backend

    t, ticks = time.monotonic(), 0
    while ticks < 30:
        emu.dataplane.tick()
        ticks += 1
        ecs = get_backend("ecs")[emu.account_id][emu.region]
        running = sum(s.running_count for s in list(ecs.services.values()))
        if running >= n and ticks >= 3:
            break
        time.sleep(0.35)
    return ticks, time.monotonic() - t


def run_resync(url: str, endpoint: str) -> dict:
    """The runner subprocess's report (its peak RSS is its own VmHWM: ru_maxrss of children
    would also count the forked copy of this big emulator process)."""
    from paas.db.sql import connect

    db = connect(url)
    try:
        with db.transaction():
            db.execute("UPDATE environments SET resync_after = now() WHERE name = 'dev'")
    finally:
        db.close()
    env = {**os.environ, **c.DUMMY_AWS, "PAAS_DATABASE_URL": url, "AWS_ENDPOINT_URL": endpoint,
           "PAAS_AWS_RPS": "0"}
    env.pop("PAAS_AWS_FAULTS", None)
    p = subprocess.run([sys.executable, __file__, "--runner", url], cwd=str(c.ROOT), env=env,
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise SystemExit(f"runner failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def ecs_reads(calls: dict[str, int]) -> int:
    return sum(n for op, n in calls.items()
               if op.startswith("ecs:") and op.split(":", 1)[1].startswith(READ_PREFIXES))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,300,1000", help="Service counts, ascending.")
    ap.add_argument("--runner", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.runner:
        runner(args.runner)
        return 0
    sizes = sorted(int(x) for x in args.sizes.split(","))
    if any(n % len(PROCS) for n in sizes):
        raise SystemExit(f"sizes must be multiples of {len(PROCS)}")

    t_start = time.monotonic()
    print(c.machine())
    # The data plane is ticked by hand (its own loop sleeps): see settle().
    with c.scratch_database("resync") as url, c.emulator_stack(url, tick_seconds=3600) as (emu, boot):
        print(f"database {c.redact(url)}; emulator {emu.endpoint_url}")
        results: dict[int, dict] = {}
        seeded: list[str] = []
        for n in sizes:
            want = n // len(PROCS)
            new = [f"rs{i:05d}" for i in range(len(seeded), want)]
            t = time.monotonic()
            tds = seed_aws(emu, boot, new)
            seed_db(url, new, tds)
            seeded += new
            print(f"seeded {len(new) * len(PROCS)} services ({len(new)} apps) in {time.monotonic() - t:.1f} s; "
                  f"{n} in total", flush=True)
            ticks, secs = settle(emu, n)
            print(f"  data plane: {ticks} ticks ({secs:.1f} s) until all {n} services run their task", flush=True)
            rep = run_resync(url, emu.endpoint_url)
            results[n] = rep
            fresh = rep["runs"][0]
            print(f"  resync of {fresh['services']} services: {fresh['seconds']:.2f} s, "
                  f"{sum(fresh['calls'].values())} AWS calls, {fresh['statements']} DB statements, "
                  f"peak RSS {rep['peak_rss_mib']:.1f} MiB", flush=True)

        # Drift: 5 services changed outside paas.
        import boto3

        ecs = boto3.client("ecs", endpoint_url=emu.endpoint_url, region_name="us-east-1")
        step = max(1, len(seeded) // 5)
        drifted = sorted(f"{seeded[i * step]}-{PROCS[i % 2]}-blue" for i in range(5))
        for name in drifted:
            ecs.update_service(cluster=boot["cluster"], service=name, desiredCount=2)
        drift_rep = run_resync(url, emu.endpoint_url)

        # ------------------------------------------------------------------ report
        c.banner("resync cost by number of services (fresh worker process, fresh driver)")
        cols = [str(n) for n in sizes]
        w = 14

        def row(label: str, vals: list) -> None:
            print(f"{label:<42}" + "".join(f"{str(v):>{w}}" for v in vals))

        row("services", cols)
        fr = [results[n]["runs"][0] for n in sizes]
        wr = [results[n]["runs"][1] for n in sizes]
        row("apps", [n // len(PROCS) for n in sizes])
        row("resync wall time, s", [f"{r['seconds']:.2f}" for r in fr])
        row("AWS calls, total", [sum(r["calls"].values()) for r in fr])
        ops = sorted({op for r in fr + wr for op in r["calls"]})
        for op in ops:
            row(f"  {op}", [r["calls"].get(op, 0) for r in fr])
        row("ECS read calls", [ecs_reads(r["calls"]) for r in fr])
        row("ELB / CloudFormation / CloudWatch calls",
            [sum(v for k, v in r["calls"].items() if k.startswith(FORBIDDEN)) for r in fr])
        row(f"min. wall time at {DEFAULT_RPS:.0f} req/s budget, s",
            [f"{sum(r['calls'].values()) / DEFAULT_RPS:.1f}" for r in fr])
        row("DB statements", [r["statements"] for r in fr])
        row("DB commits", [r["commits"] for r in fr])
        row("drifted / missing found", [f"{len(r['drifted'])}/{len(r['missing'])}" for r in fr])
        row("worker RSS after imports, MiB", [f"{results[n]['rss_start_mib']:.1f}" for n in sizes])
        row("worker peak RSS (VmHWM), MiB", [f"{results[n]['peak_rss_mib']:.1f}" for n in sizes])

        c.banner("same process, second resync on the warm driver (a long-running worker)")
        row("services", cols)
        row("resync wall time, s", [f"{r['seconds']:.2f}" for r in wr])
        row("AWS calls, total", [sum(r["calls"].values()) for r in wr])
        for op in sorted({op for r in wr for op in r["calls"]}):
            row(f"  {op}", [r["calls"].get(op, 0) for r in wr])
        row("DB statements", [r["statements"] for r in wr])

        n_max = sizes[-1]
        c.banner(f"drift: desiredCount changed by boto3 on 5 of {n_max} services")
        got = drift_rep["runs"][0]["drifted"]
        print(f"changed:  {', '.join(drifted)}")
        print(f"resync found ({len(got)}): {', '.join(got)}")
        exact = got == drifted
        print(f"exactly those: {'yes' if exact else 'NO'}; AWS calls {sum(drift_rep['runs'][0]['calls'].values())}, "
              f"DB statements {drift_rep['runs'][0]['statements']} (adds the drift events and the queue rows)")

        big = results[n_max]["runs"][0]
        reads = ecs_reads(big["calls"])
        forbidden = sum(v for k, v in big["calls"].items() if k.startswith(FORBIDDEN))
        stmts = {r["statements"] for r in fr}
        peak = max(results[n]["peak_rss_mib"] for n in sizes)
        checks = [
            (f"ECS read calls at {n_max} services: {reads} (target <= {ECS_READ_TARGET})", reads <= ECS_READ_TARGET),
            (f"ELB / CloudFormation / CloudWatch calls: {forbidden} (target 0)", forbidden == 0),
            (f"DB statements per resync across N={','.join(cols)}: {sorted(stmts)} (target: constant)",
             len(stmts) == 1),
            (f"worker peak RSS: {peak:.1f} MiB (target <= {RSS_TARGET_MIB:.0f} MiB)", peak <= RSS_TARGET_MIB),
            ("drift found on exactly the 5 changed services", exact),
        ]
        print()
        for text, ok in checks:
            print(f"{'OK    ' if ok else 'MISSED'} {text}")
        print(f"total bench time {time.monotonic() - t_start:.0f} s")
        return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
