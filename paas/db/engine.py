"""The SQLAlchemy engine for long-running processes (workers, migrations, tests).

Workers need pooling, pre-ping and reconnects after a Postgres restart; those come from
SQLAlchemy's pool. Use-case code still runs through `paas.db.sql.Db` over the pooled
connection, so the CLI and the workers execute the same SQL.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine, create_engine

from paas.db.sql import Db
from paas.db.url import to_sqlalchemy


def make_engine(url: str, *, pool_size: int = 5, application_name: str = "paas-worker") -> Engine:
    return create_engine(
        to_sqlalchemy(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "application_name": application_name},
    )


@contextmanager
def pooled(engine: Engine) -> Iterator[Db]:
    """A `Db` over a pooled DB-API connection; returned to the pool (rolled back) on exit."""
    raw = engine.raw_connection()
    try:
        yield Db(raw)
    finally:
        try:
            raw.rollback()
        except Exception:
            raw.invalidate()
        raw.close()
