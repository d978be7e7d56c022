"""Secret values: stored in AWS, never in the database or a log; paas keeps only references."""

from __future__ import annotations

import logging

from paas.aws.api import Api
from paas.aws.redact import redacting

log = logging.getLogger(__name__)


class Secrets:
    def __init__(self, api: Api) -> None:
        self.api = api

    def put_secret(self, name: str, value: str) -> tuple[str, int]:
        """SecureString, overwritten; returns (parameter ARN, version). The value is redacted
        from every log record made while the call runs (botocore logs params at DEBUG)."""
        with redacting(value):
            resp = self.api.call("ssm", "PutParameter", Name=name, Value=value, Type="SecureString",
                                 Overwrite=True, Tier="Standard")
            version = int(resp.get("Version") or 0)
            got = self.api.call("ssm", "GetParameter", Name=name, WithDecryption=False)
        arn = (got.get("Parameter") or {}).get("ARN")
        log.info("stored secret parameter %s (version %s)", name, version)
        return arn, version
