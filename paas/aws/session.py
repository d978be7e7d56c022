"""boto3 sessions and clients for the driver: one Session, cached clients, shared hooks.

`make_driver(region, endpoint_url=None, role_arn=None, *, budget=None, faults=None,
connect_timeout=None, read_timeout=None, cfn_role_arn=None)` is the only entry point the rest
of paas needs.

* Endpoint: the argument, else ``AWS_ENDPOINT_URL`` (boto3 also honours it natively, and the
  service-specific ``AWS_ENDPOINT_URL_<SERVICE>`` variables still win there).
* Retries: botocore's ``standard`` mode, 5 attempts, with connect/read timeouts, so throttling,
  5xx and timeouts are retried with backoff and a client-side retry quota before the driver
  ever sees them.
* Timeouts: ``connect_timeout`` / ``read_timeout`` (seconds, default 5 / 30) bound one HTTP
  attempt. A worker passes values that fit inside its lease margin: the send guard
  (paas/aws/guard.py) stops attempts after the deadline, the timeouts bound the one in flight.
* Cross-account: with `role_arn`, credentials come from STS AssumeRole (RoleSessionName
  ``paas-<host>``) as *refreshable* credentials: botocore renews them before they expire, so a
  worker that runs for days never sends an expired token.
* CloudFormation service role: `cfn_role_arn` or ``PAAS_CFN_ROLE_ARN``; stack operations pass
  it as RoleARN (paas/aws/cloudformation.py), so the worker needs no IAM write access.
* Creating clients is slow (tens of ms, JSON models): clients are cached per
  (region, endpoint, role, budget, faults) for the life of the process, behind a lock.
  boto3 clients are thread-safe once created, so all reconcile threads share them.
* Every client gets the accounting hooks, the account's request budget, the send guard and,
  when asked for (argument or ``PAAS_AWS_FAULTS``), fault injection, in that order on
  ``before-send`` (the guard after the budget's wait, faults last).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials

from paas.aws import guard
from paas.aws.accounting import install_accounting
from paas.aws.budget import TokenBucket, budget_for
from paas.aws.faults import FaultInjector, FaultSpec
from paas.domain.errors import UserError

if TYPE_CHECKING:
    from paas.aws.boto_driver import BotoDriver

SERVICES = ("ecs", "elbv2", "cloudformation", "cloudwatch", "ssm", "ecr", "sts", "logs", "scheduler")

CFN_ROLE_ENV = "PAAS_CFN_ROLE_ARN"
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
MAX_ATTEMPTS = 5
ASSUME_ROLE_SECONDS = 3600


def client_config(connect_timeout: float = CONNECT_TIMEOUT,
                  read_timeout: float = READ_TIMEOUT) -> Config:
    for what, v in (("connect timeout", connect_timeout), ("read timeout", read_timeout)):
        if not v > 0:
            raise UserError(f"AWS client {what} must be a positive number of seconds, got {v!r}")
    return Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},  # attempts, not retries
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=50,  # N reconcile threads share each client
        user_agent_extra="paas",
    )


def role_session_name() -> str:
    host = re.sub(r"[^\w+=,.@-]", "-", socket.gethostname() or "host")
    return f"paas-{host}"[:64]


def _account_of_role(role_arn: str) -> str | None:
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def _assumed_role_session(region: str, endpoint_url: str | None, role_arn: str) -> boto3.Session:
    base = boto3.Session(region_name=region)
    sts = base.client("sts", region_name=region, endpoint_url=endpoint_url, config=client_config())
    name = role_session_name()

    def refresh() -> dict[str, str]:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=name,
                                DurationSeconds=ASSUME_ROLE_SECONDS)["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    bs = botocore.session.get_session()
    # Deferred: the first AssumeRole happens on the first API call, not at construction.
    bs._credentials = DeferredRefreshableCredentials(refresh_using=refresh,
                                                     method="sts-assume-role")
    return boto3.Session(botocore_session=bs, region_name=region)


@dataclass
class AwsClients:
    """The cached, hooked clients for one (region, endpoint, role, budget, faults, timeouts)."""

    region: str
    endpoint_url: str | None
    role_arn: str | None
    session: boto3.Session
    budget: TokenBucket
    faults: FaultInjector | None
    account_key: str
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # task definition ARN → paas:release (task definitions are immutable: cached forever,
    # shared by every driver on these clients)
    release_cache: dict[str, int | None] = field(default_factory=dict)

    def client(self, service: str, region: str | None = None) -> Any:
        key = service if region in (None, self.region) else f"{service}@{region}"
        c = self._clients.get(key)
        if c is not None:
            return c
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                c = self.session.client(service, region_name=region or self.region,
                                        endpoint_url=self.endpoint_url,
                                        config=client_config(self.connect_timeout, self.read_timeout))
                install_accounting(c.meta.events)
                self.budget.install(c.meta.events)
                guard.install(c.meta.events)
                if self.faults is not None:
                    self.faults.install(c.meta.events)
                self._clients[key] = c
            return c

    def __getattr__(self, name: str) -> Any:
        if name in SERVICES:
            return self.client(name)
        raise AttributeError(name)


_cache_lock = threading.Lock()
_session_cache: dict[tuple, boto3.Session] = {}
_clients_cache: dict[tuple, AwsClients] = {}


def _session(region: str, endpoint_url: str | None, role_arn: str | None) -> boto3.Session:
    key = (region, endpoint_url, role_arn)
    s = _session_cache.get(key)
    if s is None:
        s = (_assumed_role_session(region, endpoint_url, role_arn) if role_arn
             else boto3.Session(region_name=region))
        _session_cache[key] = s
    return s


def _account_key(session: boto3.Session, endpoint_url: str | None, role_arn: str | None) -> str:
    """Which account's budget: the role's account, else the access key's (no STS call)."""
    where = endpoint_url or "aws"
    if role_arn:
        return f"{where}|{_account_of_role(role_arn) or role_arn}"
    try:
        creds = session.get_credentials()
        ident = creds.access_key if creds is not None else "anonymous"
    except Exception:  # noqa: BLE001 - a broken chain shows up on the first real call
        ident = "unknown"
    # the key names the account in the shared paces' table: an access key id only as a digest
    return f"{where}|key:{hashlib.sha256(ident.encode()).hexdigest()[:16]}"


def get_clients(region: str, endpoint_url: str | None = None, role_arn: str | None = None, *,
                budget: TokenBucket | None = None,
                faults: FaultSpec | str | None = None,
                connect_timeout: float | None = None,
                read_timeout: float | None = None) -> AwsClients:
    connect_timeout = CONNECT_TIMEOUT if connect_timeout is None else float(connect_timeout)
    read_timeout = READ_TIMEOUT if read_timeout is None else float(read_timeout)
    client_config(connect_timeout, read_timeout)  # validates
    if endpoint_url is None:
        endpoint_url = os.environ.get("AWS_ENDPOINT_URL") or None
    if faults is None:
        spec = FaultSpec.from_env()
    else:
        spec = FaultSpec.parse(faults) if isinstance(faults, str) else faults
    if spec is not None and not spec.active:
        spec = None
    with _cache_lock:
        session = _session(region, endpoint_url, role_arn)
        account_key = _account_key(session, endpoint_url, role_arn)
        bucket = budget or budget_for(account_key)
        key = (region, endpoint_url, role_arn, id(bucket), str(spec) if spec else None,
               connect_timeout, read_timeout)
        clients = _clients_cache.get(key)
        if clients is None:
            clients = AwsClients(region=region, endpoint_url=endpoint_url, role_arn=role_arn,
                                 session=session, budget=bucket,
                                 faults=FaultInjector(spec) if spec else None,
                                 account_key=account_key,
                                 connect_timeout=connect_timeout, read_timeout=read_timeout)
            _clients_cache[key] = clients
        return clients


def make_driver(region: str, endpoint_url: str | None = None, role_arn: str | None = None, *,
                budget: TokenBucket | None = None,
                faults: FaultSpec | str | None = None,
                connect_timeout: float | None = None,
                read_timeout: float | None = None,
                cfn_role_arn: str | None = None) -> "BotoDriver":
    """A `BotoDriver` on the process's cached clients for this region/endpoint/role/timeouts.

    `cfn_role_arn` (default ``PAAS_CFN_ROLE_ARN``) is the CloudFormation service role stack
    operations pass as RoleARN."""
    from paas.aws.boto_driver import BotoDriver
    from paas.aws.iam import ROLE_ARN_RE

    cfn_role_arn = cfn_role_arn or os.environ.get(CFN_ROLE_ENV) or None
    if cfn_role_arn and not ROLE_ARN_RE.fullmatch(cfn_role_arn):
        raise UserError(f"{CFN_ROLE_ENV} must be an IAM role ARN "
                        f"(arn:aws:iam::123456789012:role/NAME), got {cfn_role_arn!r}")
    return BotoDriver(get_clients(region, endpoint_url, role_arn, budget=budget, faults=faults,
                                  connect_timeout=connect_timeout, read_timeout=read_timeout),
                      cfn_role_arn=cfn_role_arn)


def clear_cache() -> None:
    """Forget cached sessions and clients (tests; a worker never needs this)."""
    with _cache_lock:
        _session_cache.clear()
        _clients_cache.clear()
