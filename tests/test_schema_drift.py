"""The SQLAlchemy models and the alembic migrations describe the same schema."""

from __future__ import annotations


def _diffs(url: str):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    from paas.db.models import Base
    from paas.db.url import to_sqlalchemy

    engine = create_engine(to_sqlalchemy(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def test_models_match_migrations(db_url):
    diffs = _diffs(db_url)
    assert diffs == [], "\n".join(map(str, diffs))


def test_drift_check_can_fail(db, db_url):
    """A change made outside the migrations is noticed (so the test above can fail)."""
    db.execute("ALTER TABLE deployments ADD COLUMN sneaky text")
    db.execute("DROP INDEX ix_deployments_created")
    db.execute("ALTER TABLE apps ALTER COLUMN team TYPE varchar(10)")
    db.commit()
    found = " ".join(map(str, _diffs(db_url)))
    assert "sneaky" in found and "ix_deployments_created" in found and "team" in found


def test_migrations_are_at_head(db_url):
    from paas.db.migrate import status

    s = status(db_url)
    assert s["up_to_date"] and s["current"] == s["head"]


def test_downgrade_and_upgrade_again(db_url):
    from alembic import command

    from paas.db.migrate import alembic_config, upgrade

    command.downgrade(alembic_config(db_url), "base")
    upgrade(db_url)
    assert _diffs(db_url) == []
