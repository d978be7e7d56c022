"""Which AWS endpoint and credentials an environment is reached with (one driver per environment).

The endpoint is the worker's own configuration (`AWS_ENDPOINT_URL`, or the dev stack's state
file), never a database row: a CLI user must not be able to make workers sign requests with
their credentials to a host of the user's choosing. The region and the role to assume come
from the environment row; both are validated when the environment is created.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from paas.aws.driver import Driver

_lock = threading.Lock()
_drivers: dict[tuple, Driver] = {}


def endpoint_for(env_row: Any = None) -> str | None:
    if os.environ.get("AWS_ENDPOINT_URL"):
        return os.environ["AWS_ENDPOINT_URL"]
    from paas.settings import read_dev_state

    return read_dev_state().get("aws_endpoint_url")


EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def driver_for(env_row: Any) -> Driver:
    key = (env_row.region, endpoint_for(env_row), env_row.role_arn)
    if key[1] and key[1].startswith(("http://127.0.0.1", "http://localhost")):
        # A loopback endpoint is the local emulator: it accepts any credentials, so don't
        # require the user to have some configured.
        for k, v in EMULATOR_CREDENTIALS.items():
            os.environ.setdefault(k, v)
    with _lock:
        drv = _drivers.get(key)
        if drv is None:
            from paas.aws.session import make_driver

            from paas.reconciler.lease import client_timeouts
            from paas.settings import Durations

            connect, read = client_timeouts(Durations().lease_ttl)
            drv = make_driver(env_row.region, endpoint_url=key[1], role_arn=env_row.role_arn,
                              connect_timeout=connect, read_timeout=read,
                              cfn_role_arn=os.environ.get("PAAS_CFN_ROLE_ARN") or None)
            _drivers[key] = drv
        return drv


def push_driver_for(env_row: Any, wait_seconds: float) -> Driver:
    """A driver whose read timeout outlasts an SQS long poll (the lease-bound one is shorter). Its
    consumer holds no lease: it only records pushes, in transactions of its own."""
    endpoint = endpoint_for(env_row)
    if endpoint and endpoint.startswith(("http://127.0.0.1", "http://localhost")):
        for k, v in EMULATOR_CREDENTIALS.items():
            os.environ.setdefault(k, v)
    from paas.aws.session import make_driver

    return make_driver(env_row.region, endpoint_url=endpoint, role_arn=env_row.role_arn, connect_timeout=5.0,
                       read_timeout=wait_seconds + 10.0)
