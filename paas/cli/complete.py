"""Shell completion of app and environment names, read from the metadata database.

Completion runs on every Tab, so it must be quick and silent: it never starts the embedded
PostgreSQL, and any failure (no database, no schema, no permission) completes nothing.
"""

from __future__ import annotations

import os
from typing import Callable


def _url() -> str | None:
    explicit = os.environ.get("PAAS_DATABASE_URL")
    if explicit:
        return explicit
    from paas.settings import home, read_dev_state

    dev = read_dev_state().get("database_url")
    if dev:
        return dev
    from paas.db.embedded import url_for

    return url_for(home() / "pgdata")  # only when it is already running


def _names(read: Callable, incomplete: str) -> list:
    from click.shell_completion import CompletionItem

    url = _url()
    if not url:
        return []
    try:
        from paas.db.sql import connect

        db = connect(url, "paas-complete")
        try:
            names = read(db)
        finally:
            db.close()
    except Exception:  # a completion never prints an error into the user's command line
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def app_names(incomplete: str) -> list:
    from paas.db.catalog import list_apps

    return _names(lambda db: [a.name for a in list_apps(db)], incomplete)


def env_names(incomplete: str) -> list:
    from paas.db.catalog import list_envs

    return _names(lambda db: [e.name for e in list_envs(db)], incomplete)
