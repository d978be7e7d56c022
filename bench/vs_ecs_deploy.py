"""bench/vs_ecs_deploy: the same rolling deploy by `ecs deploy` (ecs-deploy) and by `paas deploy --wait`.

One emulator (moto + simulated data plane) and one real `paas worker` subprocess, in one run.
For every run two fresh web apps (2 tasks each, behind the ALB) are set up identically by
paas (`paas deploy --wait` of v1, then waiting until v1 is known-good, so the worker is idle).
Then, interleaved:

* ecs-deploy: `ecs deploy paas-dev <app>-web-blue --image web <new image> --timeout 120`
  (it registers a new task-definition revision copied from the service's, updates the
  service, polls every --sleep-time=1 s until one deployment is left and the new revision's
  tasks are RUNNING, and deregisters the old revision);
* paas: `paas deploy <app> --image <new image> --wait` (the CLI writes the request; the idle
  worker claims it, ensures the stack, registers the task definition, updates the service,
  polls every PAAS_POLL_INTERVAL=1 s until the rollout is COMPLETED, running = desired and
  the targets are healthy; the CLI follows the database and exits on `succeeded`).

Wall time: from starting the command's process to its exit (both exit 0 when converged).
AWS calls: counted on the emulator's side for both, every HTTP request (a retried call counts
per attempt), attributed by User-Agent (paas's boto3 clients add "paas"), in the window
of each command. ecs-deploy reaches the emulator through AWS_ENDPOINT_URL, which its
boto3/botocore honour natively (checked at start: it fails loudly otherwise).

A paas worker remembers what it saw of an app under its own continuous lease for
PAAS_OBSERVE_MAX_AGE seconds (paas/reconciler/memo.py). A deploy in production usually arrives
long after the app's last pass, so by default the worker keeps it for 3 s and each paas deploy
starts 4 s after the app's last pass: its first pass reads everything (stack, services, rules),
its later passes reuse what did not change. `--observe-max-age 60 --paas-idle 0` measures a
deploy that follows the app's last pass within the product default of 60 s.

    .venv/bin/python bench/vs_ecs_deploy.py [--runs 3] [--observe-max-age 3] [--paas-idle 4]

Medians over the runs, AWS requests by operation for both tools. Exit status 1 when either
tool fails to converge.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

OBSERVE_MAX_AGE = 3.0
WORKER_ENV = {
    "PAAS_POLL_INTERVAL": "1", "PAAS_STACK_POLL": "1", "PAAS_BAKE": "1", "PAAS_ROLLOUT_DEADLINE": "120",
    "PAAS_RESYNC_INTERVAL": "3600",
    # PAAS_AWS_RPS, PAAS_SWEEP_INTERVAL, PAAS_LEASE_TTL, PAAS_HEARTBEAT: product defaults
}
MANIFEST = """\
[processes.web]
port = 8080
count = 2

[routing]
paths = ["/{app}/*"]
"""


def timed(cmd: list[str], env: dict, log: Path) -> tuple[float, int]:
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        t = time.perf_counter()
        p = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=str(log.parent), timeout=300)
        return time.perf_counter() - t, p.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--observe-max-age", type=float, default=OBSERVE_MAX_AGE,
                    help="the worker's PAAS_OBSERVE_MAX_AGE (how long it reuses what it saw)")
    ap.add_argument("--paas-idle", type=float, default=None,
                    help="seconds between the app's last pass and each paas deploy (default: a second "
                         "past --observe-max-age, so the deploy's first pass reads everything afresh)")
    args = ap.parse_args()
    if args.paas_idle is None:
        args.paas_idle = args.observe_max_age + 1

    bindir = Path(sys.executable).parent
    paas, ecs = str(bindir / "paas"), str(bindir / "ecs")
    for exe in (paas, ecs):
        if not os.path.exists(exe):
            raise SystemExit(f"{exe} not found: `.venv/bin/pip install -e '.[dev]'` (ecs-deploy is a dev extra)")
    ver = subprocess.run([sys.executable, "-m", "pip", "show", "ecs-deploy"], capture_output=True, text=True).stdout
    ecs_version = next((ln.split(":", 1)[1].strip() for ln in ver.splitlines() if ln.startswith("Version:")), "?")

    t_start = time.monotonic()
    print(c.machine())
    work = Path(tempfile.mkdtemp(prefix="paas-bench-vs-"))
    with c.scratch_database("vs") as url, c.emulator_stack(url) as (emu, boot):
        reqlog = c.RequestLog.install(emu)
        print(f"database {c.redact(url)}; emulator {emu.endpoint_url}; ecs-deploy {ecs_version}; "
              f"logs in {work}")
        env = {**os.environ, **c.DUMMY_AWS, **WORKER_ENV, "PAAS_OBSERVE_MAX_AGE": f"{args.observe_max_age:g}",
               "PAAS_DATABASE_URL": url, "PAAS_ENV": "dev",
               "AWS_ENDPOINT_URL": emu.endpoint_url, "PAAS_ACTOR": "bench@bench", "PAAS_HOME": str(work / "home")}
        env.pop("PAAS_AWS_FAULTS", None)
        worker = subprocess.Popen([paas, "worker", "--concurrency", "2"], env=env, cwd=str(work),
                                  stdout=open(work / "worker.log", "w"), stderr=subprocess.STDOUT)
        cli_log = work / "commands.log"
        results = {"ecs-deploy": [], "paas": []}
        try:
            from paas.db.sql import connect

            db = connect(url, "paas-bench")
            db.conn.autocommit = True

            def wait_known_good(app: str, timeout: float = 90.0) -> None:
                """Latest release known-good, no lease held, and the app's work item not due for a
                minute (its steady duties, garbage collection included, are done)."""
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    r = db.one(
                        """
                        SELECT r.known_good_at IS NOT NULL AS kg,
                               (SELECT count(*) FROM work_queue w WHERE w.lease_owner IS NOT NULL) AS leased,
                               (SELECT w.run_after > now() + interval '60 seconds' FROM work_queue w
                                 WHERE w.app_id = a.id) AS idle
                          FROM releases r JOIN apps a ON a.id = r.app_id
                         WHERE a.name = %(a)s ORDER BY r.version DESC LIMIT 1
                        """, a=app)
                    if r and r.kg and r.leased == 0 and r.idle:
                        return
                    time.sleep(0.1)
                raise SystemExit(f"{app}: latest release not known-good within {timeout:.0f}s (see {work})")

            def last_pass_age(app: str) -> float:
                """Seconds since the worker last released the app's work item."""
                return float(db.scalar(
                    "SELECT EXTRACT(EPOCH FROM now() - w.updated_at) FROM work_queue w JOIN apps a ON a.id = w.app_id"
                    " WHERE a.name = %(a)s", a=app) or 0.0)

            # Set-up: both tools update a service that paas created, identical for both.
            apps = [(f"ed{i}", f"pd{i}") for i in range(args.runs)]
            for pair in apps:
                for app in pair:
                    _, rc = timed([paas, "apps", "create", app], env, cli_log)
                    if rc:
                        raise SystemExit(f"paas apps create {app} failed; see {cli_log}")
                    (work / f"{app}.toml").write_text(MANIFEST.format(app=app))
                    _, rc = timed([paas, "deploy", app, "--image", f"registry.example.com/{app}:1",
                                      "--manifest", str(work / f"{app}.toml"), "--wait"], env, cli_log)
                    if rc:
                        raise SystemExit(f"set-up deploy of {app} v1 failed; see {cli_log}")
            for pair in apps:
                for app in pair:
                    wait_known_good(app)
            print(f"set-up: {2 * args.runs} web apps at v1 (2 tasks each) deployed by paas", flush=True)

            # ecs-deploy must reach the emulator through AWS_ENDPOINT_URL.
            probe = subprocess.run(
                [sys.executable, "-c",
                 "from ecs_deploy.ecs import EcsClient; c = EcsClient(region='us-east-1');"
                 "print(c.boto.meta.endpoint_url)"], env=env, capture_output=True, text=True)
            if probe.stdout.strip() != emu.endpoint_url:
                raise SystemExit(f"ecs-deploy's ECS client does not use AWS_ENDPOINT_URL: {probe.stdout or probe.stderr}")
            print(f"ecs-deploy's boto3 client endpoint: {probe.stdout.strip()} (AWS_ENDPOINT_URL honoured natively)")

            for i, (ed, pd) in enumerate(apps):
                order = [("ecs-deploy", ed), ("paas", pd)] if i % 2 == 0 else [("paas", pd), ("ecs-deploy", ed)]
                for tool, app in order:
                    image = f"registry.example.com/{app}:2"
                    if tool == "ecs-deploy":
                        cmd = [ecs, "deploy", boot["cluster"], f"{app}-web-blue", "--image", "web", image,
                               "--timeout", "120", "--region", "us-east-1"]
                    else:
                        cmd = [paas, "deploy", app, "--image", image, "--wait"]
                        wait = args.paas_idle - last_pass_age(app)
                        if wait > 0:
                            time.sleep(wait)  # the idle time before a deploy is the point, not a wait for a condition
                    reqlog.reset()
                    secs, rc = timed(cmd, env, cli_log)
                    calls = reqlog.take()
                    mine = calls.get("other" if tool == "ecs-deploy" else "paas", {})
                    foreign = calls.get("paas" if tool == "ecs-deploy" else "other", {})
                    if rc:
                        raise SystemExit(f"{tool} run {i + 1} failed (exit {rc}); see {cli_log}")
                    results[tool].append({"seconds": secs, "calls": mine, "foreign": foreign})
                    print(f"  run {i + 1} {tool:<10} {secs:6.2f} s  {sum(mine.values()):4d} AWS requests"
                          + (f"  (other client in window: {sum(foreign.values())})" if foreign else ""), flush=True)
                    # Between commands: paas's bake/known-good pass must not leak into the next window.
                    if tool == "paas":
                        wait_known_good(app)
            # The service really runs the new image under both tools.
            ecs_client = emu.client("ecs")
            for ed, pd in apps:
                for app in (ed, pd):
                    s = ecs_client.describe_services(cluster=boot["cluster"], services=[f"{app}-web-blue"])["services"][0]
                    td = ecs_client.describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
                    img = td["containerDefinitions"][0]["image"]
                    if not img.startswith(f"registry.example.com/{app}:2") or s["runningCount"] != 2:
                        raise SystemExit(f"{app}: service runs {img} x{s['runningCount']} after the deploy")
            db.close()
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()

        # ------------------------------------------------------------------ report
        c.banner(f"rolling deploy of a new image, 2 tasks behind the ALB: median of {args.runs} runs each")
        med = {}
        for tool, runs in results.items():
            secs = [r["seconds"] for r in runs]
            totals = [sum(r["calls"].values()) for r in runs]
            med[tool] = (c.median(secs), c.median(totals))
            print(f"{tool:<12} wall time median {c.median(secs):6.2f} s (runs: "
                  f"{', '.join(f'{s:.2f}' for s in secs)}); AWS requests median {c.median(totals):.0f} "
                  f"(runs: {', '.join(str(t) for t in totals)})")
        print()
        ops = sorted({op for runs in results.values() for r in runs for op in r["calls"]})
        print(f"{'AWS requests by operation (median)':<48}{'ecs-deploy':>12}{'paas':>12}")
        for op in ops:
            vals = [c.median([r["calls"].get(op, 0) for r in results[t]]) for t in ("ecs-deploy", "paas")]
            print(f"  {op:<46}" + "".join(f"{v:>12g}" for v in vals))
        print(f"  {'total':<46}{med['ecs-deploy'][1]:>12g}{med['paas'][1]:>12g}")
        (es, ec), (ps, pc) = med["ecs-deploy"], med["paas"]
        print(f"\npaas / ecs-deploy: wall time {ps / es:.2f}x ({ps - es:+.2f} s), "
              f"AWS requests {pc / ec:.2f}x ({pc - ec:+.0f})")
        print("Both poll AWS once per second (ecs-deploy --sleep-time 1, PAAS_POLL_INTERVAL=1); paas's CLI "
              "follows the database every 0.3 s. paas also checks the infrastructure stack, target health and "
              "listener weights, and records every step; ecs-deploy checks task states only.")
        print(f"Each paas deploy started at least {args.paas_idle:g} s after the app's last pass; the worker "
              f"reuses what it saw for PAAS_OBSERVE_MAX_AGE={args.observe_max_age:g} s.")
        print(f"total bench time {time.monotonic() - t_start:.0f} s")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
