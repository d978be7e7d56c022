"""bench/cli_latency: wall time of a whole `paas deploy` process (start, validate, commit, exit).

Runs the installed console script (`.venv/bin/paas`) as a real subprocess 20 times against a
scratch database, interleaved with `python -c pass` and `python -c "import click"` on the same
interpreter, and prints medians, p95s and ratios. Then runs the deploy under
`python -X importtime` and prints the costliest imports and whether boto3 / SQLAlchemy / rich
appear on that path (they must not), and paas's own modules by self time. Targets: median
<= 150 ms, and <= 1.8 times `python -c "import click"` of the same run.

    .venv/bin/python bench/cli_latency.py [--runs 20]

Uses PAAS_DATABASE_URL's server when set, else the embedded PostgreSQL; the scratch database
is created and dropped by this script. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 150.0
RATIO_TARGET = 1.8  # times `python -c "import click"` in the same run
HEAVY = ("boto3", "botocore", "sqlalchemy", "rich", "alembic", "moto")


from _common import admin, pct, server_url, with_db  # noqa: E402  (one scratch-database helper for every bench)


CPU: dict[str, list[float]] = {}


def run(cmd: list[str], env: dict, label: str | None = None) -> float:
    """Wall time in ms; the child's CPU time (user + sys) is recorded under `label`."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ms = (time.perf_counter() - t) * 1000
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    if label:
        CPU.setdefault(label, []).append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000)
    return ms


SELF_TIMES: list[tuple[int, int, str]] = []


def importtime(cmd: list[str], env: dict) -> tuple[list[tuple[int, str]], set[str]]:
    p = subprocess.run([sys.executable, "-X", "importtime", *cmd], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"importtime run failed: {p.stderr[-2000:]}")
    rows, mods = [], set()
    SELF_TIMES.clear()
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cum_us, name = line.split(":", 1)[1].split("|", 2)
        mods.add(name.strip())
        SELF_TIMES.append((int(self_us), int(cum_us), name.strip()))
        if not name[1:].startswith(" "):  # top level: one space after the bar, nested ones are indented
            rows.append((int(cum_us), name.strip()))
    return sorted(rows, reverse=True), mods


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--no-bytecode", action="store_true",
                    help="Run without a bytecode cache (every run compiles paas's modules from source).")
    args = ap.parse_args()

    from paas.db.migrate import upgrade
    from paas.db.url import redact

    python = sys.executable
    paas = str(Path(python).parent / "paas")
    if not os.path.exists(paas):
        raise SystemExit(f"no console script at {paas}: run `make install` (pip install -e .) first")

    server = server_url()
    name = f"paas_bench_cli_{uuid.uuid4().hex[:8]}"
    admin(server, f'CREATE DATABASE "{name}"')
    url = with_db(server, name)
    env = {**os.environ, "PAAS_DATABASE_URL": url, "PAAS_ACTOR": "bench@bench", "PAAS_ENV": "bench"}
    env.pop("PAAS_HOME", None)
    # Measure an installed package: bytecode compiled once and reused (pip compiles a wheel's
    # modules at install). A private cache dir keeps __pycache__ out of the source tree, and
    # applies to all three commands alike. With PYTHONDONTWRITEBYTECODE=1 and no cache, every
    # run would recompile paas's modules (~20-30 ms); `--no-bytecode` measures that instead.
    if args.no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
        pycache = None
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        pycache = tempfile.mkdtemp(prefix="paas-bench-pycache-")
        env["PYTHONPYCACHEPREFIX"] = pycache
    try:
        upgrade(url)
        run([paas, "env", "create", "bench", "--region", "us-east-1", "--cluster", "bench"], env)
        run([paas, "apps", "create", "checkout"], env)
        print(f"scratch database: {redact(url)}")
        print(f"interpreter: {python} ({sys.version.split()[0]}); {os.cpu_count()} CPUs; bytecode cache: "
              f"{'off (PYTHONDONTWRITEBYTECODE=1)' if pycache is None else pycache}")

        cmds = {
            "python -c pass": [python, "-c", "pass"],
            "python -c 'import click'": [python, "-c", "import click"],
            "paas deploy": None,
        }
        times: dict[str, list[float]] = {k: [] for k in cmds}
        n = 0

        def deploy_cmd() -> list[str]:
            nonlocal n
            n += 1
            return [paas, "deploy", "checkout", "--image", f"registry.example.com/checkout:1.{n}", "-m", f"bench {n}"]

        for _ in range(3):  # warm the page cache and the server
            for k, c in cmds.items():
                run(c or deploy_cmd(), env)
        for _ in range(args.runs):  # interleaved, so drift hits all three alike
            for k, c in cmds.items():
                times[k].append(run(c or deploy_cmd(), env, k))

        load = os.getloadavg()[0]
        print(f"\nwall time (load average {load:.2f} on {os.cpu_count()} CPUs; CPU = the process's user+sys time)")
        print(f"{'command':<28}{'runs':>5}{'median':>10}{'p95':>10}{'min':>10}{'CPU median':>12}")
        for k, ms in times.items():
            print(f"{k:<28}{len(ms):>5}{statistics.median(ms):>8.1f}ms{pct(ms, 95):>8.1f}ms{min(ms):>8.1f}ms"
                  f"{statistics.median(CPU[k]):>10.1f}ms")
        dep = statistics.median(times["paas deploy"])
        base = statistics.median(times["python -c pass"])
        click_ms = statistics.median(times["python -c 'import click'"])
        print(f"\npaas deploy / python -c pass        = {dep / base:.2f}x  (+{dep - base:.1f} ms)")
        print(f"paas deploy / python -c 'import click' = {dep / click_ms:.2f}x  (+{dep - click_ms:.1f} ms)")

        rows, mods = importtime([paas, "deploy", "checkout", "--image", "registry.example.com/checkout:2.0"], env)
        print("\n`python -X importtime paas deploy`: costliest top-level imports (cumulative)")
        for us, mod in rows[:12]:
            print(f"  {us / 1000:7.1f} ms  {mod}")
        paas_self = sorted((t for t in SELF_TIMES if t[2].startswith("paas")), reverse=True)
        print(f"paas's own modules: {sum(t[0] for t in paas_self) / 1000:.1f} ms of import (self time, "
              f"under importtime's overhead); the costliest, self / cumulative:")
        for self_us, cum_us, mod in paas_self[:10]:
            print(f"  {self_us / 1000:7.1f} / {cum_us / 1000:7.1f} ms  {mod}")
        heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY)
        print(f"modules imported: {len(mods)}; heavy ({', '.join(HEAVY)}): {', '.join(heavy) or 'none'}")
        print(f"boto3 on the deploy path: {'YES' if any(m.startswith(('boto3', 'botocore')) for m in mods) else 'no'}; "
              f"sqlalchemy: {'YES' if any(m.startswith('sqlalchemy') for m in mods) else 'no'}")

        ok = dep <= TARGET_MS and not heavy
        print(f"\nmedian paas deploy {dep:.1f} ms, target <= {TARGET_MS:.0f} ms: {'OK' if dep <= TARGET_MS else 'MISSED'}")
        ratio = dep / click_ms
        print(f"paas deploy / python -c 'import click' = {ratio:.2f}x, target <= {RATIO_TARGET:.1f}x: "
              f"{'OK' if ratio <= RATIO_TARGET else 'MISSED'}")
        ok = ok and ratio <= RATIO_TARGET
        return 0 if ok else 1
    finally:
        admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if pycache:
            shutil.rmtree(pycache, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
