from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from paas.devstack.emulator import running_emulator, start_emulator


def test_only_one_emulator_per_process(emulator):
    assert running_emulator() is emulator
    with pytest.raises(RuntimeError, match="already running"):
        start_emulator()


def test_endpoint_reports_the_real_port_and_stop_is_clean():
    """In a fresh process (the test session already owns this one's emulator)."""
    script = textwrap.dedent(
        """
        import socket, threading
        from paas.devstack.emulator import start_emulator, running_emulator
        before = threading.active_count()
        emu = start_emulator(region="eu-west-1")
        port = int(emu.endpoint_url.rsplit(":", 1)[1])
        assert port > 0 and emu.endpoint_url == f"http://127.0.0.1:{port}"
        clusters = emu.client("ecs").list_clusters()["clusterArns"]
        assert clusters == [], clusters
        emu.client("ecs").create_cluster(clusterName="c")
        assert ":eu-west-1:" in emu.client("ecs").list_clusters()["clusterArns"][0]
        emu.stop()
        assert running_emulator() is None
        assert threading.active_count() == before, threading.enumerate()
        s = socket.socket()
        assert s.connect_ex(("127.0.0.1", port)) != 0, "port still accepting"
        with start_emulator() as again:
            assert again.endpoint_url.startswith("http://127.0.0.1:")
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
