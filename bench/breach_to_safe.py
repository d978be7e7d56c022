"""bench/breach_to_safe: from a breaching datapoint being readable to the canary's weight at 0.
Target: <= one poll interval + 1 s.

Set-up (bench/_progressive.py): scratch database, in-process emulator with the e2e suite's
fast data-plane timings (metric period 1 s, 50 requests/s offered to each listener rule), the
`dev` environment, one in-process `Worker` (concurrency 2) with tests/e2e FAST durations except
PAAS_POLL_INTERVAL (--poll-interval, default 0.5 s, the demo's value) and PAAS_METRIC_PERIOD=1.
The image profile "*:bad*" answers 30% of requests with a 5xx
(paas.devstack.profiles.set_profile(..., error_rate=0.3)); the gate's default thresholds are
max_5xx_rate 1%, min_requests 20, min_datapoints 2.

Each repetition: a fresh web app, `paas deploy APP --image ...:1 --wait` (rolling, blue), then
`paas deploy APP --image ...:bad --strategy canary` (in-process CLI). This process then polls,
independently of the controller:
  * DescribeRules every 20 ms: when the canary's weight reads 10, and later 0 (= safe);
  * GetMetricData every 50 ms for the canary's target group (RequestCount and
    HTTPCode_Target_5XX_Count, Sum, period 1 s, StartTime = the ShiftTraffic step's time − 1
    period, as the worker's query; EndTime = now + 60 s so a datapoint is seen as soon as it is
    stored). "The breaching datapoint is readable" = the first poll at which the datapoints
    since the shift, judged by the gate's own rules (paas.planner.gate.evaluate: >= 2
    datapoints, >= 20 requests, 5xx rate > 1%), are a breach. Before that the gate can only
    say "inconclusive", whatever the 5xx rate of a single datapoint (also printed: the first
    datapoint whose own 5xx rate is over the threshold).
Reported per repetition and as medians: readable → weights 0 (the figure with the target),
plus the worker's own recorded figure (rollback_started event:
seconds_from_breach_read_to_weights_back, measured from when the worker read the breaching sample).

    .venv/bin/python bench/breach_to_safe.py [--reps 5] [--poll-interval 0.5]

Exit status 1 when the median misses the target.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _progressive as b  # noqa: E402

PERIOD = 1


def metric_query(tg_arn: str, lb_arn: str, metric: str, qid: str) -> dict:
    from paas.devstack.alb_metrics import load_balancer_dimension, target_group_dimension

    return {"Id": qid, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric,
                   "Dimensions": [{"Name": "TargetGroup", "Value": target_group_dimension(tg_arn)},
                                  {"Name": "LoadBalancer", "Value": load_balancer_dimension(lb_arn)}]},
        "Period": PERIOD, "Stat": "Sum"}}


def read_window(st: b.Stack, tg: str, begin: float) -> tuple[list, list]:
    """(requests, errors) as [(bucket start epoch, value)] since begin − 1 s, as the worker filters."""
    cw = st.client("cloudwatch")
    lb = st.load_balancer_arn()
    resp = cw.get_metric_data(
        MetricDataQueries=[metric_query(tg, lb, "RequestCount", "r"),
                           metric_query(tg, lb, "HTTPCode_Target_5XX_Count", "e")],
        StartTime=datetime.fromtimestamp(begin - PERIOD, tz=timezone.utc),
        EndTime=datetime.fromtimestamp(time.time() + 60, tz=timezone.utc), ScanBy="TimestampAscending")
    out = {"r": [], "e": []}
    for r in resp["MetricDataResults"]:
        out[r["Id"]] = [(t.timestamp(), float(v)) for t, v in zip(r["Timestamps"], r["Values"])
                        if t.timestamp() >= begin - 1]
    return out["r"], out["e"]


def judge(req: list, err: list) -> str:
    from paas.domain.manifest import StrategyDefaults
    from paas.domain.observed import MetricWindow
    from paas.planner.gate import evaluate

    w = MetricWindow(requests=sum(v for _, v in req), errors_5xx=sum(v for _, v in err), p99_ms=None,
                     datapoints=len(req), start=0.0, end=0.0, last_datapoint=None)
    return evaluate(w, None, StrategyDefaults()).verdict


def one_rep(st: b.Stack, i: int, published: list) -> dict:
    app = st.new_app("web")
    st.ok("deploy", app, "--image", b.image(app, "1"), "--wait")
    rule = st.rule(app)
    st.wait_known_good(app, 1, timeout=30)
    time.sleep(0.3)
    r = st.ok("deploy", app, "--image", b.image(app, "bad"), "--strategy", "canary", "--json")
    dep = r.json()["deployment_id"]

    # 1. the canary takes 10%
    t10, w = b.poll(lambda: (lambda w: w if 10 in w.values() else None)(st.weights(rule)), timeout=30, interval=0.02)
    if t10 is None:
        raise RuntimeError(f"canary never reached 10%: {st.weights(rule)}; {st.deployment(dep)['state']}")
    canary = next(c for c, x in w.items() if x == 10)
    tg = rule.tg[canary]
    # the step event commits with the ModifyRule's transaction, just after the call returns
    _, shift_ev = b.poll(lambda: next((e for e in st.events(dep, "step") if e["step"].startswith("ShiftTraffic")),
                                      None), timeout=10, interval=0.01)
    begin = shift_ev["t"]  # the worker's window start (dep.applied["ShiftTraffic:web:10"])

    # 2. poll metrics (50 ms) and weights (20 ms) until the canary's weight is 0
    t_breach = t_first_bad_dp = t_safe = None
    breach_bucket = None
    next_metric = 0.0
    poll_cost: list[float] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = time.monotonic()
        if t_breach is None and now >= next_metric:
            next_metric = now + 0.05
            t_call = time.time()
            req, err = read_window(st, tg, begin)
            seen = time.time()
            poll_cost.append(seen - t_call)
            ebyt = dict(err)
            if t_first_bad_dp is None and any(ebyt.get(t, 0) / v > 0.01 for t, v in req if v):
                t_first_bad_dp = seen
            if judge(req, err) == "breach":
                t_breach, breach_bucket = seen, max(t for t, _ in req + err)
        weights = st.weights(rule)
        if weights.get(canary, 0) == 0:
            t_safe = time.time()
            break
        time.sleep(0.02)
    if t_safe is None:
        raise RuntimeError(f"canary weight never returned to 0: {st.weights(rule)}")
    d = st.wait_state(dep, timeout=30)
    rb = st.events(dep, "rollback_started")
    data = rb[0]["data"] if rb else {}
    gates = st.events(dep, "gate")
    # exact readability: when the data plane stored the datapoint of the breaching bucket
    stored = next((t for t, ts in published if breach_bucket is not None and breach_bucket <= ts < breach_bucket + PERIOD),
                  None)
    return {
        "t_stored": stored, "poll_cost": b.median(poll_cost),
        "app": app, "state": d["state"], "canary": canary, "t10": t10, "begin": begin,
        "t_breach": t_breach, "t_first_bad_dp": t_first_bad_dp, "t_safe": t_safe, "breach_bucket": breach_bucket,
        "worker_figure": data.get("seconds_from_breach_read_to_weights_back"),
        "worker_dp_at": float(data["breach_datapoint_at"]) if data.get("breach_datapoint_at") else None,
        "rb_event_t": rb[0]["t"] if rb else None, "reason": rb[0]["message"] if rb else None,
        "gate_events": [(g["t"], g["data"]["gate"]["verdict"], g["data"]["gate"]["canary"].get("requests"))
                        for g in gates],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--poll-interval", type=float, default=0.5, help="PAAS_POLL_INTERVAL for the worker (s)")
    args = ap.parse_args()
    target = args.poll_interval + 1.0
    started = time.monotonic()
    b.banner("bench/breach_to_safe: breaching datapoint readable → canary weight 0")
    print(b.machine())
    with b.Stack("breach", env={"PAAS_POLL_INTERVAL": str(args.poll_interval), "PAAS_METRIC_PERIOD": str(PERIOD)}) as st:
        from paas.devstack.profiles import set_profile

        set_profile(st.emulator.profiles_path, "*:bad*", error_rate=0.3)
        print(f"PAAS_POLL_INTERVAL={args.poll_interval}s, metric period {PERIOD}s, "
              f"{st.emulator.dataplane.settings.requests_per_second:.0f} req/s per rule (canary at 10% → "
              f"{st.emulator.dataplane.settings.requests_per_second / 10:.0f} req/s), profile *:bad* error_rate 0.3")
        st_rps = st.emulator.dataplane.settings.requests_per_second
        published = st.track_publishes()
        ticks = st.track_ticks()
        st.start_worker(concurrency=2)
        reps = []
        for i in range(args.reps):
            r = one_rep(st, i, published)
            reps.append(r)
            ms = lambda x: f"{x * 1000:5.0f} ms"  # noqa: E731
            rel = lambda x: f"{x - r['begin']:+5.2f} s"  # noqa: E731
            r["readable"] = r["t_stored"] if r["t_stored"] is not None else r["t_breach"]
            r["b2s"] = r["t_safe"] - r["readable"]
            r["b2s_polled"] = r["t_safe"] - r["t_breach"]
            r["ctl_visible"] = max(r["readable"], r["breach_bucket"] + PERIOD)  # EndTime=now truncated to 1 s
            print(f"  rep {i + 1}: {r['state']:<11} readable → weight 0: {ms(r['b2s'])}   "
                  f"(seen by the bench's GetMetricData poll → weight 0: {ms(r['b2s_polled'])}, "
                  f"poll call {r['poll_cost'] * 1000:.0f} ms; worker's own figure {r['worker_figure']} s)", flush=True)
            print(f"         after the 10% shift: breaching bucket [{rel(r['breach_bucket'])}, +1 s), its datapoint "
                  f"stored {rel(r['readable'])}, visible to an EndTime=now query {rel(r['ctl_visible'])}, "
                  f"ModifyRule recorded {rel(r['rb_event_t'])}, weights read 0 {rel(r['t_safe'])}; "
                  f"first single datapoint over 1% 5xx seen {rel(r['t_first_bad_dp'])}", flush=True)
            print("         worker gate samples (s after shift: verdict, canary requests): "
                  + ", ".join(f"{t - r['begin']:.2f} {v} {q:.0f}" for t, v, q in r["gate_events"]), flush=True)

    b.banner("results")
    med = lambda k: b.median([r[k] for r in reps])  # noqa: E731
    xs = [r["b2s"] for r in reps]
    print(f"  breaching datapoint readable → canary weight 0:  median {med('b2s') * 1000:5.0f} ms "
          f"(min {min(xs) * 1000:.0f}, max {max(xs) * 1000:.0f}; n={len(xs)})   [readable = stored by the data plane]")
    print(f"  same, readable = first seen by the bench's 50 ms GetMetricData poll: median {med('b2s_polled') * 1000:5.0f} ms")
    print(f"  of which readable → visible to the worker's query (EndTime=now, truncated to the second): median "
          f"{b.median([r['ctl_visible'] - r['readable'] for r in reps]) * 1000:5.0f} ms")
    print(f"  and visible to the worker's query → weights 0 (poll wait + one pass): median "
          f"{b.median([r['t_safe'] - r['ctl_visible'] for r in reps]) * 1000:5.0f} ms")
    print(f"  worker's recorded seconds_from_breach_read_to_weights_back: median "
          f"{b.median([r['worker_figure'] for r in reps if r['worker_figure'] is not None]) * 1000:5.0f} ms "
          "(measured from the CloudWatch bucket's start, not from when the datapoint was readable)")
    print(f"  context: shift to 10% → breach readable median {b.median([r['readable'] - r['begin'] for r in reps]):.2f} s "
          f"(min_requests 20 at {st_rps / 10:.0f} req/s); first datapoint over 1% 5xx → weights 0 median "
          f"{b.median([r['t_safe'] - r['t_first_bad_dp'] for r in reps]):.2f} s")
    plain = [d for _, d, p in ticks if not p]
    pub = [d for _, d, p in ticks if p]
    print(f"  data-plane ticks (hold the emulator lock; API calls wait): {len(ticks)}, p50 {b.median(plain) * 1000:.0f} ms, "
          f"p99 {b.pct(plain, 99) * 1000:.0f} ms; ticks that publish metrics: p50 {b.median(pub) * 1000:.0f} ms, "
          f"max {max(pub) * 1000:.0f} ms")
    ok = med("b2s") <= target
    print(f"  target: <= poll interval + 1 s = {target * 1000:.0f} ms → {'MET' if ok else 'MISSED'} "
          f"(median {med('b2s') * 1000:.0f} ms)")
    print(f"  wall time {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
