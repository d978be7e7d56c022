"""Bad strategy input: one line, exit code 2, nothing written (issue: progressive delivery)."""

from __future__ import annotations

import pytest

from tests.test_bad_input import snapshot  # noqa: F401  (table checksums)


@pytest.fixture
def deployed(paas, staging):
    assert paas("deploy", "checkout", "--image", "shop:1", "-e", "staging").code == 0
    return "checkout"


@pytest.mark.parametrize("args", [
    ["--strategy", "canary", "--steps", "50,10,100"],
    ["--strategy", "canary", "--steps", "10,50"],
    ["--strategy", "canary", "--steps", "0,100"],
    ["--strategy", "canary", "--steps", "10,101"],
    ["--strategy", "canary", "--steps", "ten,100"],
    ["--strategy", "canary", "--pause-at", "30"],
    ["--strategy", "canary", "--pause-at", "100"],
    ["--strategy", "rolling", "--steps", "10,100"],
])
def test_bad_canary_options(paas, db, deployed, args):
    before = snapshot(db)
    r = paas("deploy", "checkout", "--image", "shop:2", "-e", "staging", *args)
    assert r.code == 2, r.out + r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert snapshot(db) == before


@pytest.mark.parametrize("toml", [
    '[strategy]\nbake = "-5s"\n',
    "[strategy]\nbake = -5\n",
    "[strategy]\nmax_5xx_rate = 1.5\n",
    "[strategy]\nmax_5xx_rate = -0.1\n",
    "[strategy]\ncanary_steps = [10, 10, 100]\n",
])
def test_bad_strategy_in_manifest(paas, db, deployed, tmp_path, toml):
    f = tmp_path / "paas.toml"
    f.write_text(toml)
    before = snapshot(db)
    r = paas("deploy", "checkout", "--image", "shop:2", "-e", "staging", "--manifest", str(f))
    assert r.code == 2, r.out + r.err
    assert snapshot(db) == before


@pytest.mark.parametrize("verb", ["promote", "abort"])
def test_promote_and_abort_need_something_in_flight(paas, db, staging, verb):
    r = paas(verb, "checkout", "-e", "staging")
    assert r.code == 2 and "nothing to" in r.err
