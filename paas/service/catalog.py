"""Environments and apps: the nouns every request names."""

from __future__ import annotations

from typing import Sequence

from paas.db import catalog
from paas.db.records import AppRecord, EnvironmentRecord
from paas.db.sql import Db
from paas.domain import routing
from paas.domain import validate as v
from paas.domain.errors import Conflict, NotFound, UserError


def _app_missing(name: str) -> NotFound:
    return NotFound(f"no app named {name!r} (create it with: paas apps create {name})")


def _env_missing(name: str) -> NotFound:
    return NotFound(f"no environment named {name!r} (see: paas env list)")


def _env_name(name: str | None) -> str:
    if not name:
        raise NotFound("no environment given: pass --env or set PAAS_ENV")
    return v.name(name, "environment name")


def get_app(db: Db, name: str) -> AppRecord:
    v.name(name, "app name")
    app = catalog.find_app(db, name)
    if app is None:
        raise _app_missing(name)
    return app


def get_env(db: Db, name: str | None) -> EnvironmentRecord:
    env = catalog.find_env(db, _env_name(name))
    if env is None:
        raise _env_missing(name or "")
    return env


def require_app_env(db: Db, app_name: str, env_name: str | None) -> tuple[AppRecord, EnvironmentRecord]:
    """Both, in one round trip, or the one-line NotFound for whichever is missing."""
    v.name(app_name, "app name")
    env_name = _env_name(env_name)
    app, env = catalog.app_and_env(db, app_name, env_name)
    if app is None:
        raise _app_missing(app_name)
    if env is None:
        raise _env_missing(env_name)
    return app, env


def create_env(db: Db, name: str, region: str, cluster: str, *, listener_arn: str | None = None,
               vpc_id: str | None = None, subnets: Sequence[str] = (), security_groups: Sequence[str] = (),
               role_arn: str | None = None, alb_security_group: str | None = None, assign_public_ip: bool = False,
               app_domain: str | None = None, require_message: bool = False) -> EnvironmentRecord:
    """Every setting checked in the shape AWS issues it (paas.domain.environment) before it is stored."""
    from paas.domain import environment  # not on the request path: only `env create` needs it

    v.name(name, "environment name")
    s = environment.settings(region=region, cluster=cluster, listener_arn=listener_arn, vpc_id=vpc_id,
                             subnets=subnets, security_groups=security_groups, alb_security_group=alb_security_group,
                             role_arn=role_arn, assign_public_ip=assign_public_ip)
    if app_domain is not None:
        routing.host(f"app.{app_domain}", "--app-domain")  # a host of every app must be valid
        if "*" in app_domain or "?" in app_domain:
            raise UserError(f"invalid --app-domain {app_domain!r}: no wildcards")
    row = catalog.insert_env(db, name, s.region, s.cluster, listener_arn=s.listener_arn, vpc_id=s.vpc_id,
                             subnets=s.subnets, security_groups=s.security_groups, role_arn=s.role_arn,
                             alb_security_group=s.alb_security_group, assign_public_ip=s.assign_public_ip,
                             app_domain=app_domain.lower() if app_domain else None, require_message=require_message)
    if row is None:
        raise Conflict(f"environment {name!r} already exists")
    return row


def create_app(db: Db, name: str, app_type: str = "web", team: str | None = None) -> AppRecord:
    v.name(name, "app name")
    v.choice(app_type, v.APP_TYPES, "app type")
    v.team(team)
    row = catalog.insert_app(db, name, app_type, team)
    if row is None:
        raise Conflict(f"app {name!r} already exists")
    return row
