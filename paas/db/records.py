"""Frozen, typed records the storage layer returns: callers never see a raw row or a dict bag.

Each record names the columns it carries; `of(Record, row)` builds one from a result row and
fails loudly when a statement forgot a column, so a query and its record cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


@cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def of(cls: type[T], row: Mapping[str, Any]) -> T:
    """Build `cls` from the row's columns of the same names (extra columns are ignored)."""
    return cls(**{n: _convert(row[n]) for n in _names(cls)})  # type: ignore[call-arg]


def maybe(cls: type[T], row: Mapping[str, Any] | None) -> T | None:
    return None if row is None else of(cls, row)


def _convert(value: Any) -> Any:
    if isinstance(value, list) and not any(isinstance(x, dict) for x in value):
        return tuple(value)
    return value


@dataclass(frozen=True)
class AppRecord:
    """A row of `apps`."""

    id: int
    name: str
    app_type: str
    team: str | None
    gc_policy: dict
    created_at: datetime


@dataclass(frozen=True)
class EnvironmentRecord:
    """A row of `environments` (the columns every use needs; resync bookkeeping left out)."""

    id: int
    name: str
    region: str
    cluster: str
    listener_arn: str | None
    vpc_id: str | None
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    role_arn: str | None
    alb_security_group: str | None
    assign_public_ip: bool
    app_domain: str | None
    require_message: bool
    created_at: datetime


@dataclass(frozen=True)
class ProcessRecord:
    """A process type the app declared most recently (`processes`)."""

    name: str
    command: str | None
    port: int | None
    health_check_path: str


@dataclass(frozen=True)
class ConfigRecord:
    """A config version: env vars and secret references (never secret values)."""

    id: int
    version: int
    vars: dict
    secrets: dict
    actor: str
    created_at: datetime


@dataclass(frozen=True)
class ReleaseRecord:
    """A release with its image reference resolved (what requests and the reconciler build on)."""

    id: int
    version: int
    kind: str
    image: str
    image_id: int
    digest: str | None  # the release's pinned digest, else the image's
    config_version_id: int
    formation: dict
    manifest: dict
    copied_from_id: int | None
    known_good_at: datetime | None


@dataclass(frozen=True)
class BaseRelease:
    """The release a config, secret or scale request builds on, and how it stands."""

    release: ReleaseRecord
    deployment_id: int
    deployment_state: str  # succeeded or rolled_back (live), pending or in_progress (on its way)
    strategy: str

    @property
    def live(self) -> bool:
        return self.deployment_state not in ("pending", "in_progress")
