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


def _concurrency(ctx, param, value):
    if value < 1 or value > 64:
        raise click.BadParameter("must be from 1 to 64")
    return value


@click.command()
@click.option("--concurrency", "-c", default=4, show_default=True, callback=_concurrency,
              help="App+environments reconciled at once by this process.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve Prometheus metrics on this port.")
@click.option("--metrics-host", default="0.0.0.0", show_default=True, help="Address the metrics server binds.")
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
def worker(concurrency, metrics_port, metrics_host, log_level):
    """Run a reconciler worker until SIGTERM (JSON log lines on stderr)."""
    _start(concurrency, False, metrics_port, log_level, metrics_host)


@click.command()
@click.option("--once", is_flag=True, required=True, help="Do all due work, then exit (for cron).")
@click.option("--concurrency", "-c", default=4, show_default=True, callback=_concurrency)
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
def reconcile(once, concurrency, log_level):
    """Reconcile everything that is due, then exit; safe to run from several hosts at once."""
    _start(concurrency, True, None, log_level)
