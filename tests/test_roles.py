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


def _login_as(db_url: str, login: str, role: str):
    """A connection as a login user that is a member of `role` (not SET ROLE from the owner)."""
    from urllib.parse import urlsplit, urlunsplit

    admin = psycopg2.connect(db_url)
    admin.autocommit = True
    admin.cursor().execute(f"GRANT {role} TO {login}")
    admin.close()
    parts = urlsplit(db_url)
    if parts.hostname is None:  # socket URL: postgresql://postgres@/db?host=/sock
        url = db_url.replace("postgres@", f"{login}@", 1)
    else:
        url = urlunsplit(parts._replace(netloc=f"{login}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")))
    try:
        conn = psycopg2.connect(url)
    except psycopg2.OperationalError as e:
        pytest.skip(f"cannot log in as a new role here: {e}")
    conn.autocommit = True
    return conn


def _refused(conn, stmt: str) -> None:
    """Refused by a grant, a row-level policy or a trigger, and nothing changed."""
    with pytest.raises((psycopg2.errors.InsufficientPrivilege, psycopg2.errors.RaiseException,
                        psycopg2.errors.CheckViolation)):
        _q(conn, stmt)


@pytest.fixture
def pending_and_running(roles, paas):
    """A finished deployment, one in progress, and a pending one on top."""
    db = roles
    db.execute("UPDATE deployments SET state = 'succeeded', started_at = now(), finished_at = now() "
               "WHERE id = (SELECT max(id) FROM deployments WHERE state = 'pending')")
    db.commit()
    assert paas("deploy", "checkout", "--image", "nginx:3", "--env", "staging").code == 0
    db.execute("UPDATE deployments SET state = 'in_progress', started_at = now() WHERE state = 'pending'")
    db.commit()
    assert paas("deploy", "checkout", "--image", "nginx:4", "--env", "staging").code == 0
    states = sorted(r.state for r in db.all("SELECT state FROM deployments"))
    assert states == ["in_progress", "pending", "succeeded", "superseded"], states
    return db


CLI_FORBIDDEN = [
    # a request cannot pretend to be a worker's outcome
    "UPDATE deployments SET state = 'succeeded', finished_at = now() WHERE state = 'pending'",
    "UPDATE deployments SET state = 'in_progress' WHERE state = 'pending'",
    "INSERT INTO deployment_events (deployment_id, kind, message) SELECT min(id), 'finished', 'forged' FROM deployments",
    "INSERT INTO deployment_events (deployment_id, kind, message, fencing_token) "
    "SELECT min(id), 'requested', 'forged', 99 FROM deployments",
    "INSERT INTO deployment_events (deployment_id, kind, message, aws_request_id) "
    "SELECT min(id), 'requested', 'forged', 'req-1' FROM deployments",
    "INSERT INTO releases (app_id, environment_id, version, kind, image_id, config_version_id, formation, manifest, "
    "actor, known_good_at) SELECT app_id, environment_id, 99, 'deploy', image_id, config_version_id, formation, "
    "manifest, 'x', now() FROM releases LIMIT 1",
    "INSERT INTO deployments (app_id, environment_id, release_id, strategy, actor, state, started_at) "
    "SELECT app_id, environment_id, id, 'rolling', 'x', 'in_progress', now() FROM releases LIMIT 1",
    "UPDATE deployments SET actor = 'someone else'",
    "UPDATE work_queue SET fencing_token = fencing_token + 1",
    "UPDATE work_queue SET lease_owner = 'me'",
    "SELECT * FROM paas_claim('me', 30, 1)",
    "UPDATE releases SET known_good_at = now()",
    "DELETE FROM deployment_requests",
    "UPDATE deployment_requests SET actor = 'x'",
    # task runs: only its own one-off runs, never a worker's record, never history rewritten
    "INSERT INTO task_runs (app_id, environment_id, kind, deployment_id, process, actor) "
    "SELECT app_id, environment_id, 'release', id, 'web', 'x' FROM deployments LIMIT 1",
    "INSERT INTO task_runs (app_id, environment_id, kind, process, actor, stopped_at, exit_code) "
    "SELECT id, (SELECT min(id) FROM environments), 'run', 'web', 'x', now(), 0 FROM apps LIMIT 1",
    "UPDATE task_runs SET actor = 'someone else'",
    "DELETE FROM task_runs",
    "INSERT INTO job_schedules (app_id, environment_id, job, expression, task_definition) "
    "SELECT id, (SELECT min(id) FROM environments), 'j', 'rate(1 hour)', 'arn' FROM apps LIMIT 1",
]

WORKER_FORBIDDEN = [
    # the request side of history is not the worker's to write
    "UPDATE deployments SET actor = 'x' WHERE state = 'pending'",
    "UPDATE deployments SET message = 'x' WHERE state = 'pending'",
    "UPDATE deployments SET release_id = release_id WHERE state = 'pending'",
    "UPDATE deployments SET created_at = now()",
    "INSERT INTO deployments (app_id, environment_id, release_id, strategy, actor) "
    "SELECT app_id, environment_id, id, 'rolling', 'x' FROM releases LIMIT 1",
    "INSERT INTO deployment_events (deployment_id, kind, message, actor) "
    "SELECT min(id), 'requested', 'forged', 'alice' FROM deployments",
    "INSERT INTO deployment_events (deployment_id, kind, message, actor) "
    "SELECT min(id), 'step', 'as someone', 'alice' FROM deployments",
    "UPDATE work_queue SET fencing_token = fencing_token + 1",
    "INSERT INTO deployment_requests (deployment_id, kind, actor) SELECT min(id), 'abort', 'x' FROM deployments",
    "UPDATE releases SET actor = 'x'",
    "DELETE FROM deployments",
    "UPDATE config_versions SET vars = '{}'",
    "INSERT INTO apps (name) VALUES ('sneaky')",
    # who ran what is the CLI's to record
    "INSERT INTO task_runs (app_id, environment_id, kind, process, actor) "
    "SELECT id, (SELECT min(id) FROM environments), 'run', 'web', 'forged' FROM apps LIMIT 1",
    "UPDATE task_runs SET command = '{rm,-rf}'",
    "DELETE FROM task_runs",
]


@pytest.mark.parametrize("stmt", CLI_FORBIDDEN)
def test_cli_login_cannot(pending_and_running, db_url, login_role, stmt):
    conn = _login_as(db_url, login_role, "paas_cli")
    try:
        before = _q(conn, "SELECT count(*) FROM deployment_events")
        _refused(conn, stmt)
        assert _q(conn, "SELECT count(*) FROM deployment_events") == before
    finally:
        conn.close()


@pytest.mark.parametrize("stmt", WORKER_FORBIDDEN)
def test_worker_login_cannot(pending_and_running, db_url, login_role, stmt):
    conn = _login_as(db_url, login_role, "paas_worker")
    try:
        _refused(conn, stmt)
    finally:
        conn.close()


def test_worker_cannot_touch_a_finished_deployment(pending_and_running, db_url, login_role):
    conn = _login_as(db_url, login_role, "paas_worker")
    try:
        done = _q(conn, "SELECT min(id) FROM deployments WHERE finished_at IS NOT NULL")[0][0]
        # row-level security hides finished rows from the worker's updates; the trigger backs it up
        assert _q(conn, f"UPDATE deployments SET state = 'failed', error = 'x' WHERE id = {done}") == 0
        assert _q(conn, f"SELECT state FROM deployments WHERE id = {done}") != [("failed",)]
    finally:
        conn.close()


def test_worker_login_can_do_its_job(pending_and_running, db_url, login_role):
    """Claim (through paas_claim), start, record, finish: what a pass needs."""
    conn = _login_as(db_url, login_role, "paas_worker")
    conn.autocommit = False
    try:
        from paas.db import deployment_writes as w
        from paas.db import queue
        from paas.db.sql import Db

        db = Db(conn)
        claims = queue.claim(db, "w1", 30.0)
        assert len(claims) == 1
        c = claims[0]
        dep = db.scalar("SELECT max(id) FROM deployments WHERE state = 'in_progress'")
        with db.transaction():
            queue.fence(db, c)
            w.supersede(db, dep, dep + 1, "superseded by the pending one", c.token)
            assert w.start(db, dep + 1, "w1", c.token)
            dep += 1
            w.event(db, dep, "step", "did a thing", step="X", token=c.token, request_id="req-1")
            w.record_observation(db, c.app_id, c.environment_id, {"processes": {}})
            w.record_task_definition(db, c.app_id, c.environment_id, "fam", 1, "arn:td:1")
        with db.transaction():
            queue.fence(db, c)
            assert w.finish(db, dep, "succeeded", "ok", c.token, error=None, rolled_back=False)
        assert queue.release(db, c, 5.0, ok=True)
    finally:
        conn.close()


def test_cli_login_can_steer(pending_and_running, db_url, login_role):
    conn = _login_as(db_url, login_role, "paas_cli")
    conn.autocommit = False
    try:
        from paas.db import steering
        from paas.db.sql import Db

        db = Db(conn)
        dep = db.scalar("SELECT max(id) FROM deployments WHERE state = 'pending'")
        app_id, env_id = db.one("SELECT app_id, environment_id FROM deployments WHERE id = %(i)s", i=dep).values()
        with db.transaction():
            assert steering.request_steering(db, dep, "abort", "alice", "abort requested", app_id, env_id)
            assert not steering.request_steering(db, dep, "abort", "alice", "again", app_id, env_id)
        with db.transaction():
            assert steering.cancel_pending(db, dep, "alice", "cancelled before it started")
    finally:
        conn.close()


def _a_run(conn) -> int:
    return _q(conn, "INSERT INTO task_runs (app_id, environment_id, kind, release_id, process, command, actor) "
                    "SELECT app_id, environment_id, 'run', id, 'web', '{manage,migrate}', 'alice' FROM releases "
                    "LIMIT 1 RETURNING id")[0][0]


def test_the_cli_records_its_runs_and_a_worker_their_end_and_history_stays(pending_and_running, db_url, login_role):
    cli = _login_as(db_url, login_role, "paas_cli")
    try:
        run = _a_run(cli)
        assert _q(cli, f"UPDATE task_runs SET task_arn = 'arn:aws:ecs:r:1:task/c/t{run}' WHERE id = {run}") == 1
    finally:
        cli.close()
    admin = psycopg2.connect(db_url)
    admin.autocommit = True
    try:
        admin.cursor().execute(f"REVOKE paas_cli FROM {login_role}")
    finally:
        admin.close()
    worker = _login_as(db_url, login_role, "paas_worker")
    try:
        assert _q(worker, f"UPDATE task_runs SET stopped_at = now(), exit_code = 3, log_tail = '{{boom}}' "
                          f"WHERE id = {run}") == 1
        assert _q(worker, "INSERT INTO task_runs (app_id, environment_id, kind, job, process, actor, task_arn) "
                          "SELECT app_id, environment_id, 'job', 'report', 'web', 'EventBridge Scheduler', 'arn:j' "
                          "FROM releases LIMIT 1") == 1
        assert _q(worker, "INSERT INTO job_schedules (app_id, environment_id, job, expression, task_definition) "
                          "SELECT app_id, environment_id, 'report', 'rate(1 hour)', 'arn:td' FROM releases "
                          "LIMIT 1") == 1
        # a stopped run is history: row-level security hides it from updates, the trigger backs it up
        assert _q(worker, f"UPDATE task_runs SET exit_code = 0 WHERE id = {run}") == 0
    finally:
        worker.close()
    owner = psycopg2.connect(db_url)
    owner.autocommit = True
    try:
        for stmt in (f"UPDATE task_runs SET exit_code = 0 WHERE id = {run}",
                     f"UPDATE task_runs SET actor = 'mallory' WHERE id = {run}", "DELETE FROM task_runs"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                _q(owner, stmt)
        assert _q(owner, f"SELECT exit_code, actor FROM task_runs WHERE id = {run}") == [(3, "alice")]
    finally:
        owner.close()


def test_readonly_reads_the_task_runs_view_only(roles, db_url, login_role):
    admin = psycopg2.connect(db_url)
    admin.autocommit = True
    _a_run(admin)
    admin.cursor().execute(f"GRANT paas_readonly TO {login_role}")
    admin.close()
    ro = _as(db_url, login_role)
    try:
        assert _q(ro, "SELECT app, kind, command, actor, state FROM paas_task_runs") == [
            ("checkout", "run", "manage migrate", "alice", "running")]
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            _q(ro, "SELECT * FROM task_runs")
    finally:
        ro.close()


def test_pipeline_role_records_pushes_and_promotes_through_the_request_path(roles, db_url, login_role):
    """A worker running pipelines (paas_worker + paas_pipeline) records a push, its check and a
    promotion, which is a request like `paas deploy`; it cannot rewrite who asked, or the evidence."""
    from paas.db import pipeline as pdb
    from paas.db.sql import Db
    from paas.domain.pipeline import PipelineSpec, StageSpec
    from paas.service import promotions

    owner = Db(psycopg2.connect(db_url))
    app_id = owner.scalar("SELECT id FROM apps WHERE name = 'checkout'")
    spec = PipelineSpec("checkout", "main-*", "pytest", (StageSpec("staging"),))
    pdb.set_pipeline(owner, app_id, spec, "alice")
    owner.commit()
    conn = _login_as(db_url, login_role, "paas_worker")
    admin = psycopg2.connect(db_url)
    admin.autocommit = True
    admin.cursor().execute(f"GRANT paas_pipeline TO {login_role}")
    admin.close()
    conn.autocommit = False
    db = Db(conn)
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/checkout:main-1@sha256:" + "b" * 64
    assert pdb.claim(db, "w1", 30) == app_id
    with db.transaction():
        pdb.fence(db, app_id, "w1")
        push_id = pdb.record_push(db, app_id, repository="checkout", tag="main-1", digest="sha256:" + "b" * 64,
                                  image=image, source="event", pushed_at=None, queued_at=None)
        env_id = pdb.environment_ids(db, ["staging"])["staging"]
        check_id, _ = pdb.insert_check(db, push_id, app_id, env_id, "sha256:" + "b" * 64, ["pytest"])
        pdb.finish_check(db, check_id, passed=True, exit_code=0, stop_code="EssentialContainerExited",
                         stopped_reason=None, duration_seconds=1.0, log_tail=["ok"])
        dep = promotions.promote(db, "checkout", spec.stages[0], image, actor="paas-pipeline", message="pipeline",
                                 upstream_environment_id=None, upstream_release_id=None)
        pdb.insert_promotion(db, push_id=push_id, app_id=app_id, environment_id=env_id, stage=0, deployment_id=dep,
                             upstream_environment_id=None, upstream_release_id=None, upstream_known_good_at=None,
                             approver=None, approved_at=None, evidence={})
        pdb.end_push(db, push_id, "released", "test")
    pdb.release(db, app_id, "w1", 1.0)
    conn.autocommit = True
    _refused(conn, f"UPDATE deployments SET actor = 'mallory' WHERE id = {dep}")
    _refused(conn, f"UPDATE promotions SET approver = 'mallory' WHERE deployment_id = {dep}")
    _refused(conn, f"DELETE FROM image_pushes WHERE id = {push_id}")
    ro = psycopg2.connect(db_url)
    ro.autocommit = True
    ro.cursor().execute("SET ROLE paas_readonly")
    assert _q(ro, "SELECT environment, check_state, deployment_state FROM paas_promotions") == [
        ("staging", "passed", "pending")]
    _refused(ro, "SELECT * FROM image_pushes")
