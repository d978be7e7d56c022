"""A pipeline promotion is a `paas deploy`: the same path builds its release and deployment.

The stage's strategy and canary steps apply; the manifest is the one the app runs in the stage
(as `paas deploy` without a paas.toml keeps it), or, for an app new to the stage, the manifest of
the release known-good in the stage before, so processes and routing travel with the image.
"""

from __future__ import annotations

from paas.db import requests, state
from paas.db.sql import Db
from paas.domain.manifest import Manifest
from paas.domain.pipeline import StageSpec
from paas.service import releases
from paas.service.catalog import require_app_env


def promote(db: Db, app: str, stage: StageSpec, image: str, *, actor: str, message: str,
            upstream_environment_id: int | None, upstream_release_id: int | None) -> int:
    """The deployment id; in the caller's transaction."""
    a, env = require_app_env(db, app, stage.environment)
    manifest = None
    if requests.base_release(db, a.id, env.id) is None and upstream_release_id is not None:
        row = state.releases(db, [upstream_release_id]).get(upstream_release_id)
        manifest = Manifest.from_json(row.manifest) if row is not None else None
    steps = list(stage.canary_steps) if stage.canary_steps and stage.strategy == "canary" else None
    req = releases.deploy(db, app, stage.environment, image, actor=actor, message=message[:1000],
                          strategy=stage.strategy, manifest=manifest, canary_steps=steps)
    return req.deployment_id
