"""One AWS call, counted and with its errors mapped: the plumbing every service module shares.

`Api.call(service, operation, **params)` picks the cached client, counts the call into the
driver's counter (clients are shared between drivers, so the per-driver counter is selected
through a context variable: paas/aws/accounting.py) and turns botocore errors into
`TransientError` / `PermanentError` (paas/aws/errors.py). Error codes listed in `allow` come
back as the original `ClientError`, for the caller to decide (e.g. "stack does not exist").
A paas error raised inside botocore's machinery (the send guard's `LeaseLost`) passes through
untouched.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator, Sequence

from botocore import xform_name
from botocore.exceptions import ClientError

from paas.aws.accounting import CallCounter, counting_into, operation_key
from paas.aws.errors import error_code, map_error
from paas.aws.session import AwsClients
from paas.domain.errors import PaasError


class Api:
    """The cached clients of one driver plus its call counter."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.region = clients.region
        self.counter = CallCounter()

    def call(self, service: str, operation: str, /, *, allow: tuple[str, ...] = (),
             region: str | None = None, **params: Any) -> dict:
        """One AWS call: counted, and errors mapped (codes in `allow` re-raised as ClientError)."""
        client = self.clients.client(service, region)
        method = getattr(client, xform_name(operation))
        key = operation_key(service, operation)
        with counting_into(self.counter):
            try:
                return method(**params)
            except PaasError:
                raise
            except ClientError as e:
                if error_code(e) in allow:
                    raise
                raise map_error(e, key) from e
            except Exception as e:  # noqa: BLE001
                mapped = map_error(e, key)
                if mapped is None:
                    raise
                raise mapped from e


def rid(resp: dict | None) -> str | None:
    """The request id of a response (or of a ClientError's ``response``)."""
    return (resp or {}).get("ResponseMetadata", {}).get("RequestId")


def chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def epoch(t: Any) -> float:
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return t.timestamp()
    return float(t)
