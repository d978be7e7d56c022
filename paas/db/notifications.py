"""Notifications: events written to an outbox in the caller's transaction, delivered later."""

from __future__ import annotations

from typing import Any


def enqueue(cur: Any, *, app_id: int, environment_id: int | None, event: str, payload: dict) -> None:
    """replaced by the outbox"""
    return None
