"""`paas dev`: the local stack (dev and test only; product code never imports this package)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import click

from paas.cli.common import Group, json_option, print_json, print_table
from paas.domain.errors import PaasError, UserError


@click.group(cls=Group)
def dev():
    """Local stack: Postgres, AWS emulator, simulated ECS data plane."""


@dev.command()
@click.option("--port", default=4566, show_default=True, help="Emulator port (another free one if taken).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 32),
              help="App+environments the stack's worker reconciles at once.")
@click.option("--fast/--no-fast", default=True, show_default=True,
              help="Demo durations (seconds-long bakes and polls) unless PAAS_* are set.")
@click.option("--clock-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Run simulated time this many times faster (paas.clock; e.g. 30: a minute in 2 s).")
@click.option("--stages", default="", metavar="ENV,ENV",
              help="Also create these environments (own ECS clusters, dev's load balancer) for a pipeline, "
                   "e.g. staging,production.")
def up(port, workers, fast, clock_rate, stages):
    """Run the stack in the foreground until Ctrl-C or `paas dev down`.

    Other `paas` commands find it by themselves (the state file in $PAAS_HOME): its database,
    its AWS endpoint, and `--env dev` as the default environment.

    \b
    Example:
      paas dev up                                   # in one terminal
      paas deploy shop --image shop:1 --wait        # in another: no --env, no PAAS_DATABASE_URL needed
      paas dev up --stages staging,production       # environments for a pipeline (paas dev push)
    """
    from paas.domain import validate as v

    extra = [v.name(x.strip(), "environment name") for x in stages.split(",") if x.strip()]
    if "dev" in extra or len(set(extra)) != len(extra):
        raise UserError("--stages: each environment once, and not dev (the stack makes dev)")
    if clock_rate is not None and clock_rate != 1:
        os.environ["PAAS_CLOCK_EPOCH"] = repr(time.time())
        os.environ["PAAS_CLOCK_RATE"] = repr(clock_rate)
    try:
        from paas.devstack.up import DEMO_DURATIONS, DevStack
    except ImportError as e:  # moto and the embedded PostgreSQL come with the dev extras
        raise PaasError(f"`paas dev up` needs the development extras ({e.name} is missing): "
                        "pip install 'paas[dev]'") from None
    from paas.reconciler import logs
    from paas.settings import home

    if fast:
        for k, v in DEMO_DURATIONS.items():
            os.environ.setdefault(k, v)
    logs.setup("WARNING")
    stack = DevStack(home(), port=port, workers=workers, log=lambda m: click.echo(m, err=True), stages=extra)
    stop = {"now": False}

    def _stop(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        exports = stack.start()
        click.echo("# paas in other terminals picks these up by itself from the state file; other tools "
                   "(psql, aws) need them:", err=True)
        for k, v in exports.items():
            click.echo(f"export {k}={v}")
        sys.stdout.flush()
        click.echo("paas dev is up; Ctrl-C or `paas dev down` stops it", err=True)
        while not stop["now"]:
            time.sleep(0.2)
    finally:
        click.echo("stopping …", err=True)
        stack.stop()
        click.echo("paas dev stopped" + ("; the embedded PostgreSQL keeps running for the next start "
                                         "(`paas dev down` or `paas db stop` stops it)"
                                         if stack.started_database else ""), err=True)
    # Everything is stopped and the state file removed. Tearing down the interpreter with moto's
    # in-memory AWS loaded takes seconds of C-level garbage collection; skip it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@dev.command()
@click.option("--keep-db", is_flag=True, help="Leave the embedded PostgreSQL running (the next `paas dev up` "
              "starts faster).")
def down(keep_db):
    """Stop a running `paas dev up`, and the embedded PostgreSQL.

    \b
    Example:
      paas dev down
    """
    _stop_stack()
    if keep_db:
        return
    from paas.db.embedded import stop
    from paas.settings import home

    pgdata = home() / "pgdata"
    if stop(pgdata):
        click.echo(f"embedded PostgreSQL in {pgdata} stopped")


def _stop_stack() -> None:
    from paas.settings import dev_state_path

    try:
        state = json.loads(dev_state_path().read_text())
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        click.echo("paas dev is not running")
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        dev_state_path().unlink(missing_ok=True)
        click.echo("paas dev was not running (stale state file removed)")
        return
    for _ in range(600):
        # Stopped once it removed its state file (its last act) or is gone; a zombie counts as gone.
        if not dev_state_path().exists() or not _alive(pid):
            click.echo("paas dev stopped")
            return
        time.sleep(0.1)
    raise PaasError(f"paas dev (pid {pid}) did not stop within 60s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _profiles_path():
    from pathlib import Path

    from paas.settings import home, read_dev_state

    return Path(read_dev_state().get("profiles_path") or home() / "profiles.json")


@dev.group(cls=Group)
def profile():
    """How simulated containers behave (healthy by default)."""


@profile.command("set")
@click.argument("image_glob")
@click.option("--error-rate", type=float, help="Fraction of requests answered 5xx (0..1).")
@click.option("--p99-ms", type=float, help="99th percentile response time in ms.")
@click.option("--crash-loop/--no-crash-loop", default=None, help="Containers exit soon after starting.")
@click.option("--fail-ratio", type=float, help="Fraction of this image's tasks that crash soon after starting (0..1).")
@click.option("--start-seconds", type=float, help="Seconds from launch to RUNNING (image pull, container start).")
@click.option("--ready-seconds", type=float, help="Seconds from RUNNING until the app answers its health check.")
@click.option("--health-code", type=int, help="HTTP status the health-check path answers (e.g. 503).")
@click.option("--health-ms", type=float, help="How long the health check answer takes, in ms.")
@click.option("--run-seconds", type=float, help="How long a one-off task (RunTask) runs before it exits.")
@click.option("--exit-code", type=int, help="Exit code when the container exits by itself (0..255).")
@click.option("--log", "log_lines", multiple=True, help="A line the container prints (repeat for more lines).")
@click.option("--log-every", "log_every_seconds", type=float, help="Print the --log lines again this often (s).")
@click.option("--crash-message", help="The last line a crashing or failing container prints.")
@json_option
def profile_set(image_glob, log_lines, as_json, **options):
    """Set how containers of images matching IMAGE_GLOB behave.

    Options not given keep their value.

    \b
    Examples:
      paas dev profile set '*:bad*' --error-rate 0.2 --p99-ms 900
      paas dev profile set '*:crash*' --crash-loop --exit-code 137
    """
    from paas.devstack.profiles import set_profile

    fields = {k: v for k, v in options.items() if v is not None}
    if log_lines:
        fields["log"] = list(log_lines)
    if not image_glob.strip():
        raise UserError("IMAGE_GLOB is empty")
    try:
        prof = set_profile(_profiles_path(), image_glob, **fields)
    except ValueError as e:
        raise UserError(str(e)) from None
    from dataclasses import asdict

    if as_json:
        print_json({"image": image_glob, **asdict(prof)})
    else:  # what changed; `paas dev profile list` shows the rest
        click.echo(f"{image_glob}: " + ", ".join(f"{k}={v}" for k, v in asdict(prof).items() if k in fields))


@profile.command("list")
@json_option
def profile_list(as_json):
    """Profiles in match order (the last matching glob wins).

    \b
    Example:
      paas dev profile list --json
    """
    from dataclasses import asdict

    from paas.devstack.profiles import load_profiles

    entries = load_profiles(_profiles_path())
    if as_json:
        print_json([{"image": e.image, **asdict(e.profile)} for e in entries])
        return
    print_table(["image", "error rate", "p99 ms", "crash loop", "fail ratio", "start s", "ready s", "health",
                 "run s", "exit code", "log"],
                [(e.image, e.profile.error_rate, e.profile.p99_ms, e.profile.crash_loop, e.profile.fail_ratio,
                  e.profile.start_seconds, e.profile.ready_seconds, e.profile.health_code, e.profile.run_seconds,
                  "" if e.profile.exit_code is None else e.profile.exit_code, " | ".join(e.profile.log))
                 for e in entries])


@dev.command("push")
@click.argument("reference", metavar="REPO:TAG")
@click.option("--profile", "preset", help="How the image's containers behave: healthy, failing-tests, errors "
              "(30% 5xx), slow (p99 3 s), hanging-tests.")
@json_option
def push_cmd(reference, preset, as_json):
    """Push an image to the emulator's ECR and send ECR's push event.

    The event goes the way an AWS account sends it: EventBridge, then the SQS queue workers poll.

    \b
    Examples:
      paas dev push shop:main-3
      paas dev push shop:main-4 --profile failing-tests
    """
    from paas.devstack.push import dev_push
    from paas.settings import read_dev_state

    state = read_dev_state()
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or state.get("aws_endpoint_url")
    if not endpoint:
        raise UserError("no local stack: start one with `paas dev up`")
    out = dev_push(endpoint, state.get("region") or "us-east-1", reference, preset=preset,
                   profiles_path=_profiles_path())
    if as_json:
        print_json(out)
    else:
        click.echo(f"pushed {out['image']}")
