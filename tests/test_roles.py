"""`paas db roles`: least privilege, and deployment events nobody can rewrite."""

from __future__ import annotations

import uuid

import psycopg2
import psycopg2.errors
import pytest


@pytest.fixture
def roles(paas, staging, db):
    assert paas("deploy", "checkout", "--image", "nginx:1", "--env", "staging", "-m", "first").code == 0
    assert paas("config", "set", "checkout", "DATABASE_PASSWORD=hunter2", "--env", "staging").code == 0
    r = paas("db", "roles")
    assert r.code == 0, r.err
    assert {"paas_cli", "paas_worker", "paas_readonly"} <= {ln.split(":")[0] for ln in r.out.splitlines()}
    assert paas("db", "roles").code == 0  # idempotent
    return db


@pytest.fixture
def login_role(db_url):
    """A throw-away login role (roles are cluster-wide: unique name, dropped afterwards)."""
    name = f"paas_t_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE ROLE {name} LOGIN")
    yield name
    conn.cursor().execute(f"DROP ROLE IF EXISTS {name}")
    conn.close()


def _as(db_url: str, role: str):
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    conn.cursor().execute(f"SET ROLE {role}")
    return conn


def _q(conn, sql: str):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else cur.rowcount


def test_readonly_reads_views_but_not_config(roles, db_url, login_role):
    admin = psycopg2.connect(db_url)
    admin.autocommit = True
    admin.cursor().execute(f"GRANT paas_readonly TO {login_role}")
    admin.close()
    ro = _as(db_url, login_role)
    try:
        for table in ("config_versions", "releases", "deployments", "deployment_events", "apps"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                _q(ro, f"SELECT * FROM {table}")
        history = _q(ro, "SELECT app, environment, release_version, state FROM paas_deploy_history")
        assert sorted(history) == [("checkout", "staging", 1, "superseded"), ("checkout", "staging", 2, "pending")]
        assert _q(ro, "SELECT count(*) FROM paas_current_releases") == [(0,)]
        assert "hunter2" not in str(_q(ro, "SELECT * FROM paas_deploy_history"))
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            _q(ro, "INSERT INTO apps (name) VALUES ('sneaky')")
    finally:
        ro.close()


def test_without_the_grant_the_views_are_closed(roles, db_url, login_role):
    """The login role can read the views only through paas_readonly (so the test above can fail)."""
    c = _as(db_url, login_role)
    try:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            _q(c, "SELECT * FROM paas_deploy_history")
    finally:
        c.close()


@pytest.mark.parametrize("who", ["owner", "paas_worker", "paas_cli"])
def test_nobody_rewrites_deployment_events(roles, db_url, who):
    conn = psycopg2.connect(db_url) if who == "owner" else _as(db_url, who)
    conn.autocommit = True
    try:
        assert _q(conn, "SELECT count(*) FROM deployment_events")[0][0] >= 2
        for stmt in ("UPDATE deployment_events SET message = 'rewritten'",
                     "DELETE FROM deployment_events",
                     "TRUNCATE deployment_events CASCADE"):
            with pytest.raises((psycopg2.errors.InsufficientPrivilege, psycopg2.errors.RaiseException)) as e:
                _q(conn, stmt)
            if who == "owner":  # the superuser/owner is stopped by the trigger, not by grants
                assert "append-only" in str(e.value)
        assert _q(conn, "SELECT count(*) FROM deployment_events WHERE message = 'rewritten'") == [(0,)]
    finally:
        conn.close()


def test_events_can_still_be_appended(roles, db_url):
    conn = _as(db_url, "paas_worker")
    try:
        n = _q(conn, "INSERT INTO deployment_events (deployment_id, kind, message) "
                     "SELECT min(id), 'note', 'worker was here' FROM deployments")
        assert n == 1
    finally:
        conn.close()


def test_cli_role_cannot_delete_or_rewrite_history(roles, db_url):
    conn = _as(db_url, "paas_cli")
    try:
        for stmt in ("DELETE FROM deployments", "DELETE FROM releases", "UPDATE releases SET actor = 'x'",
                     "UPDATE deployments SET actor = 'x'", "DELETE FROM config_versions"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                _q(conn, stmt)
        # what it may do: read, and supersede a pending deployment
        assert _q(conn, "SELECT count(*) FROM config_versions")[0][0] >= 1
        assert _q(conn, "UPDATE deployments SET state = 'cancelled', finished_at = now() "
                        "WHERE state = 'pending'") == 1
    finally:
        conn.close()


def test_cli_role_can_run_the_request_path(roles, db_url, login_role, paas, monkeypatch):
    """`paas deploy` works as a login role holding only paas_cli."""
    admin = psycopg2.connect(db_url)
    admin.autocommit = True
    admin.cursor().execute(f"GRANT paas_cli TO {login_role}")
    admin.close()
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(db_url)
    host = parts.hostname
    if host is None:  # socket URL: postgresql://postgres@/db?host=/sock
        monkeypatch.setenv("PAAS_DATABASE_URL", db_url.replace("postgres@", f"{login_role}@", 1))
    else:
        netloc = f"{login_role}@{host}" + (f":{parts.port}" if parts.port else "")
        monkeypatch.setenv("PAAS_DATABASE_URL", urlunsplit(parts._replace(netloc=netloc)))
    r = paas("deploy", "checkout", "--image", "nginx:2", "--env", "staging")
    if r.code != 0 and "password authentication failed" in r.err:
        pytest.skip("the server requires passwords for new roles")
    assert r.code == 0, r.err
    assert paas("scale", "checkout", "web=2", "--env", "staging").code == 0
    assert paas("history", "checkout").code == 0
    assert paas("deployments", "cancel", "4").code == 0
