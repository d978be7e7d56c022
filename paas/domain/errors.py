"""The error vocabulary shared by every layer.

The CLI maps `UserError` to exit code 2 and every other `PaasError` to exit code 1, always as
one line. The reconciler maps `TransientError` to retry-with-backoff and `PermanentError` to a
terminal failure: that decision lives in one place (reconciler.outcome).
"""

from __future__ import annotations


class PaasError(Exception):
    """Anything paas reports to a person as one line."""

    exit_code = 1


class UserError(PaasError):
    """Bad input: nothing was written."""

    exit_code = 2


class NotFound(UserError):
    """A named app, environment, release or deployment does not exist."""


class Conflict(PaasError):
    """The request is well formed but the current state refuses it."""


class Busy(PaasError):
    """Another session holds what this request needs; nothing was written, it is safe to retry."""


class DatabaseUnavailable(PaasError):
    """The metadata database cannot be reached; the message names the URL without password."""


class TransientError(PaasError):
    """Worth retrying after `delay` seconds (throttling, 5xx, a connection drop)."""

    def __init__(self, message: str, delay: float = 1.0):
        super().__init__(message)
        self.delay = delay


class PermanentError(PaasError):
    """Retrying will not help (access denied, a rejected task definition, a missing cluster)."""

    def __init__(self, message: str, request_id: str | None = None):
        super().__init__(message)
        self.request_id = request_id


class LeaseLost(PaasError):
    """Another worker holds the app+environment now; this worker must stop writing."""
