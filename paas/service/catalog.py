"""Environments and apps: the nouns every request names."""

from __future__ import annotations

from paas.db.sql import Db, Row
from paas.domain import validate as v
from paas.domain.errors import Conflict, NotFound


def get_app(db: Db, name: str) -> Row:
    v.name(name, "app name")
    row = db.one("SELECT * FROM apps WHERE name = %(n)s", n=name)
    if row is None:
        raise NotFound(f"no app named {name!r} (create it with: paas apps create {name})")
    return row


def get_env(db: Db, name: str | None) -> Row:
    if not name:
        raise NotFound("no environment given: pass --env or set PAAS_ENV")
    v.name(name, "environment name")
    row = db.one("SELECT * FROM environments WHERE name = %(n)s", n=name)
    if row is None:
        raise NotFound(f"no environment named {name!r} (see: paas env list)")
    return row


def create_env(db: Db, name: str, region: str, cluster: str, *, listener_arn: str | None = None,
               vpc_id: str | None = None, subnets: list[str] | None = None,
               security_groups: list[str] | None = None, role_arn: str | None = None,
               endpoint_url: str | None = None, require_message: bool = False) -> Row:
    v.name(name, "environment name")
    row = db.one(
        """
        INSERT INTO environments (name, region, cluster, listener_arn, vpc_id, subnets, security_groups,
                                  role_arn, endpoint_url, require_message)
        VALUES (%(name)s, %(region)s, %(cluster)s, %(listener)s, %(vpc)s, %(subnets)s, %(sgs)s,
                %(role)s, %(endpoint)s, %(req)s)
        ON CONFLICT (name) DO NOTHING
        RETURNING *
        """,
        name=name, region=region, cluster=cluster, listener=listener_arn, vpc=vpc_id,
        subnets=list(subnets or []), sgs=list(security_groups or []), role=role_arn,
        endpoint=endpoint_url, req=require_message,
    )
    if row is None:
        raise Conflict(f"environment {name!r} already exists")
    return row


def create_app(db: Db, name: str, app_type: str = "web", team: str | None = None) -> Row:
    v.name(name, "app name")
    v.choice(app_type, v.APP_TYPES, "app type")
    row = db.one(
        """
        INSERT INTO apps (name, app_type, team) VALUES (%(n)s, %(t)s, %(team)s)
        ON CONFLICT (name) DO NOTHING RETURNING *
        """,
        n=name, t=app_type, team=team,
    )
    if row is None:
        raise Conflict(f"app {name!r} already exists")
    return row
