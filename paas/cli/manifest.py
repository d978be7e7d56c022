"""`paas manifest` (paas.toml's JSON Schema, and checking a file) and `paas completion`."""

from __future__ import annotations

import click

from paas.cli.common import Group, json_option, print_json


@click.group(cls=Group)
def manifest():
    """paas.toml: its JSON Schema, and checking a file."""


@manifest.command("schema")
def manifest_schema():
    """Print paas.toml's JSON Schema (draft 2020-12).

    It is generated from the table of keys the parser reads with.

    Point your editor at it to complete and check paas.toml as you type (taplo / Even Better
    TOML: a `#:schema ./paas.schema.json` first line, or a schema association in settings).

    \b
    Example:
      paas manifest schema > paas.schema.json
    """
    from paas.domain.manifest_schema import schema

    print_json(schema())


@manifest.command("check")
@click.argument("path", default="paas.toml", type=click.Path(dir_okay=False))
@json_option
def manifest_check(path, as_json):
    """Check a paas.toml as `paas deploy` would read it.

    Exit code 2 and one line with the first problem.

    \b
    Example:
      paas manifest check services/checkout/paas.toml --json
    """
    from paas.domain.manifest import read_manifest

    m = read_manifest(path)
    if as_json:
        print_json(m.to_json())
        return
    procs = ", ".join(f"{p.name}" + (f" (port {p.port})" if p.is_web else "") for p in m.processes.values())
    click.echo(f"{path}: ok" + (f", app {m.app}" if m.app else "") + f"; processes: {procs}; "
               f"strategy {m.strategy.default}")


SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell):
    """Print the shell completion script (bash, zsh or fish).

    It completes commands, options, and app and environment names (read from the database).

    \b
    Examples:
      eval "$(paas completion bash)"                        # in ~/.bashrc
      eval "$(paas completion zsh)"                         # in ~/.zshrc
      paas completion fish > ~/.config/fish/completions/paas.fish
    """
    from click.shell_completion import get_completion_class

    from paas.cli.main import cli

    cls = get_completion_class(shell)
    click.echo(cls(cli, {}, "paas", "_PAAS_COMPLETE").source())
