"""Secret values in AWS Secrets Manager: stored as versions, referenced by (ARN, version id).

Why Secrets Manager and not SSM Parameter Store: a container's ``secrets`` entry can pin a
Secrets Manager *version* (``valueFrom`` = ``<secret ARN>:<json-key>:<version-stage>:<version-id>``,
so ``<ARN>:::<version id>`` for the whole value; see paas/planner/build.py
`secret_value_from`), while an SSM parameter is referenced without a version and always
resolves to the newest value. With pinning, the task definitions of config v1 and v2 differ,
and a rollback runs the value its release was made with.

`put_secret(name, value)` creates the secret on first use (CreateSecret) and adds a version
after that (PutSecretValue), always with a ``ClientRequestToken``: the token becomes the version
id, and a retry with the same token and value is a no-op on AWS's side. The name may be given
SSM-style (``/paas/<env>/<app>/<NAME>``): the leading ``/`` is dropped, which gives the names
the execution role may read (``secret:paas/<env>/<app>/*``, paas/planner/infra_template.py).

Limits kept here: SecretString ≤ 65,536 bytes (`paas.domain.limits.SECRET_VALUE_MAX_BYTES`);
ClientRequestToken 32-64 characters; names ≤ 512 characters of letters, digits and ``/_+=.@-``.
AWS advises against PutSecretValue more than once every 10 minutes sustained, and deletes
unlabelled versions beyond the newest 100 (those older than 24 hours): a release pinned to a
version that old can no longer start tasks.

The value never reaches a log: every call that carries it runs inside `redact.redacting`.

moto (5.2): CreateSecret / PutSecretValue honour ClientRequestToken as the version id and
GetSecretValue by VersionId works. moto does not resolve container ``secrets`` at all: it
stores any ``valueFrom`` string in RegisterTaskDefinition without checking it.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Mapping

from botocore.exceptions import ClientError

from paas.aws.api import Api
from paas.aws.redact import redacting
from paas.domain.errors import UserError
from paas.domain.limits import SECRET_VALUE_MAX_BYTES

log = logging.getLogger(__name__)

TOKEN_MIN, TOKEN_MAX = 32, 64
NAME_MAX = 512
_NAME_RE = re.compile(r"[A-Za-z0-9/_+=.@-]+")


def secret_name(name: str) -> str:
    """The Secrets Manager name for an SSM-style path (leading ``/`` dropped), checked."""
    n = name.lstrip("/")
    if not n or len(n) > NAME_MAX or not _NAME_RE.fullmatch(n):
        raise UserError(f"secret name {name!r} is not a valid Secrets Manager name "
                        f"(≤ {NAME_MAX} letters, digits and /_+=.@-)")
    return n


class Secrets:
    def __init__(self, api: Api) -> None:
        self.api = api

    def put_secret(self, name: str, value: str, *, token: str | None = None,
                   tags: Mapping[str, str] | None = None) -> tuple[str, str]:
        """Store `value` as a new version of secret `name`; returns (secret ARN, version id).

        `token` (32-64 characters, default a fresh UUID) is the version's id: pass the same
        one to retry a store idempotently. `tags` go on the secret when it is created."""
        size = len(value.encode("utf-8"))
        if not value or size > SECRET_VALUE_MAX_BYTES:
            raise UserError(f"secret {name}: the value must be 1 to {SECRET_VALUE_MAX_BYTES} bytes, "
                            f"got {size}")
        token = token or str(uuid.uuid4())
        if not TOKEN_MIN <= len(token) <= TOKEN_MAX:
            raise UserError(f"secret {name}: a ClientRequestToken is {TOKEN_MIN}-{TOKEN_MAX} "
                            f"characters, got {len(token)}")
        sm_name = secret_name(name)
        with redacting(value):
            try:
                create: dict = {"Name": sm_name, "SecretString": value, "ClientRequestToken": token}
                if tags:
                    create["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
                resp = self.api.call("secretsmanager", "CreateSecret",
                                     allow=("ResourceExistsException",), **create)
            except ClientError:
                # it exists (made by an earlier store, or by this one before a retry): new version
                resp = self.api.call("secretsmanager", "PutSecretValue", SecretId=sm_name,
                                     SecretString=value, ClientRequestToken=token)
        arn, version = resp["ARN"], resp["VersionId"]
        log.info("stored secret %s (version %s)", sm_name, version)
        return arn, version
