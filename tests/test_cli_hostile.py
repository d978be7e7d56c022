"""Hostile input through the CLI, each case end to end: exit code 2, one line on stderr, and not
one row of any table written or changed.

The cases are the ones a security review listed (one test each); the pure validators behind
them are tested in test_hostile_input.py.
"""

from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field

import pytest

from tests.test_bad_input import snapshot

LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/edge/50dc6c495c0c9188/f2f7dc8efc522ab2"
BIG = "x" * 100_000


@dataclass
class Case:
    args: list[str]
    expect: str  # in the one line on stderr
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes | None = None
    toml: str | bytes | None = None  # written to ./paas.toml in a scratch folder


def dep(*extra: str) -> list[str]:
    return ["deploy", "checkout", "--image", "registry.example.com/checkout:2", "--env", "staging", *extra]


BAD_TEXT = {"newline": "evil\nroot@prod", "ansi": "\x1b[2J\x1b[Hfake prompt", "bel": "ding\x07"}

CASES: dict[str, Case] = {
    # images
    "image tag shop:ü": Case(["deploy", "checkout", "--image", "shop:ü", "--env", "staging"], "invalid image"),
    "registry port 99999999999": Case(["deploy", "checkout", "--image", "registry.example.com:99999999999/app:1",
                                       "--env", "staging"], "invalid image"),
    # 100 kB and control characters in free text, on every command that takes it
    "100 kB message on deploy": Case(dep("-m", BIG), "at most 1000"),
    "100 kB message on config set": Case(["config", "set", "checkout", "A=1", "-e", "staging", "-m", BIG],
                                         "at most 1000"),
    "100 kB message on config unset": Case(["config", "unset", "checkout", "GOOD_KEY", "-e", "staging", "-m", BIG],
                                           "at most 1000"),
    "100 kB message on scale": Case(["scale", "checkout", "web=2", "-e", "staging", "-m", BIG], "at most 1000"),
    "100 kB message on rollback": Case(["rollback", "checkout", "-e", "staging", "--to", "v1", "-m", BIG],
                                       "at most 1000"),
    "100 kB message on secrets unset": Case(["secrets", "unset", "checkout", "PW", "-e", "staging", "-m", BIG],
                                            "at most 1000"),
    "100 kB actor": Case(dep("--actor", BIG), "at most 200"),
    "100 kB team": Case(["apps", "create", "shop", "--team", BIG], "at most 100"),
    **{f"message with {k}": Case(dep("-m", t), "control character") for k, t in BAD_TEXT.items()},
    **{f"actor with {k}": Case(dep("--actor", t), "control character") for k, t in BAD_TEXT.items()},
    **{f"team with {k}": Case(["apps", "create", "shop", "--team", t], "control character")
       for k, t in BAD_TEXT.items()},
    "actor from $PAAS_ACTOR with a newline": Case(dep(), "$PAAS_ACTOR", env={"PAAS_ACTOR": "evil\nroot@prod"}),
    "actor with a newline on scale": Case(["scale", "checkout", "web=2", "-e", "staging", "--actor", "a\nb"],
                                          "control character"),
    "actor with a newline on deployments cancel": Case(["deployments", "cancel", "1", "--actor", "a\nb"],
                                                       "control character"),
    "actor with a newline on abort": Case(["abort", "checkout", "-e", "staging", "--actor", "a\x1b[31m"],
                                          "control character"),
    "actor with a newline on gc": Case(["gc", "checkout", "-e", "staging", "--actor", "a\x07"],
                                       "control character"),
    # environments
    "env create: region with a shell command": Case(["env", "create", "prod", "--region", "us-east-1; rm -rf /",
                                                     "--cluster", "c"], "invalid region"),
    "env create: unknown region form": Case(["env", "create", "prod", "--region", "mars-1", "--cluster", "c"],
                                            "invalid region"),
    "env create: 10 kB cluster": Case(["env", "create", "prod", "--region", "us-east-1", "--cluster", "c" * 10_000],
                                      "invalid cluster"),
    "env create: listener not-an-arn": Case(["env", "create", "prod", "--region", "us-east-1", "--cluster", "c",
                                             "--listener-arn", "not-an-arn"], "invalid listener ARN"),
    # config
    "100 kB config value": Case(["config", "set", "checkout", "BIG=" + BIG, "-e", "staging"], "at most 32768"),
    "1,000 config keys": Case(["config", "set", "checkout", *[f"K{i}=v" for i in range(1000)], "-e", "staging"],
                              "at most 500"),
    "config unset of a secret": Case(["config", "unset", "checkout", "PW", "-e", "staging"], "secrets unset"),
    # paas.toml
    "control character in health_check_path": Case(dep(), "control character",
                                                    toml='[processes.web]\nport = 8080\nhealth_check_path = "/\\u0007"'),
    "space in health_check_path": Case(dep(), "health_check_path",
                                       toml='[processes.web]\nport = 8080\nhealth_check_path = "/a b"'),
    "space in a routing path": Case(dep(), "routing.paths", toml='[routing]\npaths = ["/a b/*"]'),
    "200 processes": Case(dep(), "at most 20", toml="\n".join(f"[processes.p{i}]\ncount = 1" for i in range(200))),
    "min_requests past int64": Case(dep(), "strategy.min_requests",
                                    toml="[strategy]\nmin_requests = 9223372036854775808"),
    "type contradicting the app": Case(dep(), "is a web app", toml='type = "worker"'),
    "app contradicting the app deployed": Case(dep(), "is for app 'billing'", toml='app = "billing"'),
    "TOML nested 100,000 deep": Case(dep(), "nested too deeply", toml="x = " + "[" * 100_000 + "]" * 100_000),
    "NUL in command": Case(dep(), "control character", toml='[processes.web]\nport = 8080\ncommand = "run\\u0000me"'),
    "invalid UTF-8 in paas.toml": Case(dep(), "not valid UTF-8", toml=b'type = "web"\n# \xff\xfe\n'),
    "--manifest /dev/zero": Case(dep("--manifest", "/dev/zero"), "larger than 256 KiB"),
    # secrets
    "invalid UTF-8 secret on stdin": Case(["secrets", "set", "checkout", "PW2", "-e", "staging"], "not valid UTF-8",
                                          stdin=b"\xff\xfehunter2\n"),
    "empty secret on stdin": Case(["secrets", "set", "checkout", "PW2", "-e", "staging"], "is empty", stdin=b"\n"),
    # reading
    "history --since 999999999w": Case(["history", "--since", "999999999w"], "at most 10 years"),
    # routing a web app needs the environment's network
    "web app to an environment with a listener but no network": Case(
        ["deploy", "checkout", "--image", "registry.example.com/checkout:2", "--env", "edge"],
        "cannot route web traffic"),
    # settings
    "PAAS_AWS_RPS=fast": Case(dep(), "PAAS_AWS_RPS", env={"PAAS_AWS_RPS": "fast"}),
    "PAAS_BAKE=soon": Case(["history"], "PAAS_BAKE", env={"PAAS_BAKE": "soon"}),
    "PAAS_AWS_SHARED_PACES=maybe": Case(["history"], "PAAS_AWS_SHARED_PACES",
                                        env={"PAAS_AWS_SHARED_PACES": "maybe"}),
    "PAAS_POLL_INTERVAL=0": Case(["history"], "PAAS_POLL_INTERVAL", env={"PAAS_POLL_INTERVAL": "0"}),
    "PAAS_HEARTBEAT past PAAS_LEASE_TTL": Case(["history"], "PAAS_HEARTBEAT",
                                                env={"PAAS_HEARTBEAT": "1m", "PAAS_LEASE_TTL": "30"}),
    "PAAS_GC_PREVIOUS_COLOUR_KEEP=later": Case(["history"], "PAAS_GC_PREVIOUS_COLOUR_KEEP",
                                               env={"PAAS_GC_PREVIOUS_COLOUR_KEEP": "later"}),
}


@pytest.fixture
def hostile_world(paas, db):
    """staging (no listener) and edge (a listener, no network); checkout deployed once to staging,
    with one plain variable and one secret reference."""
    assert paas("env", "create", "staging", "--region", "us-east-1", "--cluster", "c1").code == 0
    assert paas("env", "create", "edge", "--region", "us-east-1", "--cluster", "c2", "--listener-arn", LISTENER).code == 0
    assert paas("apps", "create", "checkout", "--team", "payments").code == 0
    assert paas("deploy", "checkout", "--image", "registry.example.com/checkout:1", "--env", "staging").code == 0
    assert paas("config", "set", "checkout", "GOOD_KEY=1", "--env", "staging").code == 0
    from paas.service.releases import change_config

    with db.transaction():  # a secret reference, as `paas secrets set` records it (the value is in AWS)
        change_config(db, "checkout", "staging", actor="tester@test", kind="secret",
                      secrets={"PW": {"arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:pw", "version": "1"}})
    return db


def run(args: list[str], stdin: bytes | None) -> tuple[int, str, str]:
    """`paas ARGS` in this process with the real entry point, stdin as bytes (as a pipe gives them)."""
    from paas.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main(args)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_refused_with_one_line_and_nothing_written(name, hostile_world, monkeypatch, tmp_path):
    case = CASES[name]
    for k, val in case.env.items():
        monkeypatch.setenv(k, val)
    if case.toml is not None:
        (tmp_path / "paas.toml").write_bytes(case.toml if isinstance(case.toml, bytes) else case.toml.encode())
    monkeypatch.chdir(tmp_path)
    before = snapshot(hostile_world)
    code, out, err = run(case.args, case.stdin)
    assert snapshot(hostile_world) == before, f"{name}: wrote to the database"
    assert code == 2, (code, out, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1 and err.startswith("paas: "), err
    assert case.expect in err, err
    assert "Traceback" not in err and len(err) < 500, err
    assert "\x1b" not in err and "\x07" not in err  # the hostile text is never echoed raw


def test_the_default_actor_is_checked_too(hostile_world, monkeypatch):
    import socket

    monkeypatch.delenv("PAAS_ACTOR")
    monkeypatch.setattr(socket, "gethostname", lambda: "host\x1b[2J")
    before = snapshot(hostile_world)
    code, out, err = run(dep(), None)
    assert (code, out) == (2, "") and "default actor" in err and err.count("\n") == 1
    assert snapshot(hostile_world) == before


def test_the_merged_config_is_checked_not_only_the_new_keys(hostile_world, paas):
    """400 keys, then 200 more: each request is fine alone, the merged config is too large."""
    assert paas("config", "set", "checkout", *[f"A{i}=v" for i in range(400)], "-e", "staging").code == 0
    before = snapshot(hostile_world)
    r = paas("config", "set", "checkout", *[f"B{i}=v" for i in range(200)], "-e", "staging")
    assert r.code == 2 and "too many config keys: 601" in r.err and r.err.count("\n") == 1
    assert snapshot(hostile_world) == before


def test_a_bad_setting_stops_the_worker_at_start(db_url):
    from tests.conftest import run_paas_process

    r = run_paas_process("worker", env={"PAAS_POLL_INTERVAL": "fast"}, timeout=60)
    assert r.code == 2 and r.out == ""
    assert r.err == "paas: PAAS_POLL_INTERVAL='fast': expected seconds or a duration such as 90s, 5m, 2h, 7d\n"
    r = run_paas_process("reconcile", "--once", env={"PAAS_AWS_RPS": "fast"}, timeout=60)
    assert r.code == 2 and r.err.startswith("paas: PAAS_AWS_RPS='fast'") and r.err.count("\n") == 1
    r = run_paas_process("reconcile", env={"PAAS_AWS_FAULTS": "throttle=lots"}, timeout=60)
    assert r.code == 2 and r.err.startswith("paas: PAAS_AWS_FAULTS") and r.err.count("\n") == 1


def test_durations_in_settings_take_the_forms_flags_take(monkeypatch):
    from paas.settings import Durations

    for raw, seconds in (("5m", 300), ("300", 300), ("90s", 90), ("2h", 7200), ("0.5", 0.5), (" 1d ", 86400)):
        monkeypatch.setenv("PAAS_BAKE", raw)
        assert Durations().bake == seconds, raw
    monkeypatch.setenv("PAAS_BAKE", "0")
    assert Durations().bake == 0  # no bake window is allowed; a zero poll interval is not
