"""Sessions and clients: caching, endpoint resolution, assumed-role refreshable credentials."""

from __future__ import annotations

import threading

import pytest
from botocore.credentials import RefreshableCredentials

from paas.aws import accounting
from paas.aws.session import client_config, get_clients, make_driver, role_session_name
from paas.domain.errors import PermanentError


def test_clients_cached_per_key_and_thread_safe(aws_env):
    results = []

    def grab():
        results.append(get_clients(aws_env.region, aws_env.endpoint_url).ecs)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in results}) == 1
    a = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url)
    b = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url)
    assert a.clients is b.clients and a is not b
    assert get_clients("eu-west-1", aws_env.endpoint_url) is not a.clients


def test_endpoint_from_env_and_retry_config(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env.endpoint_url)
    drv = make_driver(aws_env.region)
    assert drv.clients.endpoint_url == aws_env.endpoint_url
    assert drv.clients.ecs.meta.endpoint_url == aws_env.endpoint_url
    cfg = client_config()
    assert cfg.retries == {"mode": "standard", "total_max_attempts": 5}
    assert cfg.connect_timeout and cfg.read_timeout


def test_per_driver_and_process_counts(aws_env):
    accounting.reset()
    d1 = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url)
    d2 = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url)
    d1.list_services(aws_env.cluster)
    d1.list_services(aws_env.cluster)
    d2.list_services(aws_env.cluster)
    assert d1.call_counts() == {"ecs:ListServices": 2}
    assert d2.call_counts() == {"ecs:ListServices": 1}
    assert accounting.snapshot()["calls"]["ecs:ListServices"] == 3
    accounting.reset()
    assert accounting.snapshot() == {"calls": {}, "throttles": {}, "refusals": {}}


def test_assume_role_uses_refreshable_credentials(aws_env):
    role = "arn:aws:iam::111122223333:role/paas-deployer"
    drv = make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url, role_arn=role)
    creds = drv.clients.session.get_credentials()
    assert isinstance(creds, RefreshableCredentials)
    frozen = creds.get_frozen_credentials()  # runs AssumeRole against the emulator's STS
    assert frozen.access_key and frozen.access_key != "testing" and frozen.token
    assert role_session_name().startswith("paas-")
    # the assumed identity is the other account: its (empty) ECS has no such cluster
    with pytest.raises(PermanentError, match="^ecs:DescribeServices: .*ClusterNotFound"):
        drv.describe_services(aws_env.cluster, ["x"])
    assert drv.clients.account_key.endswith("|111122223333")
