"""botocore errors → paas's `TransientError` / `PermanentError`, as one line each.

Messages read ``ecs:RegisterTaskDefinition: <AWS message> (request id X)`` so the event row and
the CLI show what AWS said, about which call, and what to quote to AWS support.

The rule: throttling, 5xx, timeouts, connection drops, expired credentials and "the stack is
still moving" are transient (retry after `delay`); a request AWS rejects (access denied,
validation, a missing cluster) is permanent, because sending it again changes nothing.
Unknown 4xx codes are permanent, unknown 5xx codes transient, and so is a response botocore
cannot parse (an HTML error page from a proxy, after botocore's own retries).
"""

from __future__ import annotations

import re

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.parsers import ResponseParserError

from paas.aws.accounting import THROTTLE_CODES
from paas.domain.errors import PaasError, PermanentError, TransientError

THROTTLE_DELAY = 10.0  # botocore already retried 5 times with backoff: give AWS room
SERVER_DELAY = 5.0
NETWORK_DELAY = 5.0
STACK_BUSY_DELAY = 10.0

TRANSIENT_CODES = frozenset({
    "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalError",
    "InternalServerError", "ServerException", "RequestTimeout", "RequestTimeoutException",
    "PriorRequestNotComplete", "ExpiredToken", "ExpiredTokenException", "RequestExpired",
    "IDPCommunicationError", "UpdateInProgressException", "ServiceNotActiveException",
    "TooManyUpdates", "OperationInProgressException", "ConcurrentModificationException",
    "ResourceInUse",  # elbv2: "A specified resource is in use" (e.g. a TG being detached)
})

PERMANENT_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "ClientException",
    "InvalidParameterException", "InvalidParameterValue", "InvalidParameterCombination",
    "ClusterNotFoundException", "ServiceNotFoundException", "ValidationError",
    "ValidationException", "InsufficientCapabilitiesException", "InvalidClientTokenId",
    "UnrecognizedClientException", "SignatureDoesNotMatch", "MissingAuthenticationToken",
    "PlatformUnknownException", "PlatformTaskDefinitionIncompatibilityException",
})

# CloudFormation answers "the stack is busy" with a ValidationError; those are transient.
_STACK_BUSY = re.compile(
    r"(is in [A-Z_]+_IN_PROGRESS state|_IN_PROGRESS state and can not be updated"
    r"|An operation is in progress|is being (updated|deleted|created))", re.I)

NO_UPDATES = "No updates are to be performed"


def one_line(s: str) -> str:
    return " ".join(str(s).split())


def error_code(e: BaseException) -> str | None:
    if isinstance(e, ClientError):
        return e.response.get("Error", {}).get("Code")
    return None


def error_message(e: BaseException) -> str:
    if isinstance(e, ClientError):
        return one_line(e.response.get("Error", {}).get("Message") or e.response.get("Error", {}).get("Code") or str(e))
    return one_line(str(e))


def request_id(e: BaseException) -> str | None:
    if isinstance(e, ClientError):
        md = e.response.get("ResponseMetadata", {})
        return md.get("RequestId") or md.get("HTTPHeaders", {}).get("x-amzn-requestid")
    return None


def is_no_updates(e: BaseException) -> bool:
    return error_code(e) == "ValidationError" and NO_UPDATES in error_message(e)


def describe(operation: str, e: BaseException) -> str:
    rid = request_id(e)
    code = error_code(e)
    msg = error_message(e)
    if code and code not in msg:
        msg = f"{code}: {msg}"
    return f"{operation}: {msg}" + (f" (request id {rid})" if rid else "")


def map_error(e: BaseException, operation: str) -> PaasError | None:
    """The paas error for a botocore exception, or None when `e` is not an AWS/botocore error."""
    if isinstance(e, PaasError):
        return e
    if isinstance(e, ClientError):
        code = error_code(e) or ""
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        msg = describe(operation, e)
        if code in THROTTLE_CODES or status == 429:
            return TransientError(msg, THROTTLE_DELAY)
        if code == "ValidationError" and _STACK_BUSY.search(error_message(e)):
            return TransientError(msg, STACK_BUSY_DELAY)
        if code in TRANSIENT_CODES:
            return TransientError(msg, SERVER_DELAY)
        if code in PERMANENT_CODES:
            return PermanentError(msg, request_id(e))
        if status >= 500:
            return TransientError(msg, SERVER_DELAY)
        return PermanentError(msg, request_id(e))
    if isinstance(e, (NoCredentialsError, PartialCredentialsError, NoRegionError, ParamValidationError)):
        return PermanentError(f"{operation}: {one_line(str(e))}")
    if isinstance(e, (HTTPClientError, BotoConnectionError)):
        # ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError
        return TransientError(f"{operation}: {one_line(str(e))}", NETWORK_DELAY)
    if isinstance(e, BotoCoreError):
        return TransientError(f"{operation}: {one_line(str(e))}", NETWORK_DELAY)
    if isinstance(e, ResponseParserError):
        # a body that is not AWS's (an HTML error page from a proxy or a crashed endpoint)
        return TransientError(f"{operation}: unreadable response: {one_line(str(e))[:300]}",
                              SERVER_DELAY)
    return None


class OwnershipConflict(PermanentError):
    """A resource paas was asked to change belongs to another app/environment/process, or to
    nobody paas knows (no ``paas:*`` tags). Names can collide; AWS checks no owner, we do."""
