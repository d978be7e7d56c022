"""Apps, environments and processes: the nouns every request names.

Each function runs in the caller's transaction and returns typed records (`paas.db.records`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from paas.db.records import AppRecord, EnvironmentRecord, ProcessRecord, maybe, of
from paas.db.sql import Db, jsonb

if TYPE_CHECKING:
    from paas.db.read_records import AppSummary, LiveRecord

_ENV_COLUMNS = ("id, name, region, cluster, listener_arn, vpc_id, subnets, security_groups, role_arn, "
                "alb_security_group, assign_public_ip, app_domain, require_message, created_at")


def find_app(db: Db, name: str) -> AppRecord | None:
    return maybe(AppRecord, db.one("SELECT * FROM apps WHERE name = %(n)s", n=name))


def find_env(db: Db, name: str) -> EnvironmentRecord | None:
    return maybe(EnvironmentRecord, db.one(f"SELECT {_ENV_COLUMNS} FROM environments WHERE name = %(n)s", n=name))


def app_and_env(db: Db, app: str, env: str) -> tuple[AppRecord | None, EnvironmentRecord | None]:
    """Both in one round trip: this runs on every request."""
    row = db.one(
        "SELECT (SELECT row_to_json(a) FROM apps a WHERE a.name = %(a)s) AS app, "
        f"(SELECT row_to_json(e) FROM (SELECT {_ENV_COLUMNS} FROM environments WHERE name = %(e)s) e) AS env",
        a=app, e=env,
    )
    a = of(AppRecord, {**row.app, "created_at": _ts(row.app["created_at"])}) if row.app else None
    e = of(EnvironmentRecord, {**row.env, "created_at": _ts(row.env["created_at"])}) if row.env else None
    return a, e


def _ts(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value)


def insert_env(db: Db, name: str, region: str, cluster: str, *, listener_arn: str | None, vpc_id: str | None,
               subnets: Sequence[str], security_groups: Sequence[str], role_arn: str | None,
               alb_security_group: str | None, assign_public_ip: bool, app_domain: str | None,
               require_message: bool) -> EnvironmentRecord | None:
    """None when the name is taken."""
    return maybe(EnvironmentRecord, db.one(
        f"""
        INSERT INTO environments (name, region, cluster, listener_arn, vpc_id, subnets, security_groups,
                                  role_arn, alb_security_group, assign_public_ip, app_domain, require_message)
        VALUES (%(name)s, %(region)s, %(cluster)s, %(listener)s, %(vpc)s, %(subnets)s, %(sgs)s,
                %(role)s, %(alb)s, %(public)s, %(domain)s, %(req)s)
        ON CONFLICT (name) DO NOTHING
        RETURNING {_ENV_COLUMNS}
        """,
        name=name, region=region, cluster=cluster, listener=listener_arn, vpc=vpc_id,
        subnets=list(subnets), sgs=list(security_groups), role=role_arn, alb=alb_security_group,
        public=assign_public_ip, domain=app_domain, req=require_message,
    ))


def list_envs(db: Db) -> list[EnvironmentRecord]:
    return [of(EnvironmentRecord, r) for r in db.all(f"SELECT {_ENV_COLUMNS} FROM environments ORDER BY name")]


def insert_app(db: Db, name: str, app_type: str, team: str | None) -> AppRecord | None:
    """None when the name is taken."""
    return maybe(AppRecord, db.one(
        "INSERT INTO apps (name, app_type, team) VALUES (%(n)s, %(t)s, %(team)s) "
        "ON CONFLICT (name) DO NOTHING RETURNING *",
        n=name, t=app_type, team=team,
    ))


def list_apps(db: Db) -> list["AppSummary"]:
    from paas.db.read_records import AppSummary

    return [of(AppSummary, r) for r in db.all(
        """
        SELECT a.name, a.app_type, a.team, a.created_at,
               (SELECT count(*) FROM releases r WHERE r.app_id = a.id) AS releases,
               (SELECT max(d.created_at) FROM deployments d WHERE d.app_id = a.id) AS last_deploy_at
          FROM apps a ORDER BY a.name
        """
    )]


def processes(db: Db, app_id: int) -> list[ProcessRecord]:
    return [of(ProcessRecord, r) for r in db.all(
        "SELECT name, command, port, health_check_path FROM processes WHERE app_id = %(a)s ORDER BY name", a=app_id)]


UPSERT_PROCESSES_SQL = """
INSERT INTO processes (app_id, name, command, port, health_check_path)
SELECT %(a)s, * FROM unnest(%(n)s::text[], %(c)s::text[], %(p)s::int[], %(h)s::text[])
ON CONFLICT (app_id, name) DO UPDATE
   SET command = EXCLUDED.command, port = EXCLUDED.port, health_check_path = EXCLUDED.health_check_path
"""


def process_params(procs: Sequence[ProcessRecord]) -> dict:
    """UPSERT_PROCESSES_SQL's parameters but the app id (%(a)s)."""
    return {"n": [p.name for p in procs], "c": [p.command for p in procs], "p": [p.port for p in procs],
            "h": [p.health_check_path for p in procs]}


def upsert_processes(db: Db, app_id: int, procs: Sequence[ProcessRecord]) -> None:
    """The process types the app declared most recently (its manifest)."""
    db.execute(UPSERT_PROCESSES_SQL, a=app_id, **process_params(procs))


def set_gc_policy(db: Db, app_id: int, overrides: dict) -> AppRecord:
    return of(AppRecord, db.one("UPDATE apps SET gc_policy = %(g)s::jsonb WHERE id = %(i)s RETURNING *",
                                g=jsonb(overrides), i=app_id))


def live_releases_of(db: Db, app_id: int) -> list["LiveRecord"]:
    """What the app runs in each environment (`paas_current_releases`, built on `paas_live_releases`)."""
    from paas.db.read_records import LiveRecord

    return [of(LiveRecord, r) for r in db.all(
        "SELECT * FROM paas_current_releases WHERE app_id = %(a)s ORDER BY environment", a=app_id)]
