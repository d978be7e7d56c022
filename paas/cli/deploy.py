"""`paas deploy`, in a module of its own: the request path imports and builds only this command
(not config, scale, rollback and open), which bench/cli_latency measures. Also the helpers the
other request commands share: reporting a recorded request and reading paas.toml.
"""

from __future__ import annotations

import os

import click

from paas.cli.common import (
    actor_option, actor_or_default, app_argument, env_option, json_option, message_option, print_json, transaction,
    verbose_option, wait_option, wait_timeout,
)
from paas.domain import validate as v
from paas.domain.errors import UserError


def _report(req, as_json: bool, wait: bool, verbose: bool = False) -> None:
    if as_json and not wait:
        print_json(req.to_json())
        return
    if not as_json:
        for note in req.notes:
            click.echo(f"note: {note}", err=True)
        sup = f"; supersedes deployment {', '.join('#' + str(i) for i in req.superseded)}" if req.superseded else ""
        click.echo(f"deployment #{req.deployment_id} requested: {req.app} release v{req.release_version} to "
                   f"{req.environment} ({req.strategy}{sup})")
    if wait:
        from paas.cli.follow import follow

        code = follow(req.deployment_id, as_json=as_json, verbose=verbose, timeout=wait_timeout())
        if code == 0 and not as_json:
            _print_urls(req.environment, req.urls)
        raise SystemExit(code)
    _print_urls(req.environment, req.urls)


def _simulated(environment: str) -> bool:
    from paas.settings import read_dev_state

    return read_dev_state().get("env") == environment


def _print_urls(environment: str, urls: dict[str, str], prefix: str = "") -> None:
    if not urls:
        return
    sim = " (simulated by paas dev: no DNS name, nothing answers there)" if _simulated(environment) else ""
    for proc, url in urls.items():
        who = f" ({proc})" if len(urls) > 1 else ""
        click.echo(f"{prefix}{url}{who}{sim}")


def _load_manifest(path: str | None):
    """--manifest PATH, else ./paas.toml when present: read with a size limit, strict UTF-8."""
    from paas.domain.manifest import read_manifest

    if path is None:
        if not os.path.exists("paas.toml"):
            return None
        path = "paas.toml"
    return read_manifest(path)


@click.command()
@app_argument
@click.option("--image", "-i", required=True,
              help="Image reference: registry/app:1.2, or name@sha256:<64 hex> to pin a digest.")
@env_option
@click.option("--strategy", "-s", type=click.Choice(v.STRATEGIES),
              help="How the release replaces the current one (default: paas.toml's [strategy] default, else rolling).")
@click.option("--steps", help="Canary traffic steps in percent, rising and ending at 100, e.g. 10,50,100.")
@click.option("--pause-at", type=int, help="Canary: hold at this step (a percentage of --steps) until `paas promote`.")
@message_option
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False),
              help="The paas.toml to deploy with (default: ./paas.toml when present).")
@actor_option
@json_option
@wait_option
@verbose_option
def deploy(app, image, env, strategy, steps, pause_at, message, manifest_path, actor, as_json, wait, verbose):
    """Deploy an image as a new release of APP.

    Reads ./paas.toml (or --manifest) when present: processes, routing, health checks and
    strategy defaults; without one the app keeps its previous release's. Returns as soon as
    the request is recorded; --wait follows it.

    \b
    Examples:
      paas deploy checkout --image registry.example.com/checkout:1.4.2 -e staging -m "new basket"
      paas deploy checkout -i registry.example.com/checkout:1.5 -e production --strategy canary --steps 10,50,100 --wait
      paas deploy --image registry.example.com/checkout:1.5     # in a folder whose paas.toml has app = "checkout"
    """
    from paas.service.releases import deploy as do_deploy

    v.image_ref(image)
    manifest = _load_manifest(manifest_path)
    if app is None:
        if manifest is None or manifest.app is None:
            raise UserError("no app given: name it (paas deploy APP ...) or add app = \"NAME\" to paas.toml")
        app = manifest.app
    v.name(app, "app name")
    canary_steps = None
    if steps is not None:
        try:
            parsed = [int(s) for s in steps.split(",")]
        except ValueError:
            raise UserError(f"invalid --steps {v.show(steps)}: expected percentages like 10,100") from None
        canary_steps = v.canary_steps(parsed)
    if pause_at is not None:
        allowed = canary_steps or list(manifest.strategy.canary_steps if manifest else (10, 100))
        if pause_at not in allowed or pause_at == 100:
            raise UserError(f"invalid --pause-at {pause_at}: it must name a canary step below 100 ({allowed})")
    if (steps is not None or pause_at is not None) and (strategy or (manifest and manifest.strategy.default)) != "canary":
        raise UserError("--steps and --pause-at apply to --strategy canary")
    who = actor_or_default(actor)
    with transaction() as db:
        req = do_deploy(db, app, env, image, actor=who, message=message, strategy=strategy, manifest=manifest,
                        canary_steps=canary_steps, pause_at=pause_at)
    _report(req, as_json, wait, verbose)
