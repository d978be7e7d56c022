"""`paas worker` (long-running) and `paas reconcile --once` (cron)."""

from __future__ import annotations

import click


def _start(concurrency: int, once: bool, metrics_port: int | None, log_level: str,
           metrics_host: str = "0.0.0.0") -> None:
    import signal

    from paas.db.sql import connect
    from paas.db.url import resolve
    from paas.reconciler import logs
    from paas.reconciler.worker import Worker

    logs.setup(log_level.upper())
    from paas.settings import Durations

    Durations()  # a bad PAAS_* duration is one line at start, not an error in a worker thread
    _check_faults()
    url = resolve()
    connect(url).close()  # fail fast, one line, when the database is unreachable
    if metrics_port is not None:
        from prometheus_client import start_http_server

        from paas.reconciler.metrics import register_aws_collector

        register_aws_collector()
        start_http_server(metrics_port, addr=metrics_host)
    w = Worker(url, concurrency=concurrency, once=once)

    def _term(signum, frame):
        w.stop()

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    w.run()


def _check_faults() -> None:
    """PAAS_AWS_FAULTS (drills) is parsed at start, so a typo stops the worker with one line."""
    import os

    if os.environ.get("PAAS_AWS_FAULTS", "").strip():
        from paas.aws.faults import FaultSpec

        FaultSpec.from_env()


def _concurrency(ctx, param, value):
    if value < 1 or value > 64:
        raise click.BadParameter("must be from 1 to 64")
    return value


@click.command()
@click.option("--concurrency", "-c", default=4, show_default=True, callback=_concurrency,
              help="App+environments reconciled at once by this process.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve Prometheus metrics on this port.")
@click.option("--metrics-host", default="0.0.0.0", show_default=True, help="Address the metrics server binds.")
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]),
              show_default=True, help="Least severe JSON log line written to stderr.")
def worker(concurrency, metrics_port, metrics_host, log_level):
    """Run a reconciler worker until SIGTERM.

    It writes JSON log lines on stderr.

    Any number of workers may run on any number of hosts against one database.

    \b
    Example:
      paas worker --concurrency 4 --metrics-port 9108
    """
    _start(concurrency, False, metrics_port, log_level, metrics_host)


@click.command()
@click.option("--once", is_flag=True,
              help="Do all due work, then exit (what this command always does; accepted for cron lines that say so).")
@click.option("--concurrency", "-c", default=4, show_default=True, callback=_concurrency,
              help="App+environments reconciled at once by this process.")
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]),
              show_default=True, help="Least severe JSON log line written to stderr.")
def reconcile(once, concurrency, log_level):
    """Reconcile everything that is due, then exit (for cron).

    Safe to run from several hosts at once.

    \b
    Example (crontab):
      * * * * *  paas reconcile --once
    """
    _start(concurrency, True, None, log_level)
