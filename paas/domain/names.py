"""Every AWS name paas derives from app, environment and process names, defined once.

The rule: each part has its dashes doubled, and the parts are joined with a single dash::

    join("shop", "api-web")  == "shop-api--web"
    join("shop-api", "web")  == "shop--api-web"

Names start with a letter (``^[a-z][a-z0-9-]{0,29}$``), so inside a joined name every run of
dashes that belongs to a part has even length and every run that contains a separator has odd
length (the separator is its last dash): `split` recovers the parts exactly, so distinct parts
can never give the same name. A name without a dash keeps the name it had before this rule
(``paas-shop-prod``, ``shop-web-blue``, ``shop-prod-web``); only names with a dash change.

| resource | name | AWS rule | longest |
| --- | --- | --- | --- |
| CloudFormation stack | ``paas-<app>-<env>`` | ≤ 128, ``[a-zA-Z][-a-zA-Z0-9]*`` | 124 |
| ECS service | ``<app>-<process>-<colour>`` | ≤ 255, ``[A-Za-z0-9_-]`` | 125 |
| task-definition family | ``<app>-<env>-<process>`` | ≤ 255, ``[A-Za-z0-9_-]`` | 179 |
| container | ``<process>`` | ≤ 255, ``[A-Za-z0-9_-]`` | 30 |
| log group | ``/paas/<env>/<app>`` | ≤ 512, ``[.\\-_/#A-Za-z0-9]`` | 67 |
| SSM parameter prefix | ``/paas/<env>/<app>/`` | ≤ 1011, ``[a-zA-Z0-9_.\\-/]`` | 68 |

(the longest is for 30-character parts made of 29 dashes: ``a-----…``, doubled to 59.)

Services carry no environment: a service is addressed by cluster and name, and every
environment has its own ECS cluster (two environments on one cluster would share service
names). The log group and parameter paths are separated by ``/``, which names cannot contain.
Target groups, IAM roles and the task security group are named by CloudFormation from the
stack name and a logical id (``<stack>-<LogicalId>-<random>``, cut to each resource's limit),
which is unique whatever the stack is called; see paas/planner/infra_template.py.
"""

from __future__ import annotations

import re

COLOURS = ("blue", "green")
STACK_PREFIX = "paas"

_RUNS = re.compile(r"-+")


def escape(part: str) -> str:
    return part.replace("-", "--")


def join(*parts: str) -> str:
    """Parts (each starting with a letter) → one unambiguous dash-separated name."""
    return "-".join(escape(p) for p in parts)


def split(joined: str) -> list[str]:
    """The inverse of `join`: odd runs of dashes end with a separator, even runs are in a part."""
    parts, current, pos = [], [], 0
    for m in _RUNS.finditer(joined):
        current.append(joined[pos:m.start()])
        n = len(m.group())
        current.append("-" * (n // 2))
        if n % 2:
            parts.append("".join(current))
            current = []
        pos = m.end()
    current.append(joined[pos:])
    parts.append("".join(current))
    return parts


def stack_name(app: str, env: str) -> str:
    return join(STACK_PREFIX, app, env)


def service_name(app: str, process: str, colour: str) -> str:
    """Unique inside one ECS cluster, and each environment has its own cluster."""
    return join(app, process, colour)


def family(app: str, env: str, process: str) -> str:
    """Task-definition families are account-wide per region, so they carry the environment."""
    return join(app, env, process)


def process_of_family(app: str, env: str, fam: str) -> str | None:
    """The process a family of app+env belongs to; None for any other family."""
    parts = split(fam)
    if len(parts) == 3 and parts[0] == app and parts[1] == env and parts[2][:1].isalpha():
        return parts[2]
    return None


def container_name(process: str) -> str:
    return process


def log_group_name(app: str, env: str) -> str:
    return f"/paas/{env}/{app}"


def secrets_prefix(app: str, env: str) -> str:
    """SSM parameters of app+env live under this path (the execution role may read them)."""
    return f"/paas/{env}/{app}/"


def secret_parameter(app: str, env: str, secret: str) -> str:
    return secrets_prefix(app, env) + secret
