"""Two minutes of bench/chaos_soak.py: workers SIGKILLed and SIGSTOPped at random while deploys of
every strategy run; nothing may be stuck, run twice, or end different from what the database says."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_chaos_soak_two_minutes(pg_admin_url):
    env = {**os.environ, "PAAS_DATABASE_URL": pg_admin_url}
    for k in ("PAAS_ENV", "AWS_ENDPOINT_URL"):
        env.pop(k, None)
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "chaos_soak.py"), "--duration", "60", "--settle", "120",
                        "--workers", "3", "--apps", "6", "--seed", "7", "--json"],
                       capture_output=True, text=True, timeout=280, env=env, cwd=str(ROOT))
    assert p.stdout.strip(), p.stderr[-3000:]
    f = json.loads(p.stdout.strip().splitlines()[-1])
    assert f["kills"] > 0 and f["freezes"] > 0, f
    assert f["deployments"] >= 20, f
    assert f["stuck"] == 0, f
    assert f["duplicate_steps"] == 0, f
    assert f["end_state_mismatches"] == 0, f
    assert p.returncode == 0, p.stderr[-3000:]
