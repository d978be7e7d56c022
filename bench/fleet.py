"""bench/fleet: a base-image fix reaching every app of a company at once, carried by 1, 2 and 4 workers.

    .venv/bin/python bench/fleet.py                      # quick: 40 apps, 1/2/4 workers (about 3 minutes)
    .venv/bin/python bench/fleet.py --apps 100,300,1000  # the full fleet (long on 2 cores)
    .venv/bin/python bench/fleet.py --rate-scale 10      # emulator limits and paas's budget x10
    .venv/bin/python bench/fleet.py --apps 100 --workers 1,4 --compare-own-paces
                                                         # + 4 workers each pacing on its own
    .venv/bin/python bench/fleet.py --explain            # query plans at 1,000 apps / 100,000 rows

For each fleet size N: a scratch database and the in-process emulator (moto + simulated data
plane), with the per-account API rate limits of `paas/devstack/throttle.py` in front of it
(AWS's token buckets per API family, answering HTTP 400 ThrottlingException). N apps of type
`worker` (one ECS service each: web apps would need one listener rule each, and an ALB listener
holds 100 rules by default) are created and deployed once (stacks, task definitions, services:
the "first deploy" wave, 4 workers). Then, for 1, 2 and 4 worker processes, every app gets a new
image in one burst, and the bench waits until every deployment has finished.

* The burst: `--burst-procs` processes (default 4) each run the CLI's own entry point
  `paas.cli.main.main(["deploy", APP, "--image", ..., "--json"])` in-process for their share of
  the apps (click parsing, validation, the service function, one transaction, NOTIFY): the real
  request path without paying a Python start-up per app.
* Workers: real `paas worker --concurrency C` processes (see `probe_worker`), each with
  `PAAS_AWS_RPS` = the account budget / number of workers, as on separate hosts, sharing the
  paces of throttled operations through the database (`aws_paces`, emptied before each wave);
  `--compare-own-paces` adds a wave of the largest worker count with `PAAS_AWS_SHARED_PACES=off`. `queue.claim`
  and `queue.release` are wrapped to print one line each (wall-clock time), nothing else.

Printed per wave: deploys per minute (N / (last finish - first request)), the scaling factor
from 1 to 4 workers, request -> first claim (p50 / p99), claim lateness (a due row's wait from
when it became due to its claim, p50 / p99, against the poll interval), request -> finished
(p50 / p99), AWS requests per deploy by operation and throttles (emulator side: refused by the
buckets; worker side: botocore's view), each worker's peak RSS (VmHWM) and most database
sessions (pg_stat_activity by application_name, which carries host:pid), the emulator's CPU
(this process: moto + data plane) and the workers' CPU, and fairness (apps whose request ->
finished took more than twice the median). The baseline printed beside paas: the account's
AWS budget as deploys per minute (the binding bucket's sustained rate / that family's calls
per deploy), i.e. what a perfect controller could do.

Exit status 1 when a target is missed (see TARGETS in the output).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

RSS_TARGET_MIB = 200.0
SCALE_TARGET = 3.0
SETTINGS = {
    "PAAS_POLL_INTERVAL": "2", "PAAS_STACK_POLL": "1", "PAAS_SWEEP_INTERVAL": "2", "PAAS_BAKE": "0",
    "PAAS_LEASE_TTL": "30", "PAAS_HEARTBEAT": "5", "PAAS_METRIC_PERIOD": "1", "PAAS_ROLLOUT_DEADLINE": "1800",
    "PAAS_RESYNC_INTERVAL": "86400", "PAAS_GC_INTERVAL": "86400", "PAAS_JOBS_POLL": "86400",
}


# ---------------------------------------------------------------------------------- subprocess modes
def probe_worker() -> None:
    """`paas worker`, plus one stdout line per claim and per release."""
    from paas.cli import workers
    from paas.db import queue

    real_claim, real_release = queue.claim, queue.release
    out, lock = sys.stdout, threading.Lock()

    def emit(d: dict) -> None:
        with lock:
            out.write(json.dumps(d) + "\n")
            out.flush()

    def claim(db, owner, ttl, limit=1):  # noqa: ANN001
        got = real_claim(db, owner, ttl, limit)
        t = time.time()
        for cl in got:
            emit({"ev": "claim", "key": cl.key, "t": t})
        return got

    def release(db, cl, after, *, ok, error=None):  # noqa: ANN001
        r = real_release(db, cl, after, ok=ok, error=error)
        emit({"ev": "release", "key": cl.key, "t": time.time(), "after": after})
        return r

    queue.claim, queue.release = claim, release
    workers._start(int(os.environ["BENCH_CONCURRENCY"]), False, None, "warning")
    from paas.aws import accounting

    snap = accounting.snapshot()
    hwm = c_vm("VmHWM")
    emit({"ev": "exit", "calls": snap["calls"], "throttles": snap["throttles"], "hwm_mib": hwm})


def c_vm(field: str, pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def burst_client() -> None:
    """The CLI's entry point, in-process, once per line of stdin: `APP IMAGE`."""
    from paas.cli.main import main

    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 2:
            continue
        main(["deploy", parts[0], "--image", parts[1], "-e", "dev", "-m", "base image fix", "--json"])
        sys.stdout.flush()


# ---------------------------------------------------------------------------------- helpers
def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return float("nan")


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Worker:
    def __init__(self, env: dict, idx: int, logdir: Path) -> None:
        self.out_path = logdir / f"worker-{idx}.out"
        self.err = open(logdir / f"worker-{idx}.err", "w")
        self.out = open(self.out_path, "w")
        self.p = subprocess.Popen([sys.executable, __file__, "--probe-worker"], env=env, stdout=self.out,
                                  stderr=self.err, cwd=str(c.ROOT))
        self.max_sessions = 0
        self.max_rss = 0.0
        self.hwm = float("nan")
        self.cpu = float("nan")

    def stop(self) -> None:
        self.hwm = c_vm("VmHWM", self.p.pid)
        self.cpu = proc_cpu(self.p.pid)
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.out.close()
        self.err.close()

    def lines(self) -> list[dict]:
        out = []
        for line in self.out_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out


def sessions_by_pid(db) -> dict[int, int]:  # noqa: ANN001
    """Database sessions per worker process (application_name 'paas-worker host:pid', 'paas-listen ...',
    'paas-paces ...')."""
    rows = db.all("SELECT application_name AS a, count(*) AS n FROM pg_stat_activity "
                  "WHERE application_name LIKE 'paas-worker %' OR application_name LIKE 'paas-listen %' "
                  "OR application_name LIKE 'paas-paces %' GROUP BY 1")
    out: Counter[int] = Counter()
    for r in rows:
        try:
            out[int(r.a.rsplit(":", 1)[1])] += r.n
        except (ValueError, IndexError):
            pass
    return dict(out)


def wait_for(cond, timeout: float, what: str, step: float = 0.5) -> None:  # noqa: ANN001
    t = time.monotonic() + timeout
    while time.monotonic() < t:
        if cond():
            return
        time.sleep(step)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def burst(env: dict, apps: list[str], image_tag: str, procs: int) -> float:
    """Deploy every app in one burst from `procs` CLI processes; returns seconds the burst took."""
    chunks = [apps[i::procs] for i in range(procs)]
    t = time.monotonic()
    ps = [subprocess.Popen([sys.executable, __file__, "--burst-client"], env=env, stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=str(c.ROOT))
          for _ in chunks]
    for p, chunk in zip(ps, chunks):
        p.stdin.write("".join(f"{a} registry.example.com/{a}:{image_tag}\n" for a in chunk))
        p.stdin.close()
    for p in ps:
        err = p.stderr.read()
        if p.wait() != 0:
            raise SystemExit(f"burst client failed: {err[-2000:]}")
    return time.monotonic() - t


# ---------------------------------------------------------------------------------- one wave
def wave(url: str, emu, log, limits, env: dict, apps: list[str], n_workers: int, concurrency: int,  # noqa: ANN001
         account_rps: float, image_tag: str, burst_procs: int, logdir: Path, timeout: float,
         shared: bool = True) -> dict:
    from paas.db.sql import connect

    wenv = {**env, "PAAS_AWS_RPS": f"{account_rps / n_workers:g}", "BENCH_CONCURRENCY": str(concurrency),
            "PAAS_AWS_SHARED_PACES": "on" if shared else "off"}
    db = connect(url, "paas-bench")
    db.conn.autocommit = True
    db.execute("DELETE FROM aws_paces")  # every wave learns its paces afresh, as new processes do
    workers = [Worker(wenv, i, logdir) for i in range(n_workers)]
    try:
        pids = {w.p.pid for w in workers}
        wait_for(lambda: pids <= set(sessions_by_pid(db)), 120, "workers to connect")
        t_mark = db.scalar("SELECT now()")
        log.reset()
        limits.take_counts()
        cpu0, t0 = self_cpu(), time.monotonic()
        stop_sampling = threading.Event()

        def sample() -> None:
            sdb = connect(url, "paas-bench-sampler")
            sdb.conn.autocommit = True
            while not stop_sampling.wait(1.0):
                try:
                    s = sessions_by_pid(sdb)
                except Exception:
                    continue
                for w in workers:
                    w.max_sessions = max(w.max_sessions, s.get(w.p.pid, 0))
                    w.max_rss = max(w.max_rss, c_vm("VmRSS", w.p.pid))
            sdb.close()

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        burst_secs = burst(env, apps, image_tag, burst_procs)

        def done() -> bool:
            return db.scalar("SELECT count(*) FROM deployments WHERE created_at >= %(t)s AND finished_at IS NOT NULL",
                             t=t_mark) >= len(apps)

        wait_for(done, timeout, f"{len(apps)} deployments to finish", step=1.0)
        wall = time.monotonic() - t0
        paces = [dict(r) for r in db.all("SELECT operation, round(rate::numeric, 3)::float8 AS rate, throttles, "
                                          "slow_start FROM aws_paces ORDER BY 1")]
        emu_cpu = self_cpu() - cpu0
        stop_sampling.set()
        sampler.join()
        rows = db.all(
            """
            SELECT d.app_id || ':' || d.environment_id AS key, d.state,
                   extract(epoch FROM d.created_at)::float8 AS req, extract(epoch FROM d.finished_at)::float8 AS fin
              FROM deployments d WHERE d.created_at >= %(t)s
            """, t=t_mark)
    finally:
        for w in workers:
            if w.p.poll() is None:
                w.stop()
        db.close()
    aws = log.take().get("paas", {})
    allowed, throttled = limits.take_counts()
    events = [ln for w in workers for ln in w.lines()]
    worker_calls: Counter[str] = Counter()
    worker_throttles: Counter[str] = Counter()
    for ln in events:
        if ln["ev"] == "exit":
            worker_calls.update(ln["calls"])
            worker_throttles.update(ln["throttles"])
    # request -> first claim, and claim lateness (claim - (release + after)) for requeued rows
    req = {r.key: r.req for r in rows}
    first_claim: dict[str, float] = {}
    last_release: dict[str, tuple[float, float]] = {}
    lateness: list[float] = []
    for ln in sorted((e for e in events if e["ev"] in ("claim", "release")), key=lambda e: e["t"]):
        k = ln["key"]
        if ln["ev"] == "claim":
            if k in req and k not in first_claim and ln["t"] >= req[k] - 0.5:
                first_claim[k] = ln["t"]
            if k in last_release:
                rt, after = last_release.pop(k)
                lateness.append(max(0.0, ln["t"] - (rt + after)))
        else:
            last_release[k] = (ln["t"], ln["after"])
    claim_wait = [first_claim[k] - req[k] for k in first_claim]
    to_finish = [r.fin - r.req for r in rows]
    med = c.median(to_finish)
    span = max(r.fin for r in rows) - min(r.req for r in rows)
    return {
        "workers": n_workers, "shared": shared, "paces": paces, "apps": len(rows), "states": dict(Counter(r.state for r in rows)),
        "burst_s": burst_secs, "span_s": span, "per_min": len(rows) / span * 60, "wall_s": wall,
        "claim_p50": c.median(claim_wait), "claim_p99": c.pct(claim_wait, 99), "claimed": len(claim_wait),
        "late_p50": c.median(lateness), "late_p99": c.pct(lateness, 99), "late_n": len(lateness),
        "fin_p50": med, "fin_p99": c.pct(to_finish, 99), "fin_max": max(to_finish),
        "unfair": sum(1 for x in to_finish if x > 2 * med),
        "aws": aws, "allowed": allowed, "throttled": throttled,
        "worker_calls": dict(worker_calls), "worker_throttles": dict(worker_throttles),
        "rss": [w.hwm for w in workers], "sessions": [w.max_sessions for w in workers],
        "worker_cpu": [w.cpu for w in workers], "emu_cpu_pct": emu_cpu / wall * 100,
    }


def budget_baseline(limits, allowed: dict[str, int], n: int, account_rps: float) -> tuple[float, str]:  # noqa: ANN001
    """Deploys per minute the account's budget allows for this wave: the calls AWS served (not the
    throttled attempts), per bucket, need at least max(0, calls - burst) / rate seconds; the
    slowest bucket (or paas's own budget over all calls) sets the pace of a perfect controller."""
    from paas.devstack.throttle import family

    fam_calls: Counter[str] = Counter()
    for op, k in allowed.items():
        svc, _, name = op.partition(":")
        fam_calls[family(svc, name)] += k
    secs, why = sum(allowed.values()) / account_rps, f"paas budget {account_rps:g} req/s"
    for fam, k in fam_calls.items():
        if fam in limits.limits:
            burst, rate = limits.limits[fam]
            t = max(0.0, k - burst) / rate
            if t > secs:
                secs, why = t, f"{fam}: {k} calls, {burst:g} burst + {rate:g}/s"
    return n / max(secs, 1e-9) * 60, why


# ---------------------------------------------------------------------------------- main
def run_size(n: int, args) -> dict:  # noqa: ANN001
    from paas.cli.main import main as cli_main
    from paas.devstack.throttle import RateLimits, ThrottledApp

    apps = [f"fl{i:04d}" for i in range(n)]
    out: dict = {"n": n, "waves": []}
    with c.scratch_database("fleet") as url, c.emulator_stack(url) as (emu, boot), \
            tempfile.TemporaryDirectory(prefix="paas-fleet-") as tmp:
        limits = RateLimits.parse(args.rates, args.rate_scale) if not args.no_limits else RateLimits({})
        ThrottledApp.install(emu, limits)
        log = c.RequestLog.install(emu)
        env = {**os.environ, **c.DUMMY_AWS, **SETTINGS, "PAAS_DATABASE_URL": url,
               "AWS_ENDPOINT_URL": emu.endpoint_url, "PAAS_ENV": "dev", "PAAS_ACTOR": "fleet@bench",
               "PAAS_HOME": str(Path(tmp) / "home")}
        env.pop("PAAS_AWS_FAULTS", None)
        os.environ.update({k: env[k] for k in ("PAAS_DATABASE_URL", "PAAS_ACTOR", "PAAS_HOME")})
        t = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()):
            for a in apps:
                cli_main(["apps", "create", a, "--type", "worker", "--json"])
        print(f"\n[{n} apps] created in {time.monotonic() - t:.1f} s (CLI in-process)", flush=True)
        account_rps = args.account_rps * args.rate_scale
        first = wave(url, emu, log, limits, env, apps, max(args.workers), args.concurrency, account_rps, "1",
                     args.burst_procs, Path(tmp), args.timeout)
        print(f"[{n} apps] first deploy (stacks + services), {first['workers']} workers: "
              f"{first['per_min']:.1f} deploys/min, states {first['states']}", flush=True)
        out["first"] = first
        for i, w in enumerate(args.workers):
            r = wave(url, emu, log, limits, env, apps, w, args.concurrency, account_rps, str(i + 2),
                     args.burst_procs, Path(tmp), args.timeout)
            print(f"[{n} apps] {w} worker(s): {r['per_min']:.1f} deploys/min, claim p99 {r['claim_p99']:.1f} s, "
                  f"throttled {sum(r['throttled'].values())}, emulator CPU {r['emu_cpu_pct']:.0f}%, "
                  f"states {r['states']}", flush=True)
            out["waves"].append(r)
        if args.compare_own_paces:
            w = max(args.workers)
            r = wave(url, emu, log, limits, env, apps, w, args.concurrency, account_rps,
                     str(len(args.workers) + 2), args.burst_procs, Path(tmp), args.timeout, shared=False)
            print(f"[{n} apps] {w} worker(s), each on its own paces: {r['per_min']:.1f} deploys/min, "
                  f"throttled {sum(r['throttled'].values())}, states {r['states']}", flush=True)
            out["waves"].append(r)
        out["limits"] = limits.limits
        out["account_rps"] = account_rps
    return out


def report(res: dict, args) -> list[tuple[str, bool]]:  # noqa: ANN001
    from paas.devstack.throttle import RateLimits

    n = res["n"]
    waves = res["waves"]
    c.banner(f"fleet of {n} apps: image update to every app in one burst")
    w = 14

    def row(label: str, vals: list) -> None:
        print(f"{label:<44}" + "".join(f"{str(v):>{w}}" for v in vals))

    row("worker processes", [f"{r['workers']}{'' if r['shared'] else ' (own)'}" for r in waves])
    row("throttled operations paced", ["shared" if r["shared"] else "per worker" for r in waves])
    row("paas AWS budget per worker, req/s", [f"{res['account_rps'] / r['workers']:g}" for r in waves])
    row("deployments (succeeded)", [f"{r['apps']} ({r['states'].get('succeeded', 0)})" for r in waves])
    row("burst (CLI) wall time, s", [f"{r['burst_s']:.1f}" for r in waves])
    row("deploys per minute", [f"{r['per_min']:.1f}" for r in waves])
    row("request -> first claim p50, s", [f"{r['claim_p50']:.1f}" for r in waves])
    row("request -> first claim p99, s", [f"{r['claim_p99']:.1f}" for r in waves])
    row("claim lateness p50 (due -> claimed), s", [f"{r['late_p50']:.2f}" for r in waves])
    row("claim lateness p99, s", [f"{r['late_p99']:.2f}" for r in waves])
    row("request -> finished p50, s", [f"{r['fin_p50']:.1f}" for r in waves])
    row("request -> finished p99, s", [f"{r['fin_p99']:.1f}" for r in waves])
    row("apps finished > 2x median (fairness)", [r["unfair"] for r in waves])
    row("AWS requests per deploy (emulator)", [f"{sum(r['aws'].values()) / r['apps']:.1f}" for r in waves])
    ops = sorted({op for r in waves for op in r["aws"]})
    for op in ops:
        row(f"  {op}", [f"{r['aws'].get(op, 0) / r['apps']:.2f}" for r in waves])
    row("throttled by the emulator (400s)", [sum(r["throttled"].values()) for r in waves])
    for op in sorted({op for r in waves for op in r["throttled"]}):
        row(f"  {op}", [r["throttled"].get(op, 0) for r in waves])
    row("throttles seen by workers (botocore)", [sum(r["worker_throttles"].values()) for r in waves])
    for op in sorted({p["operation"] for r in waves for p in r["paces"]}):
        row(f"  shared pace at the end: {op.split(':')[-1]}, req/s",
            [next((f"{p['rate']:g}" for p in r["paces"] if p["operation"] == op), "-") for r in waves])
    row("worker peak RSS, MiB (each)", ["/".join(f"{x:.0f}" for x in r["rss"]) for r in waves])
    row("worker DB sessions, max (each)", ["/".join(str(x) for x in r["sessions"]) for r in waves])
    row("worker CPU, s (each)", ["/".join(f"{x:.0f}" for x in r["worker_cpu"]) for r in waves])
    row("emulator CPU (moto + data plane), % core", [f"{r['emu_cpu_pct']:.0f}" for r in waves])
    limits = RateLimits(res["limits"])
    last = [r for r in waves if r["shared"]][-1]
    base, why = budget_baseline(limits, last["allowed"], last["apps"], res["account_rps"])
    print(f"\nbaseline, the account's AWS budget for this wave: {base:.1f} deploys/min ({why})")
    by = {r["workers"]: r for r in waves if r["shared"]}
    own = [r for r in waves if not r["shared"]]
    for r in own:
        print(f"{r['workers']} workers each pacing on its own: {r['per_min']:.1f} deploys/min "
              f"({r['per_min'] / base * 100:.0f}% of the budget); sharing the paces: "
              f"{by[r['workers']]['per_min']:.1f} ({by[r['workers']]['per_min'] / base * 100:.0f}%)"
              if r["workers"] in by else "")
    checks: list[tuple[str, bool]] = []
    if 1 in by and 4 in by:
        f = by[4]["per_min"] / by[1]["per_min"]
        at_budget = by[4]["per_min"] >= 0.8 * base
        print(f"scaling 1 -> 4 workers: {f:.2f}x (4 workers at {by[4]['per_min'] / base * 100:.0f}% of the budget)")
        checks.append((f"[{n}] throughput 1 -> 4 workers {f:.2f}x (target >= {SCALE_TARGET:g}x, or at the budget)",
                       f >= SCALE_TARGET or at_budget))
    poll = float(SETTINGS["PAAS_POLL_INTERVAL"])
    worst_late = max(r["late_p99"] for r in waves)
    checks.append((f"[{n}] claim lateness p99 {worst_late:.2f} s (target < poll interval {poll:g} s)", worst_late < poll))
    peak = max(x for r in waves for x in r["rss"])
    checks.append((f"[{n}] worker peak RSS {peak:.0f} MiB (target <= {RSS_TARGET_MIB:.0f})", peak <= RSS_TARGET_MIB))
    sess = {x for r in waves for x in r["sessions"]}
    checks.append((f"[{n}] DB sessions per worker, max {max(sess)} over waves (target: bounded by "
                   f"2 x (concurrency + 2) + 1 = {2 * (args.concurrency + 2) + 1})",
                   max(sess) <= 2 * (args.concurrency + 2) + 1))
    ok_states = all(r["states"].get("succeeded", 0) == r["apps"] for r in waves)
    checks.append((f"[{n}] every deployment succeeded", ok_states))
    return checks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apps", default="40", help="Fleet sizes, comma separated (e.g. 100,300,1000).")
    ap.add_argument("--workers", default="1,2,4", help="Worker process counts, comma separated.")
    ap.add_argument("--concurrency", type=int, default=4, help="Reconcile threads per worker process (paas worker's default).")
    ap.add_argument("--account-rps", type=float, default=20.0,
                    help="paas's AWS budget for the account (req/s), split evenly over the workers.")
    ap.add_argument("--rates", default="", help="Emulator limits over the defaults: FAMILY=BURST/RATE,...")
    ap.add_argument("--rate-scale", type=float, default=1.0,
                    help="Multiply the emulator's limits and --account-rps (what a raised quota would allow).")
    ap.add_argument("--no-limits", action="store_true", help="No emulator rate limits.")
    ap.add_argument("--burst-procs", type=int, default=4, help="CLI processes sending the burst.")
    ap.add_argument("--timeout", type=float, default=1800.0, help="Seconds a wave may take.")
    ap.add_argument("--explain", action="store_true", help="Print the query plans at scale instead (bench/plans.py).")
    ap.add_argument("--compare-own-paces", action="store_true",
                    help="Also run the largest worker count with each worker pacing on its own (PAAS_AWS_SHARED_PACES=off).")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--probe-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--burst-client", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe_worker:
        probe_worker()
        return 0
    if args.burst_client:
        burst_client()
        return 0
    if args.explain:
        import plans

        return plans.main([])
    # SIGTERM (timeout, kill): unwind, so workers are stopped and the scratch database dropped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.workers = [int(x) for x in args.workers.split(",")]
    sizes = [int(x) for x in args.apps.split(",")]
    print(c.machine())
    print(f"settings: {' '.join(f'{k}={v}' for k, v in SETTINGS.items())}; worker concurrency {args.concurrency}; "
          f"paas account budget {args.account_rps * args.rate_scale:g} req/s; emulator limits x{args.rate_scale:g}"
          f"{' (off)' if args.no_limits else ''}")
    t0 = time.monotonic()
    results = [run_size(n, args) for n in sizes]
    checks = []
    for res in results:
        checks += report(res, args)
    if args.json:
        print(json.dumps(results, default=str))
    print()
    for text, ok in checks:
        print(f"{'OK    ' if ok else 'MISSED'} {text}")
    print(f"total bench time {time.monotonic() - t0:.0f} s")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
