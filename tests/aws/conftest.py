"""Fixtures for the boto3 driver tests: a real AWS emulator on loopback.

The devstack emulator (moto's server + the simulated ECS data plane) when it is importable and
starts; otherwise moto's ThreadedMotoServer with the network pieces created here
(``PAAS_TEST_AWS_EMULATOR=moto`` forces the latter). Either way the driver under test talks
HTTP to it through real boto3/botocore.
"""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

import pytest

REGION = "us-east-1"
ACCOUNT = "123456789012"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bootstrap_plain(endpoint: str) -> dict[str, Any]:
    import boto3

    kw = dict(region_name=REGION, endpoint_url=endpoint)
    ec2 = boto3.client("ec2", **kw)
    elbv2 = boto3.client("elbv2", **kw)
    ecs = boto3.client("ecs", **kw)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24",
                                 AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
               for i, az in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName="paas-test", Description="t", VpcId=vpc)["GroupId"]
    lb = elbv2.create_load_balancer(Name="paas-test", Subnets=subnets, SecurityGroups=[sg],
                                    Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "fixed-response",
                         "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}}],
    )["Listeners"][0]["ListenerArn"]
    ecs.create_cluster(clusterName="paas-test")
    return {"region": REGION, "cluster": "paas-test", "listener_arn": listener,
            "load_balancer_arn": lb, "vpc_id": vpc, "subnets": subnets, "security_groups": [sg]}


class Env:
    def __init__(self, endpoint: str, info: dict[str, Any], kind: str) -> None:
        self.endpoint_url = endpoint
        self.kind = kind
        self.region = info["region"]
        self.cluster = info["cluster"]
        self.listener_arn = info["listener_arn"]
        self.load_balancer_arn = info["load_balancer_arn"]
        self.vpc_id = info["vpc_id"]
        self.subnets = list(info["subnets"])
        self.security_groups = list(info["security_groups"])

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        # generous: on a loaded machine the emulator answers slowly, and a retried create would
        # collide with its own first attempt
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url,
                            config=Config(read_timeout=180, connect_timeout=20, retries={"mode": "standard"}))

    @contextmanager
    def moto_state(self) -> Iterator[None]:
        """Hold the devstack's moto lock (if any) while a test pokes moto's backends directly."""
        lock = None
        if self.kind == "devstack":
            from paas.devstack import moto_patches

            lock = moto_patches.MOTO_LOCK
        if lock is None:
            yield
        else:
            with lock:
                yield


@pytest.fixture(scope="session")
def aws_env() -> Iterator[Env]:
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
                                            "AWS_ENDPOINT_URL", "PAAS_AWS_FAULTS", "PAAS_AWS_RPS")}
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION,
                       "PAAS_AWS_RPS": "1000"})
    for k in ("AWS_ENDPOINT_URL", "PAAS_AWS_FAULTS"):
        os.environ.pop(k, None)

    stop = None
    env: Env | None = None
    if os.environ.get("PAAS_TEST_AWS_EMULATOR", "devstack") == "devstack":
        try:
            from paas.devstack.bootstrap import bootstrap_dev_environment
            from paas.devstack.emulator import running_emulator, start_emulator

            em = running_emulator()
            if em is None:
                from paas.devstack.dataplane import DataPlaneSettings

                # a small metric store: moto scans every datapoint for each GetMetricData query
                em = start_emulator(port=0, dataplane_settings=DataPlaneSettings(
                    latency_samples_per_period=20, metric_retention_seconds=400.0))
                stop = em.stop
            info = bootstrap_dev_environment(em.endpoint_url, REGION, name="awstest")
            env = Env(em.endpoint_url, info, "devstack")
        except Exception as e:  # noqa: BLE001 - fall back to plain moto
            print(f"devstack emulator unavailable ({type(e).__name__}: {e}); using plain moto")
            if stop is not None:
                stop()
                stop = None
    if env is None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        stop = server.stop
        endpoint = f"http://127.0.0.1:{port}"
        env = Env(endpoint, _bootstrap_plain(endpoint), "moto")
    try:
        yield env
    finally:
        from paas.aws.session import clear_cache

        clear_cache()
        if stop is not None:
            stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def driver(aws_env: Env):
    from paas.aws.session import make_driver

    # the driver's own timeouts are the reconciler's (bounded by the lease); here the emulator may be
    # slow under load and nothing is fenced
    return make_driver(aws_env.region, endpoint_url=aws_env.endpoint_url, read_timeout=180)


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:6]
