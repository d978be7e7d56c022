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
| Scheduler schedule group | ``paas-<app>-<env>``, else ``paas_<hash>`` | ≤ 64, ``[0-9a-zA-Z-_.]`` | 64 |
| Scheduler schedule | ``<job>`` (inside its app+env's group) | ≤ 64, ``[0-9a-zA-Z-_.]`` | 30 |
| log stream of a task | ``<process>/<process>/<task id>`` | ≤ 512 | 93 |
| ECS ``startedBy`` | ``paas-release-<deployment>-<hash>``, ``paas-run-<run>-<hash>`` | ≤ 36, ``[A-Za-z0-9_/-]`` | 36 |

(the longest is for 30-character parts made of 29 dashes: ``a-----…``, doubled to 59.)

Services carry no environment: a service is addressed by cluster and name, and every
environment has its own ECS cluster (two environments on one cluster would share service
names). The log group and parameter paths are separated by ``/``, which names cannot contain.
Scheduler tags schedule *groups*, not schedules, so each app+environment's jobs live in a group
of their own whose ``paas:app`` / ``paas:env`` tags say who owns them, and a schedule is named
after its job. A joined group name longer than Scheduler's 64 characters becomes ``paas_`` and
a sha256 of app and environment: ``_`` never appears in a joined name, so the two forms cannot
meet. Accounts hold 500 schedule groups by default (adjustable); paas makes one only for an
app+environment that has jobs.

Target groups, IAM roles and the task security group are named by CloudFormation from the
stack name and a logical id (``<stack>-<LogicalId>-<random>``, cut to each resource's limit),
which is unique whatever the stack is called; see paas/planner/infra_template.py.
"""

from __future__ import annotations

import hashlib
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


SCHEDULER_NAME_MAX = 64  # schedule and schedule-group names: 1-64 of [0-9a-zA-Z-_.]
STARTED_BY_MAX = 36  # ECS startedBy (the shortest limit AWS documents for it)


def schedule_group(app: str, env: str) -> str:
    """The EventBridge Scheduler group holding app+env's job schedules (tagged with its owner)."""
    joined = join(STACK_PREFIX, app, env)
    if len(joined) <= SCHEDULER_NAME_MAX:
        return joined
    digest = hashlib.sha256("\0".join((app, env)).encode()).hexdigest()[:40]
    return f"{STACK_PREFIX}_{digest}"


def schedule_name(job: str) -> str:
    """A job's schedule, inside its app+env's group: the job name (1-30 of [a-z0-9-])."""
    return job


def job_task_group(job: str) -> str:
    """The ECS task group of a job's tasks: how a worker tells them from the service's."""
    return f"paas-job:{job}"


def job_of_task_group(group: str | None) -> str | None:
    prefix = job_task_group("")
    return group[len(prefix):] if group and group.startswith(prefix) else None


def _started_by(kind: str, number: int, *identity: object) -> str:
    """``paas-<kind>-<number>-<hash>``, 36 characters at most: the number for people, the hash of
    app, environment, number and creation time so that two databases (a test run, a second
    installation) sharing a cluster never name each other's tasks."""
    head = f"paas-{kind}-{number}-"
    digest = hashlib.sha256("\0".join(str(x) for x in (kind, number, *identity)).encode()).hexdigest()
    return head + digest[:max(8, STARTED_BY_MAX - len(head))]


def release_started_by(app: str, env: str, deployment_id: int, created_at: object) -> str:
    """ECS ``startedBy`` (and RunTask client token) of a deployment's release-phase task: a worker
    that crashed after RunTask finds it again with ListTasks instead of starting a second one."""
    return _started_by("release", deployment_id, app, env, created_at)


def run_started_by(app: str, env: str, run_id: int, created_at: object) -> str:
    """ECS ``startedBy`` (and RunTask client token) of a one-off task (`paas run`)."""
    return _started_by("run", run_id, app, env, created_at)


def task_id(task_arn: str) -> str:
    """``arn:aws:ecs:r:a:task/cluster/ID`` → ``ID`` (what `paas tasks` and `paas logs --task` show)."""
    return task_arn.rsplit("/", 1)[-1]


def log_stream(process: str, task: str) -> str:
    """The awslogs stream of a task's container: ``<prefix>/<container>/<task id>``, where paas uses
    the process name as both stream prefix and container name."""
    return f"{process}/{container_name(process)}/{task_id(task)}"


def process_of_log_stream(stream: str) -> str | None:
    parts = stream.split("/")
    return parts[0] if len(parts) == 3 and parts[0] == parts[1] else None


def check_family(app: str, env: str) -> str:
    """The task-definition family of an app's pipeline checks in the first stage: four parts, so
    it never equals a process's family (three parts; dashes inside a part are doubled)."""
    return join(app, env, "pipeline", "check")


def check_started_by(app: str, env: str, check_id: int, created_at: object) -> str:
    """How a retried RunTask of a check finds the task an earlier attempt started."""
    return _started_by("check", check_id, app, env, created_at)
