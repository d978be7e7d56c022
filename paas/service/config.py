"""Reading an app's config: env vars and secret references, never secret values."""

from __future__ import annotations

from paas.db import requests
from paas.db.records import ConfigRecord
from paas.db.sql import Db
from paas.domain.errors import NotFound
from paas.service.catalog import require_app_env


def config_version(db: Db, app: str, env: str | None, version: int | None = None) -> ConfigRecord | None:
    """A config version (default: the one the newest live or on-its-way release uses, else the latest)."""
    a, e = require_app_env(db, app, env)
    if version is not None:
        row = requests.config_by_version(db, a.id, e.id, version)
        if row is None:
            raise NotFound(f"{app} has no config v{version} in {e.name}")
        return row
    base = requests.base_release(db, a.id, e.id)
    if base is not None:
        return requests.config_by_id(db, base.release.config_version_id)
    return requests.latest_config(db, a.id, e.id)
