"""bench/chaos_soak: workers SIGKILLed and SIGSTOPped at random while deploys of every strategy run.

    .venv/bin/python bench/chaos_soak.py [--duration 600] [--workers 3] [--apps 8] [--seed 1]
                                         [--settle 180] [--json]

For `--duration` seconds, `--apps` apps receive requests (rolling, blue-green and canary
deploys, crash-looping and error-returning images, config changes, scales, rollbacks, aborts)
from `paas` processes, while `--workers` `paas worker` processes are SIGKILLed (and restarted)
or SIGSTOPped (frozen 2-20 s, often longer than their lease, then continued) at random. Then
every worker runs undisturbed for up to `--settle` seconds and the script prints:

* deployments, by final state; kills and freezes;
* rescues (a lease taken over after its holder died or froze);
* stuck: deployments still pending or in progress after the settle time;
* duplicate steps: a step recorded twice for one deployment;
* stale AWS requests: requests refused by the send guard because the worker's lease may have
  expired (each one a request that would have reached AWS without it), and mutating requests
  the emulator served that no recorded step accounts for (a SIGKILL between a call and its
  record leaves one; the next pass observes what it did);
* end-state mismatches: apps whose services, task definitions, counts or listener weights on
  the emulator differ from the release the database says is live.

Exit status 1 when anything is stuck, duplicated or mismatched. The database is a scratch one on
PAAS_DATABASE_URL's server (else the embedded PostgreSQL); the emulator runs in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, RequestLog, banner, emulator_stack, machine, scratch_database  # noqa: E402

# Short durations so a soak of minutes covers many deployments; the lease is long enough that a
# loaded two-core machine still renews it, short enough that frozen workers lose it often.
SETTINGS = {
    "PAAS_POLL_INTERVAL": "0.3", "PAAS_STACK_POLL": "0.2", "PAAS_BAKE": "1", "PAAS_ROLLOUT_DEADLINE": "90",
    "PAAS_SWEEP_INTERVAL": "0.5", "PAAS_LEASE_TTL": "10", "PAAS_HEARTBEAT": "2", "PAAS_METRIC_PERIOD": "1",
    "PAAS_RESYNC_INTERVAL": "20", "PAAS_AWS_RPS": "100", "PAAS_GC_INTERVAL": "3600",
}
MUTATING = ("CreateStack", "UpdateStack", "DeleteStack", "ContinueUpdateRollback", "RegisterTaskDefinition",
            "DeregisterTaskDefinition", "CreateService", "UpdateService", "DeleteService", "ModifyRule")


class Workers:
    """`paas worker` processes, each with its own log; killed, frozen, continued, restarted."""

    def __init__(self, n: int, env: dict[str, str], logdir: Path) -> None:
        self.env, self.logdir = env, logdir
        self.procs: list[subprocess.Popen | None] = [None] * n
        self.frozen: dict[int, float] = {}  # slot → real time to continue at
        self.kills = self.freezes = 0
        self.starts = 0
        for i in range(n):
            self.start(i)

    def start(self, i: int) -> None:
        self.starts += 1
        log = open(self.logdir / f"worker-{self.starts}.log", "w")
        self.procs[i] = subprocess.Popen([sys.executable, "-m", "paas.cli.main", "worker", "--concurrency", "2"],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))

    def kill(self, i: int) -> None:
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            self.kills += 1
        self.frozen.pop(i, None)
        self.start(i)

    def freeze(self, i: int, seconds: float) -> None:
        p = self.procs[i]
        if p is not None and p.poll() is None and i not in self.frozen:
            p.send_signal(signal.SIGSTOP)
            self.frozen[i] = time.monotonic() + seconds
            self.freezes += 1

    def thaw_due(self, everything: bool = False) -> None:
        for i, at in list(self.frozen.items()):
            if everything or time.monotonic() >= at:
                p = self.procs[i]
                if p is not None:
                    p.send_signal(signal.SIGCONT)
                del self.frozen[i]

    def revive(self) -> None:
        for i, p in enumerate(self.procs):
            if p is None or p.poll() is not None:
                self.start(i)

    def stop(self) -> None:
        self.thaw_due(everything=True)
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            if p is not None:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()

    def logs(self) -> str:
        return "".join(f.read_text(errors="replace") for f in sorted(self.logdir.glob("worker-*.log")))


def paas(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paas.cli.main", *args], env=env, capture_output=True, text=True,
                          input=stdin, cwd=str(ROOT), timeout=120)


REQUESTS = [  # (weight, name)
    (4, "rolling"), (3, "blue-green"), (3, "canary"), (1, "crash"), (1, "bad-canary"),
    (2, "config"), (1, "scale"), (1, "rollback"), (1, "abort"),
]


EXAMPLES: dict[str, str] = {}  # (request, outcome) → one refusal message, for the report


def request(env: dict[str, str], app: str, kind: str, n: int) -> str:
    args = {
        "rolling": ["deploy", app, "--image", f"shop:{n}"],
        "blue-green": ["deploy", app, "--image", f"shop:{n}", "--strategy", "blue-green"],
        "canary": ["deploy", app, "--image", f"shop:{n}", "--strategy", "canary", "--steps", "50,100"],
        "crash": ["deploy", app, "--image", f"shop:crash-{n}"],
        "bad-canary": ["deploy", app, "--image", f"shop:bad-{n}", "--strategy", "canary", "--steps", "50,100"],
        "config": ["config", "set", app, f"N={n}"],
        "scale": ["scale", app, f"web={1 + n % 2}"],
        "rollback": ["rollback", app],
        "abort": ["abort", app],
    }[kind]
    r = paas(env, *args)
    if r.returncode == 0:
        return "ok"
    why = (r.stderr.strip().splitlines() or [""])[-1].removeprefix("paas: ")
    EXAMPLES.setdefault(f"{kind} exit {r.returncode}", why[:100])
    return f"exit {r.returncode}"


def load(env: dict[str, str], apps: list[str], until: float, rng: random.Random, tally: Counter) -> None:
    kinds = [k for w, k in REQUESTS for _ in range(w)]
    n = 1000
    while time.monotonic() < until:
        n += 1
        app, kind = rng.choice(apps), rng.choice(kinds)
        tally[(kind, request(env, app, kind, n))] += 1
        time.sleep(rng.uniform(0.2, 1.0))


def chaos(workers: Workers, until: float, rng: random.Random) -> None:
    while time.monotonic() < until:
        time.sleep(rng.uniform(1.0, 4.0))
        workers.thaw_due()
        i = rng.randrange(len(workers.procs))
        if rng.random() < 0.5:
            workers.kill(i)
        else:
            workers.freeze(i, rng.uniform(2.0, 20.0))
    workers.thaw_due(everything=True)


def end_state(db, drv, cluster: str) -> list[str]:
    """Apps whose AWS side differs from the live release: task definition, count, weights."""
    from paas.db import state
    from paas.domain.specs import COLOURS, family, service_name

    mismatches = []
    rows = db.all("SELECT a.id, a.name, l.release_id, l.environment_id FROM paas_live_releases l "
                  "JOIN apps a ON a.id = l.app_id")
    for r in rows:
        rel = state.releases(db, [r.release_id])[r.release_id]
        tds = state.task_definitions(db, r.id, r.environment_id)
        obs = db.scalar("SELECT data FROM observations WHERE app_id = %(a)s AND environment_id = %(e)s",
                        a=r.id, e=r.environment_id) or {}
        from paas.planner.desired import reusable_task_version

        version = reusable_task_version(rel.formation, rel.source_version, rel.source_formation) or rel.version
        for proc, f in rel.formation.items():
            want_td = tds.get(f"{family(r.name, 'dev', proc)}:{version}")
            names = [service_name(r.name, proc, c) for c in COLOURS]
            svcs = drv.describe_services(cluster, names)
            serving = [s for s in svcs.values() if s.status == "ACTIVE" and s.desired > 0
                       and s.task_definition == want_td]
            if not serving:
                mismatches.append(f"{r.name} {proc}: no service runs v{rel.version} ({want_td})")
                continue
            if not any(s.desired == int(f.get("count", 0)) for s in serving):
                mismatches.append(f"{r.name} {proc}: desired {[s.desired for s in serving]}, want {f.get('count')}")
            p = (obs.get("processes") or {}).get(proc) or {}
            rule, tgs = p.get("rule_arn"), p.get("target_groups") or {}
            if rule:
                weights = drv.rule_weights([rule]).get(rule, {})
                colour = next(c for c in COLOURS if service_name(r.name, proc, c) == serving[0].name)
                if weights.get(tgs.get(colour), 0) != 100:
                    mismatches.append(f"{r.name} {proc}: weights {weights}, want {colour} 100%")
    return mismatches


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--apps", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--settle", type=float, default=180.0)
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout (the figures only)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    import logging
    import tempfile

    logging.basicConfig(level=logging.ERROR)
    for name in ("paas", "werkzeug", "botocore", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    out = sys.stderr if args.json else sys.stdout
    with scratch_database("chaos") as db_url, emulator_stack(db_url) as (emu, boot), \
            tempfile.TemporaryDirectory(prefix="paas-chaos-") as tmp:
        from paas.devstack.profiles import set_profile

        log = RequestLog.install(emu)
        os.environ["AWS_ENDPOINT_URL"] = emu.endpoint_url  # this process reads the end state through paas's driver
        set_profile(emu.profiles_path, "*:crash*", crash_loop=True)
        set_profile(emu.profiles_path, "*:bad*", error_rate=0.4)
        env = {**os.environ, **SETTINGS, "PAAS_DATABASE_URL": db_url, "AWS_ENDPOINT_URL": emu.endpoint_url,
               "PAAS_ENV": "dev", "PAAS_ACTOR": "chaos@bench", "PAAS_HOME": str(Path(tmp) / "home"),
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        apps = [f"c{i}" for i in range(args.apps)]
        for a in apps:
            assert paas(env, "apps", "create", a).returncode == 0
        print(f"chaos soak: {args.duration:.0f}s, {args.workers} workers, {args.apps} apps, seed {args.seed}; "
              f"{machine()}", file=out, flush=True)
        workers = Workers(args.workers, env, Path(tmp))
        tally: Counter = Counter()
        until = time.monotonic() + args.duration
        loaders = [threading.Thread(target=load, args=(env, apps, until, random.Random(rng.random()), tally))
                   for _ in range(2)]
        for t in loaders:
            t.start()
        chaos(workers, until, rng)
        for t in loaders:
            t.join()
        workers.revive()

        from paas.db.sql import connect

        db = connect(db_url, "paas-chaos")
        db.conn.autocommit = True
        settle_start = time.monotonic()
        while time.monotonic() - settle_start < args.settle:
            if not db.scalar("SELECT count(*) FROM deployments WHERE state IN ('pending', 'in_progress')"):
                break
            time.sleep(0.5)
        settled_in = time.monotonic() - settle_start
        workers.stop()

        states = {r.state: r.n for r in db.all("SELECT state, count(*) AS n FROM deployments "
                                               "GROUP BY state ORDER BY state")}
        stuck = [r.id for r in db.all("SELECT id FROM deployments WHERE state IN ('pending', 'in_progress')")]
        dups = [(r.deployment_id, r.step, r.n) for r in db.all(
            "SELECT deployment_id, step, count(*) AS n FROM deployment_events WHERE kind = 'step' "
            "GROUP BY deployment_id, step HAVING count(*) > 1")]
        recorded = Counter(r.op.split(":", 1)[1] for r in db.all(
            "SELECT data->>'operation' AS op FROM deployment_events WHERE kind IN ('step', 'drift', 'gc') "
            "AND data ? 'operation'"))
        served = Counter()
        for (client, op), n in log.counts.items():
            name = op.split(":", 1)[1]
            if client == "paas" and name in MUTATING:
                served[name] += n
        logs = workers.logs()
        refused = logs.count("not sent")
        rescues = logs.count("rescued an expired lease")
        from paas.reconciler.drivers import driver_for
        from paas.db.catalog import find_env

        mismatches = end_state(db, driver_for(find_env(db, "dev")), boot["cluster"])
        unrecorded = {op: served[op] - recorded.get(op, 0) for op in sorted(served) if served[op] > recorded.get(op, 0)}
        figures = {
            "duration_s": args.duration, "workers": args.workers, "apps": args.apps,
            "requests": {f"{k} {v}": n for (k, v), n in sorted(tally.items())},
            "refusals": dict(sorted(EXAMPLES.items())),
            "deployments": sum(states.values()), "by_state": states,
            "kills": workers.kills, "freezes": workers.freezes, "rescues": rescues,
            "settled_in_s": round(settled_in, 1), "stuck": len(stuck), "stuck_ids": stuck[:20],
            "duplicate_steps": len(dups), "duplicates": dups[:20],
            "stale_requests_refused": refused, "mutating_requests_served": sum(served.values()),
            "mutating_requests_unrecorded": unrecorded,
            "end_state_mismatches": len(mismatches), "mismatches": mismatches[:20],
        }
        db.close()
    banner("chaos soak")
    for k, v in figures.items():
        print(f"  {k:32} {v}", file=out)
    if args.json:
        print(json.dumps(figures))
    bad = figures["stuck"] or figures["duplicate_steps"] or figures["end_state_mismatches"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
