"""`paas notify`: webhooks told about pipelines and deployments (Slack or signed JSON).

A webhook URL carries its token, so it is handled like a secret: stored as an SSM SecureString
through the store environment's driver, never in the database, never printed (lists show
``https://host/…``). Pass ``-`` as the URL to type or pipe it instead of leaving it in shell
history. Each target has a signing secret (generated and shown once, or `--secret-from-file`)
that receivers use to check ``X-Paas-Signature``.
"""

from __future__ import annotations

import sys

import click

from paas.cli.common import Group, actor_option, actor_or_default, database, json_option, print_json, print_table
from paas.domain import notify as nd
from paas.domain import validate as v
from paas.domain.errors import UserError


@click.group(cls=Group)
def notify():
    """Webhooks told about an app's pipeline and deployments.

    Slack messages or signed JSON, delivered at least once, in order per target.
    """


def _env_name(ctx, param, value):
    return v.name(value, "environment name") if value else None


def _default_store_env(ctx, param, value):
    if value:
        return v.name(value, "environment name")
    from paas.settings import dev_env

    found = dev_env()
    return v.name(found, "environment name") if found else None


def _read_stdin(what: str, limit: int) -> str:
    if sys.stdin.isatty():
        import getpass

        try:
            return getpass.getpass(f"{what} (not shown): ", stream=sys.stderr)
        except EOFError:
            raise UserError(f"no {what} given") from None
    source = getattr(sys.stdin, "buffer", None)
    raw = source.read(limit + 3) if source is not None else sys.stdin.read(limit + 3)
    return _text(raw, what)


def _text(raw: bytes | str, what: str) -> str:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"the {what} is not valid UTF-8") from None
    return raw[:-1] if raw.endswith("\n") else raw


def _target_id(value: str) -> int:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 10:
        raise UserError(f"invalid target id {value[:20]!r}: expected a number (see: paas notify list APP)")
    return v.integer(int(value), "target id", 1, 2**31 - 1)


def _new_secret() -> str:
    import secrets

    return "whsec_" + secrets.token_urlsafe(32)


@notify.command("add")
@click.argument("app")
@click.argument("url")
@click.option("--env", "-e", "env", callback=_env_name,
              help="Only this environment's events (default: every environment of the app).")
@click.option("--store-env", envvar="PAAS_ENV", show_envvar=True, callback=_default_store_env,
              help="For a target of every environment: the environment whose AWS account keeps the URL in SSM "
                   "(default: $PAAS_ENV, else the one `paas dev up` made).")
@click.option("--format", "fmt", default="json", show_default=True, metavar="slack|json",
              help="slack: {\"text\": summary}; json: the documented payload.")
@click.option("--events", "events", multiple=True, metavar="EVENT[,EVENT...]",
              help=f"Events to send (repeatable or comma-separated; default: all): {', '.join(nd.EVENTS)}.")
@click.option("--secret-from-file", type=click.File("rb"),
              help="Use this signing secret (16-256 printable characters) instead of a generated one.")
@actor_option
@json_option
def notify_add(app, url, env, store_env, fmt, events, secret_from_file, actor, as_json):
    """Send APP's events to webhook URL.

    URL must be https (http only to loopback).

    The URL is stored in SSM Parameter Store as a SecureString, never in the database, and is
    never shown again (lists show scheme://host/…). Give `-` as URL to type it without echo or
    pipe it, keeping it out of shell history. A signing secret is generated and shown once
    (unless --secret-from-file): receivers check X-Paas-Signature with it (see the README).

    \b
    Examples:
      paas notify add checkout - --format slack --env production < slack-webhook.txt
      paas notify add checkout https://ci.example.com/paas-hook --events deploy_failed,rolled_back
    """
    from uuid import uuid4

    app = v.name(app, "app name")
    fmt = nd.fmt(fmt)
    wanted = nd.events(events)
    who = actor_or_default(actor)
    if url == "-":
        url = _read_stdin("webhook URL", nd.URL_MAX)
    url = nd.check_url(url)
    if secret_from_file is not None:
        secret = nd.check_secret(_text(secret_from_file.read(nd.SECRET_MAX + 3), "signing secret"))
        shown = None
    else:
        secret = shown = _new_secret()

    from paas.cli.common import transaction
    from paas.reconciler.drivers import driver_for
    from paas.service import notify as svc

    with database() as db:
        a, e, store = svc.scope(db, app, env, store_env)
    url_param, secret_param = nd.parameter_names(a.name, uuid4().hex)
    drv = driver_for(store)
    display = nd.redact_url(url)
    try:
        drv.put_parameter(url_param, url)
        drv.put_parameter(secret_param, secret)
        del url, secret
        with transaction() as db:
            target_id = svc.record(db, a, e, store, fmt=fmt, events=wanted, url_param=url_param,
                                   secret_param=secret_param, url_display=display, actor=who)
    except BaseException:
        try:  # nothing was recorded: leave no parameter behind
            drv.delete_parameters([url_param, secret_param])
        except Exception:  # noqa: BLE001 - the first error is the one to report
            pass
        raise
    out = {"id": target_id, "app": a.name, "environment": e.name if e else None, "format": fmt,
           "events": list(wanted), "url": display, "store_environment": store.name}
    if as_json:
        print_json({**out, "signing_secret": shown})
        return
    click.echo(f"notification target {target_id} for {a.name} ({e.name if e else 'every environment'}): {display}, "
               f"{fmt}, events {', '.join(wanted)}")
    if shown:
        click.echo(f"signing secret (shown once; receivers verify X-Paas-Signature with it): {shown}")


@notify.command("list")
@click.argument("app")
@click.option("--all", "removed", is_flag=True, help="Also removed targets.")
@json_option
def notify_list(app, removed, as_json):
    """APP's notification targets and their delivery counts.

    URLs are shown redacted (scheme://host/…).

    \b
    Example:
      paas notify list checkout --json
    """
    from paas.service.notify import list_targets

    app = v.name(app, "app name")
    with database() as db:
        rows = list_targets(db, app, removed=removed)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"{app} has no notification targets (add one: paas notify add {app} URL)", err=True)
        return
    print_table(["id", "environment", "format", "url", "events", "pending", "delivered", "dead", "last error"],
                [(r["id"], r["environment"] or "*", r["format"] + (" (removed)" if r["removed_at"] else ""), r["url"],
                  ",".join(r["events"]) if len(r["events"]) < len(nd.EVENTS) else "all", r["pending"],
                  r["delivered"], r["dead"], r["last_error"]) for r in rows])


@notify.command("remove")
@click.argument("app")
@click.argument("target_id", metavar="ID")
@actor_option
@json_option
def notify_remove(app, target_id, actor, as_json):
    """Stop notifying target ID of APP (its URL and secret leave SSM).

    Notifications still pending for it are dropped (recorded as `dropped`).

    \b
    Example:
      paas notify remove checkout 3
    """
    from paas.cli.common import transaction
    from paas.service import notify as svc

    app = v.name(app, "app name")
    tid = _target_id(target_id)
    who = actor_or_default(actor)
    with transaction() as db:
        out = svc.remove(db, app, tid, who)
    warning = None
    try:
        from paas.reconciler.drivers import driver_for
        from paas.service.catalog import get_env

        with database() as db:
            store = get_env(db, out["store_environment"])
        driver_for(store).delete_parameters(out["parameters"])
    except Exception as e:  # the target is removed; the parameters can be deleted by hand
        warning = (f"target {tid} removed, but its SSM parameters could not be deleted "
                   f"({str(e).splitlines()[0][:200] if str(e) else type(e).__name__}): {' '.join(out['parameters'])}")
    if as_json:
        print_json({"id": tid, "app": out["app"], "removed": True, "parameters_deleted": warning is None})
    else:
        click.echo(f"notification target {tid} of {out['app']} removed ({out['url']})")
    if warning:
        click.echo(f"warning: {warning}", err=True)


@notify.command("secret")
@click.argument("app")
@click.argument("target_id", metavar="ID")
@click.option("--from-file", "from_file", type=click.File("rb"),
              help="Use this signing secret (16-256 printable characters) instead of a generated one.")
@json_option
def notify_secret(app, target_id, from_file, as_json):
    """Replace the signing secret of target ID of APP.

    A generated secret is shown once.

    Workers pick it up within PAAS_NOTIFY_CACHE (default 60 s); receivers should accept both
    secrets meanwhile.

    \b
    Example:
      paas notify secret checkout 3
    """
    from paas.reconciler.drivers import driver_for
    from paas.service.notify import store_env_of

    app = v.name(app, "app name")
    tid = _target_id(target_id)
    if from_file is not None:
        secret = nd.check_secret(_text(from_file.read(nd.SECRET_MAX + 3), "signing secret"))
        shown = None
    else:
        secret = shown = _new_secret()
    with database() as db:
        t, store = store_env_of(db, app, tid)
    driver_for(store).put_parameter(t.secret_param, secret, overwrite=True)
    del secret
    if as_json:
        print_json({"id": tid, "app": app, "signing_secret": shown})
    elif shown:
        click.echo(f"new signing secret of target {tid} (shown once): {shown}")
    else:
        click.echo(f"signing secret of target {tid} replaced")


@notify.command("deliveries")
@click.argument("app")
@click.option("--target", "target_id", help="Only this target's.")
@click.option("--limit", "-n", default="50", show_default=True, help="At most N, newest first.")
@json_option
def notify_deliveries(app, target_id, limit, as_json):
    """APP's newest notifications and their delivery state.

    States: pending (being tried, or waiting to be retried), delivered, dead (failed for longer
    than PAAS_NOTIFY_MAX_AGE) and dropped (the target was removed first).

    \b
    Example:
      paas notify deliveries checkout --target 3
    """
    from paas.service.notify import deliveries

    app = v.name(app, "app name")
    tid = _target_id(target_id) if target_id is not None else None
    if not limit.isascii() or not limit.isdigit() or len(limit) > 5:
        raise UserError(f"invalid --limit {limit[:20]!r}: expected a number from 1 to 1000")
    n = v.integer(int(limit), "--limit", 1, 1000)
    with database() as db:
        rows = deliveries(db, app, tid, n)
    if as_json:
        print_json(rows)
        return
    print_table(["id", "target", "event", "environment", "state", "attempts", "created", "next attempt", "status",
                 "last error"],
                [(r["id"], r["target_id"], r["event"], r["environment"], r["state"], r["attempts"], r["created_at"],
                  r["next_attempt_at"], r["last_status"], r["last_error"]) for r in rows])
