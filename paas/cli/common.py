"""What every command shares: the database, the environment and actor defaults, and output.

Output rules: `--json` prints stable field names (documented in the README); otherwise a table,
drawn with rich on a terminal and as plain aligned text (no colour codes) when piped.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, Sequence

import click

from paas.db.sql import Db

env_option = click.option(
    "--env", "-e", "env", envvar="PAAS_ENV", show_envvar=True, help="Environment (default: $PAAS_ENV)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
actor_option = click.option("--actor", envvar="PAAS_ACTOR", help="Who is asking (default: $PAAS_ACTOR or user@host).")


def actor_or_default(actor: str | None) -> str:
    if actor:
        return actor
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@contextmanager
def database(application_name: str = "paas-cli") -> Iterator[Db]:
    from paas.db.sql import connect
    from paas.db.url import resolve

    db = connect(resolve(), application_name)
    try:
        yield db
    finally:
        db.close()


@contextmanager
def transaction(application_name: str = "paas-cli") -> Iterator[Db]:
    """One transaction: commit when the block finishes, roll back on any error."""
    with database(application_name) as db:
        with db.transaction():
            yield db


def _default(o: Any) -> Any:
    if isinstance(o, datetime):
        return o.isoformat()
    if isinstance(o, timedelta):
        return o.total_seconds()
    return str(o)


def print_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, default=_default, sort_keys=False))


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, timedelta):
        return human_seconds(value.total_seconds())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def human_seconds(s: float) -> str:
    from paas.domain.validate import format_seconds

    return format_seconds(s)


def is_tty() -> bool:
    return sys.stdout.isatty()


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
                styles: dict[str, Callable[[Any], str]] | None = None) -> None:
    """rich on a terminal; plain, aligned, colourless text when piped."""
    cells = [[fmt(c) for c in r] for r in rows]
    if is_tty():
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title, header_style="bold", box=None, pad_edge=False)
        for c in columns:
            t.add_column(c)
        for r, raw in zip(cells, rows):
            styled = []
            for col, cell, val in zip(columns, r, raw):
                style = (styles or {}).get(col)
                styled.append(f"[{style(val)}]{cell}[/]" if style and style(val) else cell)
            t.add_row(*styled)
        Console().print(t)
        return
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    if title:
        click.echo(title)
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


STATE_STYLE = {
    "succeeded": "green", "in_progress": "yellow", "pending": "cyan", "failed": "red",
    "rolled_back": "magenta", "superseded": "dim", "cancelled": "dim",
}


def state_style(v: Any) -> str:
    return STATE_STYLE.get(str(v), "")
