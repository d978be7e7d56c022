"""bench/notify_delivery: what the outbox costs, next to what it does without one.

1. Enqueue, on the deployment-write path: `paas.db.notifications.enqueue` inside a transaction
   that writes one row (standing in for the deployment's state change) and its commit, for an
   app with no target (the common case: one statement, no row) and with one target (one row),
   against the baseline of the same transaction without the call.
2. Delivery: one notification claimed, signed, POSTed to a local http.server receiver and
   recorded (`Deliverer.run_once` with one due row), against the baseline of the bare urllib
   POST of the same body to the same receiver (no database at all).

Prints medians (and p90) in milliseconds and the ratios to the baselines.

    PAAS_DATABASE_URL=postgresql://root@127.0.0.1/postgres .venv/bin/python bench/notify_delivery.py [--samples 300]
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _common as c  # noqa: E402

from tests.receiver import Receiver  # noqa: E402


def _ms(samples: list[float]) -> str:
    return f"median {c.median(samples) * 1000:7.2f} ms   p90 {c.pct(samples, 90) * 1000:7.2f} ms"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=300)
    args = ap.parse_args()

    from paas.db import notifications as n
    from paas.db.engine import make_engine
    from paas.db.sql import connect
    from paas.reconciler.notify import Deliverer
    from paas.service.catalog import create_app, create_env
    from paas.settings import NotifySettings

    rx = Receiver()
    with c.scratch_database("notify") as url:
        db = connect(url)
        env = create_env(db, "bench", "us-east-1", "c1")
        quiet = create_app(db, "quiet")
        loud = create_app(db, "loud")
        n.add_target(db, app_id=loud.id, environment_id=None, store_environment_id=env.id, fmt="json",
                     events=("deploy_started",), url_param="/paas/notify/loud/t/url",
                     secret_param="/paas/notify/loud/t/signing-secret", url_display="http://127.0.0.1/…",
                     actor="bench")
        db.commit()

        c.banner("enqueue inside the deployment's transaction (ms per transaction)")
        base, none, one = [], [], []
        payload = {"release": 1, "deployment_id": 1, "image": "shop:1", "reason": None}
        for _ in range(args.samples):
            for app, out in ((None, base), (quiet, none), (loud, one)):
                t0 = time.perf_counter()
                # stands in for the state change the notification reports: one row written
                db.execute("UPDATE environments SET resync_after = now() WHERE id = %(i)s", i=env.id)
                if app is not None:
                    n.enqueue(db, app_id=app.id, environment_id=env.id, event="deploy_started", payload=payload)
                db.commit()
                out.append(time.perf_counter() - t0)
        print(f"  baseline (no enqueue)      {_ms(base)}")
        print(f"  enqueue, no target         {_ms(none)}   ratio {c.median(none) / c.median(base):.2f}")
        print(f"  enqueue, one target        {_ms(one)}   ratio {c.median(one) / c.median(base):.2f}")
        db.execute("DELETE FROM notify_outbox")
        db.commit()

        c.banner("one delivery: claim, sign, POST, record (ms per notification)")
        engine = make_engine(url, pool_size=2)
        s = NotifySettings()
        dl = Deliverer(engine, "bench", s, resolve=lambda d: (rx.url, "whsec_bench-secret-0123456789"))
        body = b'{"event":"deploy_started","app":"loud"}'
        bare, full = [], []
        for _ in range(args.samples):
            t0 = time.perf_counter()
            req = urllib.request.Request(rx.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                resp.read()
            bare.append(time.perf_counter() - t0)

            n.enqueue(db, app_id=loud.id, environment_id=env.id, event="deploy_started", payload=payload)
            db.commit()
            t0 = time.perf_counter()
            assert dl.run_once() == 1
            full.append(time.perf_counter() - t0)
        delivered = db.scalar("SELECT count(*) FROM notify_outbox WHERE state = 'delivered'")
        print(f"  bare urllib POST           {_ms(bare)}")
        print(f"  outbox delivery            {_ms(full)}   ratio {c.median(full) / c.median(bare):.2f}")
        print(f"  delivered {delivered} of {args.samples}; receiver saw {len(rx.requests)} requests "
              f"({args.samples} bare + {delivered} delivered)")
        engine.dispose()
        db.close()
    rx.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
