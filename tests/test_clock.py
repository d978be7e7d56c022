"""paas.clock: real time by default, a linear warp from the environment."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import pytest

from paas.clock import Warp, warp_from_env


def test_no_variables_means_real_time():
    w = warp_from_env({})
    assert w == Warp(0.0, 1.0)
    before = time.time()
    assert before <= w.time() <= time.time()
    assert w.now().tzinfo is dt.timezone.utc


def test_virtual_time_runs_rate_times_faster_from_the_epoch():
    w = warp_from_env({"PAAS_CLOCK_EPOCH": "1000", "PAAS_CLOCK_RATE": "30"})
    assert w.time(1000.0) == 1000.0
    assert w.time(1002.0) == 1060.0  # two real seconds: one virtual minute
    assert w.real_seconds(60) == 2.0
    m0 = w.monotonic()
    time.sleep(0.05)
    assert w.monotonic() - m0 >= 1.5 - 1e-9


@pytest.mark.parametrize(("env", "message"), [
    ({"PAAS_CLOCK_RATE": "fast"}, "PAAS_CLOCK_RATE must be a positive number, got 'fast'"),
    ({"PAAS_CLOCK_RATE": "0", "PAAS_CLOCK_EPOCH": "1"}, "PAAS_CLOCK_RATE must be a positive number"),
    ({"PAAS_CLOCK_RATE": "-2", "PAAS_CLOCK_EPOCH": "1"}, "PAAS_CLOCK_RATE must be a positive number"),
    ({"PAAS_CLOCK_RATE": "inf", "PAAS_CLOCK_EPOCH": "1"}, "PAAS_CLOCK_RATE must be a positive number"),
    ({"PAAS_CLOCK_RATE": "30"}, "PAAS_CLOCK_RATE needs PAAS_CLOCK_EPOCH"),
    ({"PAAS_CLOCK_EPOCH": "yesterday"}, "PAAS_CLOCK_EPOCH must be unix seconds, got 'yesterday'"),
])
def test_bad_variables_are_one_clear_line(env, message):
    with pytest.raises(ValueError) as err:
        warp_from_env(env)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_two_processes_with_the_same_variables_agree_on_the_time():
    epoch = time.time() - 10
    env = {"PAAS_CLOCK_EPOCH": repr(epoch), "PAAS_CLOCK_RATE": "30", "PATH": ""}
    code = "from paas import clock; print(clock.time(), clock.rate())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    virtual, rate = map(float, out.split())
    expected = Warp(epoch, 30).time()
    assert rate == 30 and abs(virtual - expected) < 30 * 2  # within two real seconds of start-up
    assert virtual > time.time() + 200  # ten real seconds since the epoch: five virtual minutes


def test_the_clock_imports_nothing_of_paas():
    from tests.test_layering import PAAS, imports_of

    assert not [m for m in imports_of(PAAS / "clock.py") if m == "paas" or m.startswith("paas.")]
