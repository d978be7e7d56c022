"""`paas secrets set` on a terminal: prompted twice, never echoed, stored in Secrets Manager.

A real `paas` process on a pseudo-terminal (its controlling terminal, as in a shell), so what
the test reads from the pty is exactly what a person would see on screen and in scrollback.
"""

from __future__ import annotations

import os
import pty
import select
import sys
import time

from tests.conftest import ROOT

VALUE = "correct-horse-battery-staple"


class Terminal:
    def __init__(self, *args: str):
        pid, fd = pty.fork()
        if pid == 0:  # the child: paas on the pty
            os.chdir(str(ROOT))
            os.execv(sys.executable, [sys.executable, "-m", "paas.cli.main", *args])
        self.pid, self.fd, self.screen = pid, fd, b""

    def read_until(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.screen:
            assert time.monotonic() < deadline, f"waited for {text!r}; the screen shows {self.screen!r}"
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    assert text.encode() in self.screen, f"{text!r} never came: {self.screen!r}"
                self.screen += chunk

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                self.screen += chunk
                if not chunk:
                    break
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def test_a_secret_typed_on_a_terminal_is_never_echoed(stack):
    app = stack.app()
    term = Terminal("secrets", "set", app, "DB_PASSWORD")
    term.read_until("value for DB_PASSWORD (not shown): ")
    term.type(VALUE + "\n")
    term.read_until("again, to confirm: ")
    term.type(VALUE + "\n")
    code = term.finish()
    screen = term.screen.decode(errors="replace")
    assert code == 0, screen
    assert VALUE not in screen, "the value was echoed to the terminal"
    assert "secret DB_PASSWORD stored as version" in screen
    listed = stack.paas("secrets", "list", app, "--json").json()
    assert [s["name"] for s in listed] == ["DB_PASSWORD"]
    got = stack.client("secretsmanager").get_secret_value(SecretId=listed[0]["arn"], VersionId=listed[0]["version"])
    assert got["SecretString"] == VALUE


def test_two_different_values_store_nothing(stack):
    app = stack.app()
    term = Terminal("secrets", "set", app, "DB_PASSWORD")
    term.read_until("(not shown): ")
    term.type(VALUE + "\n")
    term.read_until("again, to confirm: ")
    term.type(VALUE + "x\n")
    code = term.finish()
    screen = term.screen.decode(errors="replace")
    assert code == 2 and "the two values for secret DB_PASSWORD differ; nothing was stored" in screen
    assert VALUE not in screen
    assert stack.paas("secrets", "list", app, "--json").json() == []


def test_piped_stdin_is_read_without_a_prompt(stack):
    app = stack.app()
    r = stack.paas("secrets", "set", app, "TOKEN", input=VALUE + "\n")
    assert r.code == 0 and "not shown" not in r.err and VALUE not in r.out + r.err
