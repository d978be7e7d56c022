"""The `paas` entry point.

Subcommands are imported only when invoked (a lazy group), so `paas deploy` pays for click,
psycopg2 and its own module, never for SQLAlchemy or boto3. Every `PaasError` becomes
one line on stderr with its exit code (2 for bad input); no traceback reaches the user.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("paas.cli.dbcmd", "db"),
    "env": ("paas.cli.catalog", "env"),
    "apps": ("paas.cli.catalog", "apps"),
    "deploy": ("paas.cli.deploy", "deploy"),
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
    "open": ("paas.cli.requests", "open_app"),
    "manifest": ("paas.cli.manifest", "manifest"),
    "completion": ("paas.cli.manifest", "completion"),
    "run": ("paas.cli.run", "run"),
    "tasks": ("paas.cli.run", "tasks"),
    "jobs": ("paas.cli.jobs", "jobs"),
    "logs": ("paas.cli.logs", "logs"),
    "watch": ("paas.cli.watch", "watch"),
    "notify": ("paas.cli.notify", "notify"),
    "pipeline": ("paas.cli.pipeline", "pipeline"),
    "approve": ("paas.cli.pipeline", "approve"),
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

    def resolve_command(self, ctx: click.Context, args: list[str]):
        """As click's, plus "Did you mean ...?" for a mistyped command (click only suggests among
        commands it has loaded, and this group loads none until one is named)."""
        name = args[0]
        if name in COMMANDS or name.startswith("-") or ctx.resilient_parsing:
            return super().resolve_command(ctx, args)
        import difflib

        close = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise click.UsageError(f"No such command {name!r}.{hint}", ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command with its whole summary line (click cuts it at the first full stop)."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, summary(cmd)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def summary(cmd: click.Command) -> str:
    """The first line of a command's help, whole."""
    if cmd.short_help:
        return cmd.short_help
    return (cmd.help or "").strip().split("\n", 1)[0].strip()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="paas")
def cli() -> None:
    """paas: desired-state deploys to AWS ECS.

    Requests are recorded in the metadata database and carried out by `paas worker`.
    In a folder whose paas.toml says `app = "NAME"`, APP may be left out.

    \b
    Example:
      paas deploy checkout --image registry.example.com/checkout:1.4.2 -e staging -m "new basket"
    """


def main(argv: list[str] | None = None) -> None:
    from paas.domain.errors import PaasError

    try:
        if "_PAAS_COMPLETE" not in os.environ:  # completion must stay silent
            from paas.settings import check

            check()
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
