"""The delivery pipeline an app declares in paas.toml's ``[pipeline]``: which pushes count, how
they are tested, and the ordered stages (environments) a release walks through.

```toml
[pipeline]
repository = "shop"                # the ECR repository watched (in the workers' account and region)
tags = "main-*"                    # a glob on the pushed tag, or "semver" (1.2.3, v1.2.3)
test_command = "pytest -q"         # run as a one-off task of the pushed image in the first stage
test_timeout = "15m"               # a check still running after this fails

[[pipeline.stages]]
environment = "staging"
strategy = "rolling"
soak = "30m"                       # known-good this long here before the next stage may have it

[[pipeline.stages]]
environment = "production"
strategy = "canary"
canary_steps = [10, 100]
approval = true                    # `paas approve APP --env production vN` first
```

Rules between keys (checked here, so by `paas deploy` and `paas pipeline set` alike): an
environment appears once, soaks are not negative (the key table refuses that), canary steps
only on a canary stage. That each environment exists is the service layer's check (it needs the
database).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from paas.domain.errors import UserError

SEMVER = "semver"
_SEMVER_RE = re.compile(r"v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
DEFAULT_TEST_TIMEOUT = 900.0
MAX_STAGES = 10


@dataclass(frozen=True)
class StageSpec:
    environment: str
    strategy: str = "rolling"
    canary_steps: tuple[int, ...] | None = None  # None: the release manifest's [strategy]
    soak_seconds: float = 0.0
    approval: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "strategy": self.strategy,
                "canary_steps": list(self.canary_steps) if self.canary_steps else None,
                "soak_seconds": self.soak_seconds, "approval": self.approval}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "StageSpec":
        steps = d.get("canary_steps")
        return cls(d["environment"], d.get("strategy", "rolling"), tuple(steps) if steps else None,
                   float(d.get("soak_seconds", 0.0)), bool(d.get("approval", False)))


@dataclass(frozen=True)
class PipelineSpec:
    repository: str
    tags: str
    test_command: str
    stages: tuple[StageSpec, ...]
    test_timeout_seconds: float = DEFAULT_TEST_TIMEOUT

    def matches(self, tag: str | None) -> bool:
        """Whether a pushed tag counts: the glob, or a semantic version for ``semver``."""
        if not tag:
            return False
        if self.tags == SEMVER:
            return _SEMVER_RE.fullmatch(tag) is not None
        return fnmatchcase(tag, self.tags)

    def stage_index(self, environment: str) -> int | None:
        for i, s in enumerate(self.stages):
            if s.environment == environment:
                return i
        return None

    def to_json(self) -> dict[str, Any]:
        return {"repository": self.repository, "tags": self.tags, "test_command": self.test_command,
                "test_timeout_seconds": self.test_timeout_seconds, "stages": [s.to_json() for s in self.stages]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "PipelineSpec":
        return cls(d["repository"], d["tags"], d["test_command"],
                   tuple(StageSpec.from_json(s) for s in d["stages"]),
                   float(d.get("test_timeout_seconds", DEFAULT_TEST_TIMEOUT)))


def check(p: PipelineSpec) -> PipelineSpec:
    """The rules between keys; UserError (one line) otherwise."""
    if not p.stages:
        raise UserError("paas.toml: pipeline needs at least one stage ([[pipeline.stages]])")
    if len(p.stages) > MAX_STAGES:
        raise UserError(f"paas.toml: pipeline has {len(p.stages)} stages, at most {MAX_STAGES}")
    seen: set[str] = set()
    for i, s in enumerate(p.stages):
        if s.environment in seen:
            raise UserError(f"paas.toml: pipeline stage {i + 1} names environment {s.environment!r} again "
                            "(each environment is one stage)")
        seen.add(s.environment)
        if s.soak_seconds < 0:
            raise UserError(f"paas.toml: pipeline stage {s.environment!r}: soak must not be negative")
        if s.canary_steps and s.strategy != "canary":
            raise UserError(f"paas.toml: pipeline stage {s.environment!r}: canary_steps need strategy = \"canary\"")
    if p.test_timeout_seconds <= 0:
        raise UserError("paas.toml: pipeline.test_timeout must be positive")
    return p


def parse_tag_pattern(value: str, what: str = "pipeline.tags") -> str:
    """A glob of tag characters (plus * ? [ ]) or ``semver``."""
    if value == SEMVER:
        return value
    if not re.fullmatch(r"[A-Za-z0-9_.*?\[\]!-]{1,128}", value):
        raise UserError(f"invalid {what} {value!r}: a glob on the tag such as main-* (letters, digits, _ . - "
                        "and * ? [ ]), or semver")
    return value


# --------------------------------------------------------------------------- state (as loaded)

from datetime import datetime  # noqa: E402


@dataclass(frozen=True)
class CheckState:
    id: int
    state: str  # running | passed | failed
    environment_id: int
    created_at: datetime
    task_arn: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    duration_seconds: float | None = None
    log_tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class PromotionState:
    id: int
    stage: int
    environment_id: int
    deployment_id: int
    deployment_state: str
    release_id: int
    release_version: int
    created_at: datetime
    finished_at: datetime | None = None
    known_good_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class PushState:
    id: int
    repository: str
    tag: str | None
    digest: str
    image: str
    state: str  # active | failed | superseded | released
    seen_at: datetime
    queued_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    check: CheckState | None = None
    promotions: tuple[PromotionState, ...] = ()  # by stage
    approvals: tuple[tuple[int, str, datetime], ...] = ()  # (environment id, approver, at)
    approval_notified: tuple[int, ...] = ()

    @property
    def progress(self) -> int:
        """How many stages this push has been promoted into (one in flight counts)."""
        return max((p.stage + 1 for p in self.promotions), default=0)

    def promotion(self, stage: int) -> PromotionState | None:
        return next((p for p in self.promotions if p.stage == stage), None)

    def approval(self, environment_id: int) -> tuple[str, datetime] | None:
        return next(((who, at) for env, who, at in self.approvals if env == environment_id), None)


@dataclass(frozen=True)
class PipelineState:
    app_id: int
    app: str
    spec: PipelineSpec
    stage_environment_ids: tuple[int | None, ...]  # per stage; None: the environment is gone
    pushes: tuple[PushState, ...]  # oldest first
    live: dict[int, int]  # environment id → live release id (paas_live_releases)
