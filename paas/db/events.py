"""Appending to a deployment's event timeline (the table only accepts INSERTs)."""

from __future__ import annotations

from typing import Any

from paas.db.sql import Db, jsonb


def event(db: Db, deployment_id: int, kind: str, message: str, *, step: str | None = None,
          data: dict[str, Any] | None = None, actor: str | None = None,
          request_id: str | None = None, token: int | None = None) -> None:
    db.execute(
        """
        INSERT INTO deployment_events (deployment_id, kind, step, message, data, actor, aws_request_id,
                                       fencing_token)
        VALUES (%(d)s, %(k)s, %(s)s, %(m)s, %(data)s::jsonb, %(actor)s, %(rid)s, %(tok)s)
        """,
        d=deployment_id, k=kind, s=step, m=message, data=jsonb(data or {}), actor=actor,
        rid=request_id, tok=token,
    )
