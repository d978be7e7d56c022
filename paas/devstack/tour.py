"""`make demo`: a scripted tour of paas on the local stack, in about a minute.

Starts a throwaway stack (embedded Postgres in a temporary directory unless PAAS_DATABASE_URL
is set, the AWS emulator with its simulated ECS data plane, two workers), then runs the real
`paas` CLI as a user would: deploy, config change, a crash-looping release that is rolled
back, canaries judged by their metrics, a release phase (migrations before any service changes,
and one that fails without changing anything), one-off tasks with `paas run`, the SQL an
operator types to see it all; then a delivery pipeline: an ECR push that reaches production on
its own, one whose tests fail, one that the production canary takes out at 10%.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")

HISTORY_SQL = """SELECT deployment_id AS deployment, release_version AS release, image, strategy, state,
       rolled_back_to_version AS back_to, actor, round(extract(epoch FROM duration)::numeric, 1) AS seconds
  FROM paas_deploy_history
 WHERE app = 'shop'
 ORDER BY created_at DESC;"""

RUNS_SQL = """SELECT run_id, kind, release_version AS release, command, actor, state, exit_code,
       round(extract(epoch FROM duration)::numeric, 1) AS seconds
  FROM paas_task_runs
 WHERE app = 'shop'
 ORDER BY created_at;"""

PIPELINE_MANIFEST = """app = "cart"

[strategy]
min_requests = 5

[pipeline]
repository = "cart"                 # the ECR repository CI pushes to
tags = "main-*"                     # which pushes count
test_command = "pytest -q tests/integration"
test_timeout = "2m"

[[pipeline.stages]]
environment = "staging"
strategy = "rolling"
soak = "3s"                         # known-good this long in staging before production may have it

[[pipeline.stages]]
environment = "production"
strategy = "canary"
canary_steps = [10, 100]
"""

PROMOTIONS_SQL = """SELECT promotion_id AS id, tag, environment AS stage, 'v' || release_version AS release,
       check_state AS tests, deployment_state AS deployment, upstream_environment AS after,
       to_char(upstream_known_good_at, 'HH24:MI:SS') AS "known-good at",
       jsonb_path_query_array(gate_readings, '$[*].verdict') AS gate
  FROM paas_promotions WHERE app = 'cart' ORDER BY promotion_id;"""

MANIFEST = """[processes.web]
port = 8080

[release]
command = "manage migrate --noinput"
"""

EVIDENCE_SQL = """SELECT e.deployment_id AS deployment, e.kind, e.data->'gate'->>'verdict' AS verdict,
       e.data->'gate'->'canary'->>'requests' AS requests,
       e.data->'gate'->'canary'->>'errors_5xx' AS "5xx",
       round((e.data->'gate'->'canary'->>'p99_ms')::numeric) AS p99_ms, e.message
  FROM deployment_events e JOIN deployments d ON d.id = e.deployment_id
 WHERE d.strategy = 'canary' AND e.kind IN ('gate', 'traffic', 'rollback_started', 'finished')
 ORDER BY e.id;"""

# how each column of the two queries gives way on a narrow terminal (paas.cli.table)
GIVE_WAY = {"image": {"image": True}, "actor": {"floor": 8, "drop": 2}, "strategy": {"drop": 1},
            "message": {"floor": 24}, "seconds": {"drop": 3}}


def say(text: str) -> None:
    print(f"\n{BOLD}== {text}{RESET}", flush=True)


def run(env: dict, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    print(f"{BOLD}$ paas {' '.join(shlex.quote(a) for a in args)}{RESET}", flush=True)
    p = subprocess.run([sys.executable, "-m", "paas.cli.main", *args], env=env, text=True,
                       stdout=sys.stdout, stderr=sys.stdout)
    if p.returncode != expect:
        print(f"(exit code {p.returncode}, expected {expect})", flush=True)
        raise SystemExit(1)
    return p


def sql(db_url: str, query: str, title: str) -> None:
    from paas.cli.table import Col, print_table
    from paas.db.sql import connect

    print(f"{BOLD}{title}{RESET}\n{DIM}{query}{RESET}", flush=True)
    db = connect(db_url)
    try:
        rows = db.all(query)
    finally:
        db.close()
    if rows:
        cols = [Col(k, **GIVE_WAY.get(k, {"keep": True})) for k in rows[0].keys()]
        print_table(cols, [list(r.values()) for r in rows])


def main() -> None:
    from paas.devstack.dataplane import DataPlaneSettings
    from paas.devstack.up import DEMO_DURATIONS, DevStack

    t0 = time.monotonic()
    for k, v in DEMO_DURATIONS.items():
        os.environ.setdefault(k, v)
    os.environ.setdefault("PAAS_BAKE", "2")
    with tempfile.TemporaryDirectory(prefix="paas-tour-") as tmp:
        home = Path(tmp)
        os.environ["PAAS_HOME"] = str(home)
        from paas.reconciler import logs

        logs.setup("ERROR")
        say("Starting the local stack (embedded Postgres, AWS emulator, simulated ECS data plane, workers)")
        stack = DevStack(home, port=0, workers=2, settings=DataPlaneSettings(tick_seconds=0.1,
                                                                               steady_state_seconds=0.3))
        try:
            exports = stack.start()
            env = {**os.environ, **exports, "PAAS_ACTOR": "dana@example.com", "PAAS_HOME": str(home)}
            tour(env, stack)
            say("Everything above is plain SQL away")
            sql(stack.db_url, HISTORY_SQL, "-- what ran where, who shipped it, what broke:")
            sql(stack.db_url, EVIDENCE_SQL, "-- the evidence behind every canary promotion and rollback:")
            sql(stack.db_url, RUNS_SQL, "-- who ran what, and how it ended:")
            pipeline_tour(env, stack)
        finally:
            stack.stop()
            from paas.db.embedded import stop

            stop(home / "pgdata")
    print(f"\n{BOLD}tour finished in {time.monotonic() - t0:.0f}s{RESET}")


def tour(env: dict, stack) -> None:
    say("An app, and its first release")
    run(env, "apps", "create", "shop", "--team", "storefront")
    run(env, "deploy", "shop", "--image", "registry.example.com/shop:1.0", "-m", "first release", "--wait")

    say("A config change is a new release (v2)")
    run(env, "config", "set", "shop", "CURRENCY=EUR", "--wait")
    bake = float(os.environ.get("PAAS_BAKE", "2"))
    print(f"{DIM}(v2 becomes known-good after a healthy {bake:.0f}s bake window){RESET}", flush=True)
    time.sleep(bake + 1.5)
    run(env, "releases", "shop")

    say("A release whose containers crash-loop: the circuit breaker trips, paas rolls back to known-good")
    run(env, "dev", "profile", "set", "*:1.1-crash", "--crash-loop")
    run(env, "deploy", "shop", "--image", "registry.example.com/shop:1.1-crash", "-m", "new checkout flow",
        "--wait", expect=1)

    say("A canary that returns 20% 5xx: held at 10%, judged by its metrics, taken out in one call")
    run(env, "dev", "profile", "set", "*:1.2-bad", "--error-rate", "0.2")
    run(env, "deploy", "shop", "--image", "registry.example.com/shop:1.2-bad", "--strategy", "canary",
        "-m", "faster search", "--wait", expect=1)

    say("A healthy canary: 10%, the gate passes, 100%")
    run(env, "deploy", "shop", "--image", "registry.example.com/shop:1.2", "--strategy", "canary",
        "-m", "faster search, fixed", "--wait")

    say("Rollback while the previous colour still runs: one weight flip")
    run(env, "rollback", "shop", "--wait")

    manifest = Path(env["PAAS_HOME"]) / "paas.toml"
    manifest.write_text(MANIFEST)
    say("A release phase: paas.toml's [release] command runs as a one-off task before any service changes")
    print(f"{DIM}{MANIFEST}{RESET}", flush=True)
    run(env, "deploy", "shop", "--image", "registry.example.com/shop:1.3", "--manifest", str(manifest),
        "-m", "orders table", "--wait")

    say("A migration that fails: the deployment fails with its exit code and last lines; no service changed")
    run(env, "dev", "profile", "set", "*:1.4-badmig", "--exit-code", "3", "--log", "applying 0043_orders_index",
        "--log", "migration failed: relation \"orders\" is locked")
    run(env, "deploy", "shop", "--image", "registry.example.com/shop:1.4-badmig", "--manifest", str(manifest),
        "-m", "orders index", "--wait", expect=1)

    say("One-off tasks: paas run streams the task's lines and exits with its exit code")
    run(env, "dev", "profile", "set", "*:1.3", "--log", "orders: 1204 rows", "--run-seconds", "0.5")
    run(env, "run", "shop", "--", "manage", "count", "orders")
    run(env, "tasks", "shop")

    say("What ran, and what is running")
    run(env, "history", "shop")
    run(env, "status", "shop")


def _push_state(db_url: str, tag: str) -> tuple[str, str | None] | None:
    from paas.db.sql import connect

    db = connect(db_url)
    try:
        r = db.one("SELECT state, end_reason FROM image_pushes WHERE tag = %(t)s", t=tag)
    finally:
        db.close()
    return None if r is None else (r.state, r.end_reason)


def _wait_push(env: dict, stack, tag: str, timeout: float = 180.0) -> str:
    """Until the push's pipeline ends, showing `paas pipeline cart` whenever what it waits for changes."""
    deadline = time.monotonic() + timeout
    shown = None
    while time.monotonic() < deadline:
        st = _push_state(stack.db_url, tag)
        if st is not None and st[0] != "active":
            print(f"{DIM}{tag}: {st[0]} ({st[1]}){RESET}", flush=True)
            return st[0]
        from paas.db.sql import connect
        from paas.service.pipeline import show

        db = connect(stack.db_url)
        try:
            doc = show(db, "cart")
        finally:
            db.close()
        waits = [p["waiting_for"] for p in doc["pushes"] if p["tag"] == tag and p["waiting_for"]]
        if waits and waits[0] != shown:
            shown = waits[0]
            print(f"{DIM}  {tag}: {shown}{RESET}", flush=True)
        time.sleep(0.3)
    raise SystemExit(f"{tag} did not finish within {timeout:.0f}s")


def pipeline_tour(env: dict, stack) -> None:
    from paas.devstack.up import add_environment

    say("A pipeline: CI pushes to ECR; paas tests the image, then staging, then a production canary")
    for name in ("staging", "production"):
        add_environment(stack.db_url, stack.boot, stack.emulator.endpoint_url, name)
    manifest = Path(env["PAAS_HOME"]) / "cart.toml"
    manifest.write_text(PIPELINE_MANIFEST)
    print(f"{DIM}{PIPELINE_MANIFEST}{RESET}", flush=True)
    run(env, "apps", "create", "cart", "--team", "storefront")
    run(env, "pipeline", "set", "cart", "--manifest", str(manifest))
    print(f"{DIM}(what runs today, deployed by hand once: a canary needs a release to compare with){RESET}")
    for name in ("staging", "production"):
        run(env, "deploy", "cart", "--image", "registry.example.com/cart:base", "-e", name, "--manifest",
            str(manifest), "-m", "before the pipeline", "--wait")
    _wait_route(stack)

    say("A push that goes all the way to production on its own (nobody types paas deploy)")
    run(env, "dev", "push", "cart:main-1")
    _wait_push(env, stack, "main-1")
    run(env, "pipeline", "cart")

    say("A push whose integration tests fail: recorded on its digest, never deployed")
    run(env, "dev", "push", "cart:main-2", "--profile", "failing-tests")
    _wait_push(env, stack, "main-2")
    run(env, "pipeline", "cart")

    say("A push that returns 30% 5xx: staging (rolling, no gate) takes it; the production canary takes it out at 10%")
    run(env, "dev", "push", "cart:main-3", "--profile", "errors")
    _wait_push(env, stack, "main-3")
    run(env, "pipeline", "cart")
    sql(stack.db_url, PROMOTIONS_SQL, "-- every promotion and its evidence (the paas_promotions view):")


def _wait_route(stack, timeout: float = 30.0) -> None:
    """The worker creates the push queue and the EventBridge rule once a pipeline exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        consumers = getattr(stack.worker, "consumers", {})
        if consumers and all(c.queue_url for c in consumers.values()):
            return
        time.sleep(0.2)
    raise SystemExit("the worker did not create the push queue")


if __name__ == "__main__":
    main()
