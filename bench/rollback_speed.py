"""bench/rollback_speed: from `paas rollback` (previous colour running) to the listener weights
flipped, with a worker running. Target: p50 <= 1 s. Beside it: a rolling redeploy of the
previous release on the same stack.

Set-up (bench/_progressive.py): a scratch database, the in-process emulator with the e2e
suite's fast data-plane timings, the `dev` environment, one in-process `Worker`
(concurrency 2) with tests/e2e FAST durations (PAAS_POLL_INTERVAL=0.2 etc.).

Blue-green app: `deploy v1 --strategy blue-green --wait`, `deploy v2 --strategy blue-green
--wait`, then N rollbacks back and forth (v3 copies v1 on the previous colour, v4 copies v2
on the other one, ...): every rollback finds the previous colour still running, so it is one
ModifyRule. Each sample starts once the worker is idle (last release known-good, then a short
random gap), with t0 taken just before the CLI starts, and ends when a DescribeRules from this
process (polled every 20 ms, independent of the controller) reads the weights flipped.
The CLI runs two ways, reported separately:
  * `proc`: the real console script `.venv/bin/paas rollback APP --json` as a child process
    (includes interpreter start-up and imports, ~0.15-0.2 s idle; this sandbox sets
    PYTHONDONTWRITEBYTECODE=1, so the child gets a bytecode cache under the scratch directory
    as a normal install would have; --no-bytecode-cache keeps the sandbox's setting);
  * `inproc`: `paas.cli.main.main(["rollback", APP, "--json"])` in this process.

Rolling app (default strategy): deploy v1, v2, then M redeploys of the previous image with
`paas deploy APP --image <previous> --strategy rolling --wait` as a child process, timed
(a) to the deployment reading `succeeded` in the database (polled every 20 ms) and (b) to the
`--wait` process exiting (it polls every 0.3 s). The emulator's ECS is fast (tasks healthy in
~0.3 s, steady after 0.2 s), so this rolling figure is a floor: on AWS a rolling update takes
minutes (health-check grace, deregistration delay), the weight flip does not.

    .venv/bin/python bench/rollback_speed.py [--samples 10] [--rolling-samples 5] [--no-bytecode-cache]

Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _progressive as b  # noqa: E402

TARGET_P50 = 1.0


def flip_sample(st: b.Stack, app: str, rule: b.Rule, mode: str) -> dict:
    before = st.weights(rule)
    tds_before = st.db.scalar("SELECT jsonb_object_agg(t.family || ':' || t.task_version, t.arn) "
                              "FROM task_definitions t JOIN apps a ON a.id = t.app_id WHERE a.name = %(a)s", a=app)
    live = max(before, key=before.get)
    t0 = time.time()
    if mode == "proc":
        p = subprocess.Popen([str(b.PAAS_BIN), "rollback", app, "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=st.child_env(), cwd=st.tmp.name)
        t_flip, w = b.poll(lambda: (lambda w: w if w.get(live, 100) == 0 else None)(st.weights(rule)),
                           timeout=30, interval=0.02)
        out, err = p.communicate(timeout=30)
        t_cli = None  # the child's exit is not timed precisely (we were polling)
        if p.returncode != 0:
            raise RuntimeError(f"paas rollback exited {p.returncode}: {err.strip()}")
    else:
        r = st.cli("rollback", app, "--json")
        t_cli = time.time()
        if r.code != 0:
            raise RuntimeError(f"paas rollback exited {r.code}: {r.err.strip()}")
        out = r.out
        t_flip, w = b.poll(lambda: (lambda w: w if w.get(live, 100) == 0 else None)(st.weights(rule)),
                           timeout=30, interval=0.02)
    if t_flip is None:
        raise RuntimeError(f"weights never flipped away from {live}: {st.weights(rule)}")
    req = json.loads(out)
    dep_id = req["deployment_id"]
    d = st.wait_state(dep_id, timeout=30)
    if d["state"] != "succeeded":
        raise RuntimeError(f"rollback deployment {dep_id} {d['state']}: {d['error']}")
    ev = st.events(dep_id)
    first = {}
    for e in ev:
        first.setdefault(e["kind"] if e["kind"] != "step" else e["step"].split(":")[0], e["t"])
    mutating = [e["step"] for e in ev if e["kind"] == "step"]
    return {
        "mode": mode, "release": req["release_version"], "from": live, "weights": w,
        "flip": t_flip - t0, "cli_return": (t_cli - t0) if t_cli else None,
        "requested": first.get("requested", t0) - t0, "started": first.get("started", t0) - t0,
        "shift_step": first.get("ShiftTraffic", t0) - t0, "finished": first.get("finished", t0) - t0,
        "aws_steps": mutating, "tds_before": tds_before,
    }


def settle(st: b.Stack, app: str, version: int) -> None:
    st.wait_known_good(app, version, timeout=30)
    time.sleep(random.uniform(0.3, 0.6))  # the worker's known-good pass is released, then idle


def rolling_sample(st: b.Stack, app: str, img: str) -> dict:
    t0 = time.time()
    p = subprocess.Popen([str(b.PAAS_BIN), "deploy", app, "--image", img, "--strategy", "rolling", "--wait"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=st.child_env(),
                         cwd=st.tmp.name)
    # the deployment id: the newest deployment of the app once the CLI has committed
    last = st.latest_deployment(app)["id"]
    t_new, dep = b.poll(lambda: (lambda d: d if d["id"] != last else None)(st.latest_deployment(app)),
                        timeout=30, interval=0.02)
    if dep is None:
        raise RuntimeError("no deployment appeared")
    t_done, d = b.poll(lambda: (lambda d: d if d["state"] in ("succeeded", "failed", "rolled_back") else None)(
        st.deployment(dep["id"])), timeout=60, interval=0.02)
    p.communicate(timeout=60)
    t_exit = time.time()
    if d is None or d["state"] != "succeeded" or p.returncode != 0:
        raise RuntimeError(f"rolling redeploy {dep['id']}: {d and d['state']} exit {p.returncode}")
    return {"converged": t_done - t0, "wait_exit": t_exit - t0, "dep": dep["id"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=10, help="rollbacks per CLI mode (default 10)")
    ap.add_argument("--rolling-samples", type=int, default=5, help="rolling redeploys (default 5)")
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="run the `paas` child with this sandbox's PYTHONDONTWRITEBYTECODE=1 (compiles on every start)")
    args = ap.parse_args()
    started = time.monotonic()

    b.banner("bench/rollback_speed: `paas rollback` → listener weights flipped")
    print(b.machine())
    with b.Stack("rollback") as st:
        print(f"database {st.db_url.split('@')[-1]}; emulator {st.emulator.endpoint_url}; "
              f"PAAS_POLL_INTERVAL={st.env['PAAS_POLL_INTERVAL']}s PAAS_BAKE={st.env['PAAS_BAKE']}s "
              f"PAAS_SWEEP_INTERVAL={st.env['PAAS_SWEEP_INTERVAL']}s")
        st.bytecode_cache = not args.no_bytecode_cache
        st.cli_proc("rollback", "no-such-app")  # warm the child's bytecode cache (fails: no such app)
        print(f"`paas` child process: {b.PAAS_BIN}, bytecode cache "
              f"{'on (PYTHONPYCACHEPREFIX under the scratch dir)' if st.bytecode_cache else 'off (PYTHONDONTWRITEBYTECODE=1)'}")
        st.start_worker(concurrency=2)

        # --- blue-green: v1, v2, then rollbacks back and forth -------------------------------
        app = st.new_app("web")
        st.ok("deploy", app, "--image", b.image(app, "1"), "--strategy", "blue-green", "--wait")
        st.ok("deploy", app, "--image", b.image(app, "2"), "--strategy", "blue-green", "--wait")
        rule = st.rule(app)
        settle(st, app, 2)
        samples = []
        modes = ["proc", "inproc"] * args.samples
        for i, mode in enumerate(modes):
            s = flip_sample(st, app, rule, mode)
            samples.append(s)
            print(f"  {i + 1:>2} {mode:<6} v{s['release']:<3} {s['from']:>5} → off   flip {s['flip'] * 1000:6.0f} ms"
                  f"   (events: requested +{s['requested'] * 1000:.0f}, started +{s['started'] * 1000:.0f}, "
                  f"ModifyRule +{s['shift_step'] * 1000:.0f}, finished +{s['finished'] * 1000:.0f} ms)"
                  f"   AWS steps {s['aws_steps']}", flush=True)
            if len(s["aws_steps"]) != 1:
                print(f"       not a single weight flip; task-definition cache before the rollback: {s['tds_before']}")
            settle(st, app, s["release"])

        # --- rolling: v1, v2, then redeploys of the previous image --------------------------
        rapp = st.new_app("web")
        st.ok("deploy", rapp, "--image", b.image(rapp, "1"), "--wait")
        st.ok("deploy", rapp, "--image", b.image(rapp, "2"), "--wait")
        settle(st, rapp, 2)
        rolling = []
        for i in range(args.rolling_samples):
            img = b.image(rapp, "1" if i % 2 == 0 else "2")
            r = rolling_sample(st, rapp, img)
            rolling.append(r)
            print(f"  rolling {i + 1}: redeploy {img.rsplit(':', 1)[-1]} converged {r['converged'] * 1000:6.0f} ms, "
                  f"--wait exited {r['wait_exit'] * 1000:6.0f} ms", flush=True)
            settle(st, rapp, st.db.scalar("SELECT max(version) FROM releases r JOIN apps a ON a.id = r.app_id "
                                          "WHERE a.name = %(a)s", a=rapp))

    # --- report ----------------------------------------------------------------------------
    b.banner("results")
    flips = {m: [s["flip"] for s in samples if s["mode"] == m] for m in ("proc", "inproc")}
    for m, xs in flips.items():
        print(f"  rollback → weights flipped, CLI {m:<6}: p50 {b.median(xs) * 1000:6.0f} ms   "
              f"min {min(xs) * 1000:5.0f}  max {max(xs) * 1000:5.0f} ms   (n={len(xs)})")
    single = all(s["aws_steps"] == [s["aws_steps"][0]] and s["aws_steps"][0].startswith("ShiftTraffic")
                 for s in samples)
    print(f"  every rollback was one AWS step (ShiftTraffic = one ModifyRule): {single}")
    parts = [("`requested` event (CLI's tx start)", "requested"), ("`started` (worker claimed)", "started"),
             ("ModifyRule step (tx start)", "shift_step"), ("`finished`", "finished")]
    for m in ("proc", "inproc"):
        print(f"    CLI {m}: " + ", ".join(
            f"{label} +{b.median([s[k] for s in samples if s['mode'] == m]) * 1000:.0f}" for label, k in parts)
            + f", weights read flipped +{b.median(flips[m]) * 1000:.0f} ms (medians from CLI start)")
    conv = [r["converged"] for r in rolling]
    waits = [r["wait_exit"] for r in rolling]
    print(f"  rolling redeploy of the previous image → deployment succeeded: p50 {b.median(conv) * 1000:6.0f} ms "
          f"(min {min(conv) * 1000:.0f}, max {max(conv) * 1000:.0f}; n={len(conv)})")
    print(f"  rolling redeploy with --wait, process exit:                  p50 {b.median(waits) * 1000:6.0f} ms")
    p50 = b.median(flips["proc"])
    print(f"  ratio rolling / rollback flip (p50, proc CLI): {b.median(conv) / p50:5.1f}×"
          f"   (in-process CLI: {b.median(conv) / b.median(flips['inproc']):.1f}×)")
    ok = p50 <= TARGET_P50
    print(f"  target: p50 <= {TARGET_P50 * 1000:.0f} ms with the real `paas` process → "
          f"{'MET' if ok else 'MISSED'} ({p50 * 1000:.0f} ms)")
    print(f"  wall time {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
