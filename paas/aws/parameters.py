"""SSM Parameter Store SecureStrings: where webhook URLs and their signing secrets live.

A webhook URL carries its token (Slack's ``/services/T/B/<secret>``), so it is stored like a
secret: a SecureString parameter (encrypted with the account's ``aws/ssm`` key) whose *name*
the database keeps. Parameter Store rather than Secrets Manager because nothing here needs a
pinned version (a task definition never references it; a worker reads the newest value at
delivery time) and standard parameters cost nothing.

Limits kept here: names ≤ 1011 characters after the ``/`` prefix (2048 with the ARN part),
letters, digits and ``_.-/``, at most 15 levels; standard-tier values ≤ 4 KB. ``Overwrite``
and ``Tags`` cannot be combined in one PutParameter, so none are set (IAM scopes the names
instead: ``parameter/paas/notify/*``, paas/aws/iam.py). GetParameter of a SecureString with a
customer-managed key also needs ``kms:Decrypt``; the default ``aws/ssm`` key does not.

Values never reach a log: a store runs inside `redact.redacting`, and a read inside
`redact.silenced` (the value is not known before the answer, and botocore logs answers at
DEBUG). moto (5.x) stores SecureStrings and decrypts them with ``WithDecryption``; it does not
enforce the 4 KB value limit, which is checked here.
"""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

from paas.aws.api import Api
from paas.aws.redact import redacting, silenced
from paas.domain.errors import PermanentError, UserError

NAME_MAX = 1011
VALUE_MAX_BYTES = 4096
LEVELS_MAX = 15
_NAME_RE = re.compile(r"/[A-Za-z0-9_.\-/]+", re.ASCII)


def check_name(name: str) -> str:
    if (len(name) > NAME_MAX or not _NAME_RE.fullmatch(name) or "//" in name or name.endswith("/")
            or name.count("/") > LEVELS_MAX or name.lower().startswith(("/aws", "/ssm"))):
        raise UserError(f"{name!r} is not a valid SSM parameter name")
    return name


class Parameters:
    def __init__(self, api: Api) -> None:
        self.api = api

    def put_secure(self, name: str, value: str, *, overwrite: bool = False) -> int:
        """Store `value` as SecureString `name`; returns the parameter's version."""
        check_name(name)
        if not value or len(value.encode("utf-8")) > VALUE_MAX_BYTES:
            raise UserError(f"parameter {name}: the value must be 1 to {VALUE_MAX_BYTES} bytes")
        with redacting(value):
            resp = self.api.call("ssm", "PutParameter", Name=name, Value=value, Type="SecureString",
                                 Overwrite=overwrite)
        return int(resp.get("Version") or 1)

    def get_secure(self, name: str) -> str:
        """The decrypted value (PermanentError when the parameter does not exist)."""
        check_name(name)
        with silenced():
            try:
                resp = self.api.call("ssm", "GetParameter", allow=("ParameterNotFound",), Name=name,
                                     WithDecryption=True)
            except ClientError:
                raise PermanentError(f"ssm:GetParameter: parameter {name} does not exist") from None
        return resp["Parameter"]["Value"]

    def delete(self, names: list[str]) -> None:
        """DeleteParameters (≤ 10 names a call); names already gone are fine."""
        for i in range(0, len(names), 10):
            batch = [check_name(n) for n in names[i:i + 10]]
            self.api.call("ssm", "DeleteParameters", Names=batch)
