"""The `paas` entry point.

Subcommands are imported only when invoked (a lazy group), so `paas deploy` pays for click,
psycopg2 and its own module, never for SQLAlchemy, boto3 or rich. Every `PaasError` becomes
one line on stderr with its exit code (2 for bad input); no traceback reaches the user.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("paas.cli.dbcmd", "db"),
    "env": ("paas.cli.catalog", "env"),
    "apps": ("paas.cli.catalog", "apps"),
    "deploy": ("paas.cli.requests", "deploy"),
    "config": ("paas.cli.requests", "config"),
    "scale": ("paas.cli.requests", "scale"),
    "rollback": ("paas.cli.requests", "rollback"),
    "releases": ("paas.cli.history", "releases"),
    "status": ("paas.cli.history", "status"),
    "history": ("paas.cli.history", "history"),
    "deployments": ("paas.cli.history", "deployments"),
    "secrets": ("paas.cli.secrets", "secrets"),
    "worker": ("paas.cli.workers", "worker"),
    "reconcile": ("paas.cli.workers", "reconcile"),
    "dev": ("paas.devstack.cli", "dev"),  # dev tooling: named, never imported by product code
    "promote": ("paas.cli.progressive", "promote"),
    "abort": ("paas.cli.progressive", "abort"),
    "gc": ("paas.cli.progressive", "gc"),
    "iam": ("paas.cli.iam", "iam"),
    "run": ("paas.cli.run", "run"),
    "tasks": ("paas.cli.run", "tasks"),
    "jobs": ("paas.cli.jobs", "jobs"),
    "logs": ("paas.cli.logs", "logs"),
    "watch": ("paas.cli.watch", "watch"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, (mod, _) in COMMANDS.items() if importlib.util.find_spec(mod) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        try:
            module = importlib.import_module(target[0])
        except ModuleNotFoundError as e:
            if e.name == target[0]:
                return None
            if target[0].startswith("paas.devstack"):
                from paas.domain.errors import PaasError

                raise PaasError(f"`paas {name}` needs the development extras ({e.name} is missing): "
                                "pip install 'paas[dev]'") from None
            raise
        # None (an unknown command) rather than a traceback while a module is half-built
        return getattr(module, target[1], None)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="paas")
def cli() -> None:
    """paas: desired-state deploys to AWS ECS.

    Requests are recorded in the metadata database and carried out by `paas worker`.
    """


def main(argv: list[str] | None = None) -> None:
    from paas.domain.errors import PaasError

    try:
        cli.main(args=argv, prog_name="paas", standalone_mode=False)
    except PaasError as e:
        click.echo(f"paas: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("paas: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        # click's own usage errors: one line, exit 2
        msg = e.format_message()
        if isinstance(e, click.UsageError) and e.ctx is not None:
            msg = f"{msg} (see: {e.ctx.command_path} --help)"
        click.echo(f"paas: {msg}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("paas: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:  # never a traceback for the user; PAAS_DEBUG=1 shows one
        import os

        if os.environ.get("PAAS_DEBUG"):
            raise
        click.echo(f"paas: {_describe(e)}", err=True)
        sys.exit(1)


def _describe(e: Exception) -> str:
    mod = type(e).__module__ or ""
    if mod.startswith("psycopg2"):
        code = getattr(e, "pgcode", None)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if code == "42P01":  # undefined_table
            return f"the metadata database has no schema yet ({first}): run `paas db upgrade`"
        if code == "42501":  # insufficient_privilege
            return f"permission denied by the metadata database: {first}"
        return f"database error: {first}"
    return f"internal error: {type(e).__name__}: {e} (PAAS_DEBUG=1 shows a traceback)"


if __name__ == "__main__":  # pragma: no cover
    main()
