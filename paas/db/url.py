"""Which database paas talks to, and how to show its URL without the password."""

from __future__ import annotations

import os
import re

from paas.domain.lazyre import lazy

# The password runs to the *last* '@' of the authority: an unencoded '@' inside it must not
# leave its tail on screen.
_PASSWORD_RE = lazy(r"^(?P<head>[a-z0-9+.-]+://[^:/@?#]*):(?P<pw>[^?#]*)@")


def redact(url: str) -> str:
    """postgresql://u:secret@h/db → postgresql://u:***@h/db (and password= in query/keywords)."""
    url = _PASSWORD_RE.sub(lambda m: f"{m.group('head')}:***@", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


def password(url: str) -> str | None:
    m = _PASSWORD_RE.match(url)
    return m.group("pw") if m else None


def to_libpq(url: str) -> str:
    """SQLAlchemy spells the driver into the scheme; libpq does not."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url).replace("postgres://", "postgresql://", 1)


def to_sqlalchemy(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg2://", url)


def resolve() -> str:
    """`PAAS_DATABASE_URL`, else the running `paas dev up`, else the embedded server."""
    explicit = os.environ.get("PAAS_DATABASE_URL")
    if explicit:
        return explicit
    from paas.settings import read_dev_state

    dev = read_dev_state().get("database_url")
    if dev:
        return dev
    from paas.db.embedded import ensure_running

    return ensure_running()
