"""`paas.toml`: the app's processes, routing, health checks and strategy defaults.

Parsed strictly (unknown keys are errors, so a typo never silently changes a deploy) into frozen
dataclasses that serialise to the JSON snapshot stored on every release. Every key's type and
range comes from paas/domain/manifest_keys.py (which the JSON Schema is generated from); the
rules between keys are checked here.

Hostile files end as one UserError, never a traceback: `read_manifest` reads at most 256 KiB + 1
bytes (so ``/dev/zero`` cannot hang it), decodes strict UTF-8, and parsing survives nesting
100,000 deep (tomllib recurses), 5,000-digit integers and NUL or escape characters in strings.

JSON shape (``Manifest.to_json``; `from_json` still reads snapshots written before health checks,
per-process routing and ``app`` existed)::

    {"app_type": "web", "app": null,
     "processes": {"web": {"name": "web", "command": null, "port": 8080, "cpu": 256, "memory": 512,
                           "count": 1, "health_check_path": "/",
                           "health_check": {"grace_period": 60, "interval": 10, "timeout": 5,
                                            "healthy_threshold": 2, "unhealthy_threshold": 3,
                                            "healthy_codes": "200-399"},
                           "routing": null}},
     "routing": {"paths": ["/*"], "host": null},
     "strategy": {"default": "rolling", "canary_steps": [10, 100], ...},
     "release": {"command": "manage migrate", "process": null, "timeout_seconds": null},
     "jobs": {"nightly": {"name": "nightly", "schedule": "cron(0 3 * * ? *)", "command": "report",
                          "process": null, "cpu": null, "memory": null}}}

``release`` and ``jobs`` are left out of the snapshot when the file has none, so releases made
before they existed compare equal to new ones that do not use them.

One-off, release-phase and scheduled tasks run the task definition of one of the release's
processes (`Manifest.task_process`): the one named, else ``web``, else the first by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from paas.domain import health, limits, routing
from paas.domain import validate as v
from paas.domain.errors import UserError
from paas.domain.frozen import Frozen, setfield
from paas.domain.health import HealthCheck
from paas.domain.routing import Routing

if TYPE_CHECKING:
    from paas.domain.pipeline import PipelineSpec


def _keys():
    """The paas.toml key table, imported only to parse a paas.toml: `paas deploy` without one never
    pays for building it (see bench/cli_latency.py)."""
    from paas.domain import manifest_keys

    return manifest_keys

__all__ = ["DEFAULT_STEPS", "HealthCheck", "JobSpec", "Manifest", "ProcessSpec", "ReleasePhase", "Routing",
           "StrategyDefaults", "decode_manifest", "default_manifest", "manifest_for_app", "parse_manifest",
           "read_manifest"]

DEFAULT_STEPS = (10, 100)


@dataclass(frozen=True)
class ProcessSpec:
    """One process type of paas.toml."""

    name: str
    command: str | None = None
    port: int | None = None
    cpu: int = 256
    memory: int = 512
    count: int = 1
    health_check_path: str = "/"
    health_check: HealthCheck = HealthCheck()
    routing: Routing | None = None  # None: the manifest's [routing]

    @property
    def is_web(self) -> bool:
        return self.port is not None

    def to_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("name", "command", "port", "cpu", "memory", "count", "health_check_path")}
        d["health_check"] = self.health_check.to_json()
        d["routing"] = self.routing.to_json() if self.routing else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ProcessSpec":
        d = dict(d)
        hc = HealthCheck.from_json(d.pop("health_check", None))
        r = d.pop("routing", None)
        return cls(**d, health_check=hc, routing=Routing.from_json(r) if r else None)


class StrategyDefaults(Frozen):
    """paas.toml's [strategy]: the default strategy and the canary gate's thresholds."""

    __slots__ = ("default", "canary_steps", "bake_seconds", "step_deadline_seconds", "max_5xx_rate", "max_p99_ms",
                 "max_p99_ratio", "min_requests")
    default: str
    canary_steps: tuple[int, ...]
    bake_seconds: float | None  # None: the worker's PAAS_BAKE setting
    step_deadline_seconds: float | None  # None: the worker's PAAS_ROLLOUT_DEADLINE
    max_5xx_rate: float
    max_p99_ms: float
    max_p99_ratio: float
    min_requests: int

    def __init__(self, default: str = "rolling", canary_steps: tuple[int, ...] = DEFAULT_STEPS,
                 bake_seconds: float | None = None, step_deadline_seconds: float | None = None,
                 max_5xx_rate: float = 0.01, max_p99_ms: float = 1000.0, max_p99_ratio: float = 2.0,
                 min_requests: int = 20) -> None:
        setfield(self, "default", default)
        setfield(self, "canary_steps", canary_steps)
        setfield(self, "bake_seconds", bake_seconds)
        setfield(self, "step_deadline_seconds", step_deadline_seconds)
        setfield(self, "max_5xx_rate", max_5xx_rate)
        setfield(self, "max_p99_ms", max_p99_ms)
        setfield(self, "max_p99_ratio", max_p99_ratio)
        setfield(self, "min_requests", min_requests)


class ReleasePhase(Frozen):
    """``[release]``: a command run as a one-off task of each new release before its services change."""

    __slots__ = ("command", "process", "timeout_seconds")
    command: str
    process: str | None  # None: Manifest.task_process's default
    timeout_seconds: float | None  # None: the worker's rollout deadline

    def __init__(self, command: str, process: str | None = None, timeout_seconds: float | None = None) -> None:
        setfield(self, "command", command)
        setfield(self, "process", process)
        setfield(self, "timeout_seconds", timeout_seconds)

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "process": self.process, "timeout_seconds": self.timeout_seconds}


class JobSpec(Frozen):
    """``[jobs.NAME]``: an EventBridge Scheduler schedule running a task of the live release."""

    __slots__ = ("name", "schedule", "command", "process", "cpu", "memory")
    name: str
    schedule: str
    command: str
    process: str | None
    cpu: int | None  # None: the process's
    memory: int | None

    def __init__(self, name: str, schedule: str, command: str, process: str | None = None, cpu: int | None = None,
                 memory: int | None = None) -> None:
        setfield(self, "name", name)
        setfield(self, "schedule", schedule)
        setfield(self, "command", command)
        setfield(self, "process", process)
        setfield(self, "cpu", cpu)
        setfield(self, "memory", memory)

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("name", "schedule", "command", "process", "cpu", "memory")}


@dataclass(frozen=True)
class Manifest:
    """A parsed paas.toml, as stored on every release."""

    app_type: str = "web"
    processes: dict[str, ProcessSpec] = field(default_factory=dict)
    routing: Routing = Routing()
    strategy: StrategyDefaults = StrategyDefaults()
    app: str | None = None
    release: ReleasePhase | None = None
    jobs: dict[str, JobSpec] = field(default_factory=dict)
    # What the file said, for `manifest_for_app` (not stored: a stored manifest has been adapted).
    declared_type: str | None = field(default=None, compare=False, repr=False)
    declared_processes: bool = field(default=True, compare=False, repr=False)
    # [pipeline] is the app's, not a release's: stored in `pipelines` (paas pipeline set, or at
    # deploy), never in the release snapshot, so it is left out of to_json and comparisons.
    pipeline: PipelineSpec | None = field(default=None, compare=False, repr=False)

    def route(self, process: str) -> Routing:
        """The listener-rule conditions of a web process: its own, else the manifest's."""
        own = self.processes[process].routing
        return own if own is not None else self.routing

    def web_routes(self) -> dict[str, Routing]:
        return {p.name: self.route(p.name) for p in self.processes.values() if p.is_web}

    def task_process(self, name: str | None = None) -> str:
        """The process whose task definition a one-off, release or job task runs: `name`, else
        ``web``, else the first process by name."""
        if name is not None:
            return name
        return "web" if "web" in self.processes else min(self.processes)

    def to_json(self) -> dict[str, Any]:
        s = self.strategy._asdict()
        s["canary_steps"] = list(self.strategy.canary_steps)
        out = {"app_type": self.app_type, "app": self.app,
               "processes": {k: p.to_json() for k, p in self.processes.items()},
               "routing": self.routing.to_json(), "strategy": s}
        if self.release is not None:
            out["release"] = self.release.to_json()
        if self.jobs:
            out["jobs"] = {k: j.to_json() for k, j in sorted(self.jobs.items())}
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Manifest":
        s = d.get("strategy", {})
        rp = d.get("release")
        return cls(
            app_type=d.get("app_type", "web"),
            processes={k: ProcessSpec.from_json(p) for k, p in d.get("processes", {}).items()},
            routing=Routing.from_json(d.get("routing")),
            strategy=StrategyDefaults(**{**s, "canary_steps": tuple(s.get("canary_steps", DEFAULT_STEPS))}),
            app=d.get("app"),
            release=ReleasePhase(**rp) if rp else None,
            jobs={k: JobSpec(**j) for k, j in (d.get("jobs") or {}).items()},
        )


def default_manifest(app_type: str) -> Manifest:
    """What an app gets without a paas.toml: one `web` process on 8080, or one `worker`."""
    if app_type == "web":
        procs = {"web": ProcessSpec(name="web", port=8080)}
    else:
        procs = {app_type: ProcessSpec(name=app_type)}
    return Manifest(app_type=app_type, processes=procs, declared_processes=False)


def manifest_for_app(m: Manifest, app: str, app_type: str) -> Manifest:
    """The manifest as deployed to `app` (of type `app_type`): a declared ``app`` or ``type`` must
    agree, and a file without processes gets the app type's default process. Call it in the
    service layer after loading the app, before storing the release."""
    if m.app is not None and m.app != app:
        raise UserError(f"paas.toml is for app {m.app!r}, not {app!r}")
    if m.declared_type is not None and m.declared_type != app_type:
        raise UserError(f"paas.toml says type = {m.declared_type!r}, but app {app} is a {app_type} app")
    procs = m.processes if m.declared_processes else default_manifest(app_type).processes
    out = replace(m, app_type=app_type, processes=procs, declared_type=app_type)
    _check_task_processes(out)
    return out


def _check_task_processes(m: Manifest) -> None:
    """``[release]`` and every job name a process of the manifest, and a job's size is a Fargate pair."""
    if m.release is not None and m.release.process is not None and m.release.process not in m.processes:
        raise UserError(f"paas.toml: release.process {m.release.process!r} names no process "
                        f"(processes: {', '.join(sorted(m.processes))})")
    for job in m.jobs.values():
        if job.process is not None and job.process not in m.processes:
            raise UserError(f"paas.toml: jobs.{job.name}.process {job.process!r} names no process "
                            f"(processes: {', '.join(sorted(m.processes))})")
        proc = m.processes[m.task_process(job.process)]
        if job.cpu is not None or job.memory is not None:
            try:
                v.fargate_size(job.cpu or proc.cpu, job.memory or proc.memory)
            except UserError as e:
                raise UserError(f"paas.toml: jobs.{job.name}: {e}") from None


# --------------------------------------------------------------------------- reading

def read_manifest(path: str) -> Manifest:
    """Read and parse a paas.toml: at most MANIFEST_MAX_BYTES + 1 bytes are read, whatever the file."""
    where = v.CONTROL_RE.sub("?", str(path))
    try:
        with open(path, "rb") as f:
            data = f.read(limits.MANIFEST_MAX_BYTES + 1)
    except OSError as e:
        raise UserError(f"cannot read manifest {where}: {e.strerror or type(e).__name__}") from None
    return decode_manifest(data, where)


def decode_manifest(data: bytes, source: str = "paas.toml") -> Manifest:
    if len(data) > limits.MANIFEST_MAX_BYTES:
        raise UserError(f"{source}: larger than {limits.MANIFEST_MAX_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{source}: not valid UTF-8 (byte {e.start})") from None
    return parse_manifest(text, source)


def _load(text: str, source: str) -> dict:
    import tomllib

    if not isinstance(text, str):
        raise UserError(f"{source}: expected text")
    if len(text) > limits.MANIFEST_MAX_BYTES:
        raise UserError(f"{source}: larger than {limits.MANIFEST_MAX_BYTES // 1024} KiB")
    try:
        return tomllib.loads(text)
    except ValueError as e:  # TOMLDecodeError, or int() refusing a 5000-digit integer
        raise UserError(f"{source}: not valid TOML: {' '.join(str(e).split())}") from None
    except RecursionError:
        raise UserError(f"{source}: not valid TOML: nested too deeply") from None


def _process(pname: str, raw: Any) -> ProcessSpec:
    mk = _keys()
    v.name(pname, "process name")
    where = f"processes.{pname}"
    raw = mk.read(raw, mk.PROCESS, f"[{where}]")
    get = lambda key: mk.get(raw, key, mk.PROCESS, where)  # noqa: E731
    cpu, mem = v.fargate_size(get("cpu"), get("memory"))
    port = get("port")
    path = get("health_check_path")
    hc_raw = raw.get("health_check")
    r_raw = raw.get("routing")
    if port is None and (hc_raw is not None or r_raw is not None):
        raise UserError(f"paas.toml: {where} has no port, so it takes no health_check or routing")
    hc = HealthCheck()
    if hc_raw is not None:
        hc_raw = mk.read(hc_raw, mk.HEALTH_CHECK, f"[{where}.health_check]")
        vals = {k: mk.get(hc_raw, k, mk.HEALTH_CHECK, f"{where}.health_check") for k in mk.HEALTH_CHECK.keys}
        if "path" in hc_raw:
            if path is not None:
                raise UserError(f"paas.toml: {where} gives health_check_path and health_check.path: keep one")
            path = vals["path"]
        del vals["path"]
        hc = health.check(HealthCheck(**vals), f"{where}.health_check")
    own = None
    if r_raw is not None:
        own = _routing(mk.read(r_raw, mk.ROUTING, f"[{where}.routing]"), f"{where}.routing")
    return ProcessSpec(pname, get("command"), port, cpu, mem, get("count"),
                       health.path(path) if path is not None else "/", hc, own)


def _routing(raw: dict, where: str) -> Routing:
    mk = _keys()
    paths = mk.get(raw, "paths", mk.ROUTING, where)
    host = mk.get(raw, "host", mk.ROUTING, where)
    return routing.check(Routing(tuple(paths), host), where)


def _pipeline(raw: Any) -> PipelineSpec:
    # imported here: [pipeline] is rare and its six record types cost ≈ 3 ms at import (bench/cli_latency)
    from paas.domain.pipeline import PipelineSpec, StageSpec, parse_tag_pattern
    from paas.domain.pipeline import check as check_pipeline

    mk = _keys()
    p = mk.read(raw, mk.PIPELINE, "[pipeline]")
    pget = lambda key: mk.get(p, key, mk.PIPELINE, "pipeline")  # noqa: E731
    stages = []
    for i, s in enumerate(pget("stages")):
        where = f"pipeline.stages[{i}]"
        sget = lambda key: mk.get(s, key, mk.STAGE, where)  # noqa: E731
        steps = sget("canary_steps")
        stages.append(StageSpec(sget("environment"), sget("strategy"),
                                tuple(v.canary_steps(steps)) if steps else None,
                                float(sget("soak")), sget("approval")))
    return check_pipeline(PipelineSpec(pget("repository"), parse_tag_pattern(pget("tags")), pget("test_command"),
                                       tuple(stages), float(pget("test_timeout"))))


def parse_manifest(text: str, source: str = "paas.toml") -> Manifest:
    mk = _keys()
    data = mk.read(_load(text, source), mk.TOP, "[top]")
    get = lambda key: mk.get(data, key, mk.TOP, "")  # noqa: E731
    declared_type = get("type") if "type" in data else None
    app_type = declared_type or "web"
    procs = {pname: _process(pname, raw) for pname, raw in get("processes").items()} if "processes" in data else {}
    declared_processes = bool(procs)
    if not procs:
        procs = default_manifest(app_type).processes
    top_routing = _routing(mk.read(data.get("routing", {}), mk.ROUTING, "[routing]"), "routing")

    s = mk.read(data.get("strategy", {}), mk.STRATEGY, "[strategy]")
    sget = lambda key: mk.get(s, key, mk.STRATEGY, "strategy")  # noqa: E731
    bake = sget("bake") if "bake" in s else sget("bake_seconds")
    strategy = StrategyDefaults(
        default=sget("default"),
        canary_steps=tuple(v.canary_steps(sget("canary_steps"))),
        bake_seconds=None if bake is None else float(bake),
        step_deadline_seconds=None if "step_deadline" not in s else float(sget("step_deadline")),
        max_5xx_rate=float(sget("max_5xx_rate")),
        max_p99_ms=float(sget("max_p99_ms")),
        max_p99_ratio=float(sget("max_p99_ratio")),
        min_requests=sget("min_requests"),
    )
    release = None
    if "release" in data:
        r = mk.read(data["release"], mk.RELEASE, "[release]")
        rget = lambda key: mk.get(r, key, mk.RELEASE, "release")  # noqa: E731
        release = ReleasePhase(rget("command"), rget("process"),
                               None if "timeout" not in r else float(rget("timeout")))
    jobs = {}
    for jname, raw in (get("jobs") or {}).items() if "jobs" in data else ():
        v.name(jname, "job name")
        j = mk.read(raw, mk.JOB, f"[jobs.{jname}]")
        try:
            vals = {k: mk.get(j, k, mk.JOB, f"jobs.{jname}") for k in mk.JOB.keys}
        except UserError as e:
            raise UserError(f"paas.toml: jobs.{jname}: {e}") from None
        jobs[jname] = JobSpec(jname, **vals)
    pipeline = _pipeline(data["pipeline"]) if "pipeline" in data else None
    m = Manifest(app_type, procs, top_routing, strategy, get("app"), release, jobs,
                 declared_type=declared_type, declared_processes=declared_processes, pipeline=pipeline)
    _check_task_processes(m)
    routes = m.web_routes()
    for p, r in routes.items():
        routing.check(r, f"processes.{p} routing")
    routing.distinct(routes)
    return m
