"""Running alembic from the `paas` command.

The migrations live in the repository's migrations/ and ship in the wheel as the package
paas._migrations (pyproject.toml), so `paas db upgrade` works from a checkout, an editable
install and an installed wheel (the container image) alike.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def locations() -> tuple[Path, Path | None]:
    """The migrations directory and alembic.ini: the checkout's, else the installed package's."""
    if (ROOT / "migrations" / "env.py").exists():
        return ROOT / "migrations", ROOT / "alembic.ini"
    return Path(__file__).resolve().parents[1] / "_migrations", None


def alembic_config(url: str):
    from alembic.config import Config

    from paas.db.url import to_sqlalchemy

    scripts, ini = locations()
    cfg = Config(str(ini) if ini else None)
    cfg.set_main_option("script_location", str(scripts))
    cfg.set_main_option("sqlalchemy.url", to_sqlalchemy(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def status(url: str) -> dict:
    """Current and head revisions."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, pool

    from paas.db.url import to_sqlalchemy

    script = ScriptDirectory.from_config(alembic_config(url))
    engine = create_engine(to_sqlalchemy(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    head = script.get_current_head()
    return {"current": current, "head": head, "up_to_date": current == head}
