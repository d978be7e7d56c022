"""The redacting log filter: no spelling of a secret survives, whatever the escaping."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest

from paas.aws.redact import redacting


@pytest.mark.parametrize("value", [
    "plain-s3cr3t",
    's3cr3t "quoted" back\\slash\nnewline ünïcode',
    "it's a s3cr3t",
    "both ' and \" s3cr3t",
    "tab\tcr\r s3cr3t €",
])
def test_no_spelling_of_a_secret_survives(value, caplog):
    log = logging.getLogger("botocore.endpoint")
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"Name": "paas/dev/shop/DB", "SecretString": value}).encode()

    def emit():
        log.debug("Making request with params: %s", {"body": body, "headers": {}})
        log.debug("raw %s json %s repr %r", value, json.dumps(value), value)
        log.debug("query body: %s", urlencode({"Action": "PutParameter", "Value": value}))

    with redacting(value):
        emit()
    assert "s3cr3t" not in caplog.text
    assert caplog.text.count("***") >= 4

    caplog.clear()
    emit()  # outside the block nothing is filtered: the check above can fail
    assert "s3cr3t" in caplog.text
