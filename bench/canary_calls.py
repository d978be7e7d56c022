"""bench/canary_calls: AWS calls per canary deployment, by operation.

Set-up (bench/_progressive.py): scratch database, in-process emulator (e2e fast data-plane
timings, 50 requests/s per listener rule, metric period 1 s), the `dev` environment, and the
Worker in this process, so `paas.aws.accounting` (process-wide counts of every API call paas's
boto3 clients make, by IAM-style operation) sees all of its calls. The CLI makes none.
Durations: the demo's (paas/devstack/up.py DEMO_DURATIONS: PAAS_POLL_INTERVAL=0.5,
PAAS_BAKE=3, PAAS_METRIC_PERIOD=1) with the e2e suite's for the rest; --poll-interval and
--bake override. Default canary steps 10 → 100, default gate thresholds.

Two deployments, each on its own app that already runs v1 (rolling, known-good, worker idle):
  * healthy: `paas deploy APP --image ...:2 --strategy canary --wait` → succeeded (10 → 100);
  * rolled back: the image's profile answers 30% 5xx → breach at 10% → rolled_back.
Counts are reset just before the CLI call and read when the deployment reaches its final
state (the later bake-to-known-good pass of the steady app is not included). Phases are split
at the moments this process reads the canary's weight change (DescribeRules every 20 ms from
a plain boto3 client, which the accounting does not count; checked at start-up).

Per reconcile pass: the worker's `reconcile_once` is wrapped to take the process-wide counts
before and after each pass (one worker thread, one app in flight, so each delta is that pass's
calls). A *gate sample* is a pass that read the canary's metrics (GetMetricData) and sent no
mutating request; the script prints how many calls each cost, by operation.

    .venv/bin/python bench/canary_calls.py [--poll-interval 0.5] [--bake 3]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _progressive as b  # noqa: E402


READ_PREFIXES = ("Describe", "Get", "List")
PASSES: list[dict[str, int]] = []  # calls of each reconcile pass, in order (see install_pass_counter)


def install_pass_counter() -> None:
    """Wrap the worker's reconcile_once to record each pass's calls (before any Worker starts)."""
    import paas.reconciler.worker as worker_module
    from paas.aws import accounting

    real = worker_module.reconcile_once

    def counted(*args, **kwargs):
        before = accounting.snapshot()["calls"]
        try:
            return real(*args, **kwargs)
        finally:
            after = accounting.snapshot()["calls"]
            PASSES.append({k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)})

    worker_module.reconcile_once = counted


def is_gate_sample(calls: dict[str, int]) -> bool:
    return bool(calls.get("cloudwatch:GetMetricData")) and all(
        op.split(":", 1)[1].startswith(READ_PREFIXES) for op in calls)


def run_canary(st: b.Stack, image_tag: str) -> dict:
    from paas.aws import accounting

    app = st.new_app("web")
    st.ok("deploy", app, "--image", b.image(app, "1"), "--wait")
    rule = st.rule(app)
    st.wait_known_good(app, 1, timeout=30)
    time.sleep(0.5)  # the known-good pass has released the app: nothing in flight, nothing due
    passes0 = sum(w.passes for w, _ in st.workers)

    phases: list[tuple[str, dict]] = []
    stop = threading.Event()

    def watch() -> None:  # split the count where the canary's weight changes
        last = None
        while not stop.is_set():
            w = st.weights(rule)
            key = tuple(sorted(w.items()))
            if last is not None and key != last:
                phases.append((f"{dict(last)} → {dict(key)}", accounting.snapshot()["calls"]))
            last = key
            stop.wait(0.02)

    accounting.reset()
    first_pass = len(PASSES)
    t0 = time.monotonic()
    th = threading.Thread(target=watch, daemon=True)
    th.start()
    r = st.cli("deploy", app, "--image", b.image(app, image_tag), "--strategy", "canary", "--json")
    if r.code != 0:
        stop.set()
        raise RuntimeError(f"paas deploy exited {r.code}: {r.err}")
    dep = r.json()["deployment_id"]
    d = st.wait_state(dep, timeout=90, interval=0.01)
    snap = accounting.snapshot()
    took = time.monotonic() - t0
    stop.set()
    th.join(timeout=5)
    passes = sum(w.passes for w, _ in st.workers) - passes0
    gates = st.events(dep, "gate")
    traffic = [e["data"]["percent"] for e in st.events(dep, "traffic")]
    samples = [c for c in PASSES[first_pass:] if is_gate_sample(c)]
    return {"app": app, "state": d["state"], "calls": snap["calls"], "throttles": snap["throttles"],
            "seconds": took, "passes": passes, "gate_samples": len(gates), "traffic": traffic,
            "phases": phases, "samples": samples}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--poll-interval", type=float, default=0.5)
    ap.add_argument("--bake", type=float, default=3.0)
    args = ap.parse_args()
    started = time.monotonic()
    b.banner("bench/canary_calls: AWS calls per canary deployment, by operation")
    print(b.machine())
    env = {"PAAS_POLL_INTERVAL": str(args.poll_interval), "PAAS_BAKE": str(args.bake), "PAAS_METRIC_PERIOD": "1"}
    with b.Stack("canarycalls", env=env) as st:
        from paas.aws import accounting
        from paas.devstack.profiles import set_profile

        set_profile(st.emulator.profiles_path, "*:bad*", error_rate=0.3)
        print(f"PAAS_POLL_INTERVAL={args.poll_interval}s PAAS_BAKE={args.bake}s PAAS_METRIC_PERIOD=1s; "
              f"steps 10,100; {st.emulator.dataplane.settings.requests_per_second:.0f} req/s per rule")
        install_pass_counter()
        st.start_worker(concurrency=1)  # one pass at a time: each pass's calls are its own
        # the bench's own boto3 clients are not counted
        warm = st.new_app("web")
        st.ok("deploy", warm, "--image", b.image(warm, "1"), "--wait")
        st.wait_known_good(warm, 1)
        time.sleep(0.5)
        accounting.reset()
        st.weights(st.rule(warm))
        assert accounting.snapshot()["calls"] == {}, accounting.snapshot()

        runs = {"healthy": run_canary(st, "2"), "rolled back": run_canary(st, "bad")}

    b.banner("results")
    for name, r in runs.items():
        print(f"  {name}: deployment {r['state']} (traffic steps {r['traffic']}), {r['seconds']:.1f} s, "
              f"{r['passes']} reconcile passes, {len(r['samples'])} gate samples "
              f"({r['gate_samples']} gate events), "
              f"{sum(r['calls'].values())} AWS calls, throttled {sum(r['throttles'].values())}")
        prev: dict = {}
        for label, snap in r["phases"]:
            delta = {k: v - prev.get(k, 0) for k, v in snap.items() if v - prev.get(k, 0)}
            print(f"      calls until weights read {label.split(' → ')[1]}: {sum(delta.values())}")
            prev = snap
        rest = {k: v - prev.get(k, 0) for k, v in r["calls"].items() if v - prev.get(k, 0)}
        print(f"      calls after that until the deployment finished: {sum(rest.values())}")
    print()
    b.print_calls_table({name: r["calls"] for name, r in runs.items()})
    print("\n  one gate sample = a reconcile pass that read the canary's metrics and changed nothing:")
    for name, r in runs.items():
        totals = sorted(sum(c.values()) for c in r["samples"])
        ops = sorted({op for c in r["samples"] for op in c})
        by_op = ", ".join(f"{op} {b.median([c.get(op, 0) for c in r['samples']]):g}" for op in ops)
        if totals:
            print(f"    {name}: {len(totals)} samples, calls per sample median {b.median(totals):g}, "
                  f"max {totals[-1]} (median by operation: {by_op})")
    print(f"  wall time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
