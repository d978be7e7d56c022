"""Frozen, typed records the storage layer returns: callers never see a raw row or a dict bag.

Each record names the columns it carries; `of(Record, row)` builds one from a result row and
fails loudly when a statement forgot a column, so a query and its record cannot drift apart.

They are `paas.domain.frozen.Frozen` classes, not dataclasses: they are built on every
`paas deploy`, where compiling a dataclass's methods at import is measurable.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, Mapping, TypeVar

from paas.domain.frozen import Frozen, setfield

T = TypeVar("T")

Record = Frozen  # the records' base, for isinstance checks


@cache
def _names(cls: type) -> tuple[str, ...]:
    if issubclass(cls, Frozen):
        return cls.__slots__
    from dataclasses import fields

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


class AppRecord(Frozen):
    """A row of `apps`."""

    __slots__ = ("id", "name", "app_type", "team", "gc_policy", "created_at")
    id: int
    name: str
    app_type: str
    team: str | None
    gc_policy: dict
    created_at: datetime

    def __init__(self, id: int, name: str, app_type: str, team: str | None, gc_policy: dict,
                 created_at: datetime) -> None:
        setfield(self, "id", id)
        setfield(self, "name", name)
        setfield(self, "app_type", app_type)
        setfield(self, "team", team)
        setfield(self, "gc_policy", gc_policy)
        setfield(self, "created_at", created_at)


class EnvironmentRecord(Frozen):
    """A row of `environments` (the columns every use needs; resync bookkeeping left out)."""

    __slots__ = ("id", "name", "region", "cluster", "listener_arn", "vpc_id", "subnets", "security_groups",
                 "role_arn", "alb_security_group", "assign_public_ip", "app_domain", "require_message", "created_at")
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

    def __init__(self, id: int, name: str, region: str, cluster: str, listener_arn: str | None,
                 vpc_id: str | None, subnets: tuple[str, ...], security_groups: tuple[str, ...],
                 role_arn: str | None, alb_security_group: str | None, assign_public_ip: bool,
                 app_domain: str | None, require_message: bool, created_at: datetime) -> None:
        setfield(self, "id", id)
        setfield(self, "name", name)
        setfield(self, "region", region)
        setfield(self, "cluster", cluster)
        setfield(self, "listener_arn", listener_arn)
        setfield(self, "vpc_id", vpc_id)
        setfield(self, "subnets", subnets)
        setfield(self, "security_groups", security_groups)
        setfield(self, "role_arn", role_arn)
        setfield(self, "alb_security_group", alb_security_group)
        setfield(self, "assign_public_ip", assign_public_ip)
        setfield(self, "app_domain", app_domain)
        setfield(self, "require_message", require_message)
        setfield(self, "created_at", created_at)


class ProcessRecord(Frozen):
    """A process type the app declared most recently (`processes`)."""

    __slots__ = ("name", "command", "port", "health_check_path")
    name: str
    command: str | None
    port: int | None
    health_check_path: str

    def __init__(self, name: str, command: str | None, port: int | None, health_check_path: str) -> None:
        setfield(self, "name", name)
        setfield(self, "command", command)
        setfield(self, "port", port)
        setfield(self, "health_check_path", health_check_path)


class ConfigRecord(Frozen):
    """A config version: env vars and secret references (never secret values)."""

    __slots__ = ("id", "version", "vars", "secrets", "actor", "created_at")
    id: int
    version: int
    vars: dict
    secrets: dict
    actor: str
    created_at: datetime

    def __init__(self, id: int, version: int, vars: dict, secrets: dict, actor: str, created_at: datetime) -> None:
        setfield(self, "id", id)
        setfield(self, "version", version)
        setfield(self, "vars", vars)
        setfield(self, "secrets", secrets)
        setfield(self, "actor", actor)
        setfield(self, "created_at", created_at)


class ReleaseRecord(Frozen):
    """A release with its image reference resolved (what requests and the reconciler build on)."""

    __slots__ = ("id", "version", "kind", "image", "image_id", "digest", "config_version_id", "formation",
                 "manifest", "copied_from_id", "known_good_at")
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

    def __init__(self, id: int, version: int, kind: str, image: str, image_id: int, digest: str | None,
                 config_version_id: int, formation: dict, manifest: dict, copied_from_id: int | None,
                 known_good_at: datetime | None) -> None:
        setfield(self, "id", id)
        setfield(self, "version", version)
        setfield(self, "kind", kind)
        setfield(self, "image", image)
        setfield(self, "image_id", image_id)
        setfield(self, "digest", digest)
        setfield(self, "config_version_id", config_version_id)
        setfield(self, "formation", formation)
        setfield(self, "manifest", manifest)
        setfield(self, "copied_from_id", copied_from_id)
        setfield(self, "known_good_at", known_good_at)


class BaseRelease(Frozen):
    """The release a config, secret or scale request builds on, and how it stands."""

    __slots__ = ("release", "deployment_id", "deployment_state", "strategy")
    release: ReleaseRecord
    deployment_id: int
    deployment_state: str  # succeeded or rolled_back (live), pending or in_progress (on its way)
    strategy: str

    def __init__(self, release: ReleaseRecord, deployment_id: int, deployment_state: str, strategy: str) -> None:
        setfield(self, "release", release)
        setfield(self, "deployment_id", deployment_id)
        setfield(self, "deployment_state", deployment_state)
        setfield(self, "strategy", strategy)

    @property
    def live(self) -> bool:
        return self.deployment_state not in ("pending", "in_progress")
