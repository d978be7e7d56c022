"""`paas.toml`: the app's processes, routing and strategy defaults.

Parsed strictly (unknown keys are errors, so a typo never silently changes a deploy) into frozen
dataclasses that serialise to the JSON snapshot stored on every release.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from paas.domain import validate as v
from paas.domain.errors import UserError

DEFAULT_STEPS = (10, 100)


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: str | None = None
    port: int | None = None
    cpu: int = 256
    memory: int = 512
    count: int = 1
    health_check_path: str = "/"

    @property
    def is_web(self) -> bool:
        return self.port is not None


@dataclass(frozen=True)
class Routing:
    paths: tuple[str, ...] = ("/*",)
    host: str | None = None


@dataclass(frozen=True)
class StrategyDefaults:
    default: str = "rolling"
    canary_steps: tuple[int, ...] = DEFAULT_STEPS
    bake_seconds: float | None = None  # None: the worker's PAAS_BAKE setting
    step_deadline_seconds: float | None = None  # None: the worker's PAAS_ROLLOUT_DEADLINE
    max_5xx_rate: float = 0.01
    max_p99_ms: float = 1000.0
    max_p99_ratio: float = 2.0
    min_requests: int = 20


@dataclass(frozen=True)
class Manifest:
    app_type: str = "web"
    processes: dict[str, ProcessSpec] = field(default_factory=dict)
    routing: Routing = Routing()
    strategy: StrategyDefaults = StrategyDefaults()

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["routing"]["paths"] = list(self.routing.paths)
        d["strategy"]["canary_steps"] = list(self.strategy.canary_steps)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Manifest":
        return cls(
            app_type=d.get("app_type", "web"),
            processes={k: ProcessSpec(**p) for k, p in d.get("processes", {}).items()},
            routing=Routing(paths=tuple(d.get("routing", {}).get("paths", ("/*",))),
                            host=d.get("routing", {}).get("host")),
            strategy=StrategyDefaults(**{**d.get("strategy", {}),
                                         "canary_steps": tuple(d.get("strategy", {}).get("canary_steps", DEFAULT_STEPS))}),
        )


def default_manifest(app_type: str) -> Manifest:
    """What an app gets without a paas.toml: one `web` process on 8080, or one `worker`."""
    if app_type == "web":
        procs = {"web": ProcessSpec(name="web", port=8080)}
    else:
        procs = {app_type: ProcessSpec(name=app_type)}
    return Manifest(app_type=app_type, processes=procs)


_PROCESS_KEYS = {"command", "port", "cpu", "memory", "count", "health_check_path"}
_ROUTING_KEYS = {"paths", "host"}
_STRATEGY_KEYS = {"default", "canary_steps", "bake", "bake_seconds", "step_deadline",
                  "max_5xx_rate", "max_p99_ms", "max_p99_ratio", "min_requests"}
_TOP_KEYS = {"type", "processes", "routing", "strategy"}


def _unknown(section: str, got: dict, allowed: set[str]) -> None:
    extra = sorted(set(got) - allowed)
    if extra:
        raise UserError(f"paas.toml: unknown key {section}{extra[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _table(d: Any, where: str) -> dict:
    if not isinstance(d, dict):
        raise UserError(f"paas.toml: {where} must be a table")
    return d


def _seconds(val: Any, what: str) -> float:
    if isinstance(val, str):
        return float(v.duration(val, what))
    return v.non_negative(val, what)


def parse_manifest(text: str, source: str = "paas.toml") -> Manifest:
    import tomllib

    try:
        data = tomllib.loads(text)
    except ValueError as e:  # TOMLDecodeError, or int() refusing a 5000-digit integer
        raise UserError(f"{source}: not valid TOML: {e}") from None
    _unknown("", data, _TOP_KEYS)
    app_type = v.choice(data.get("type", "web"), v.APP_TYPES, "app type")

    procs: dict[str, ProcessSpec] = {}
    for pname, raw in _table(data.get("processes", {}), "[processes]").items():
        v.name(pname, "process name")
        raw = _table(raw, f"[processes.{pname}]")
        _unknown(f"processes.{pname}.", raw, _PROCESS_KEYS)
        cpu, mem = v.fargate_size(raw.get("cpu", 256), raw.get("memory", 512))
        port = v.port(raw["port"]) if "port" in raw else None
        hc = raw.get("health_check_path", "/")
        if not isinstance(hc, str) or not hc.startswith("/") or len(hc) > 1024:
            raise UserError(f"paas.toml: processes.{pname}.health_check_path must be a path starting with '/'")
        cmd = raw.get("command")
        if cmd is not None and not isinstance(cmd, str):
            raise UserError(f"paas.toml: processes.{pname}.command must be a string")
        procs[pname] = ProcessSpec(pname, cmd, port, cpu, mem, v.count(raw.get("count", 1)), hc)
    if not procs:
        procs = default_manifest(app_type).processes

    r = _table(data.get("routing", {}), "[routing]")
    _unknown("routing.", r, _ROUTING_KEYS)
    paths = r.get("paths", ["/*"])
    if (not isinstance(paths, list) or not paths or len(paths) > 5
            or not all(isinstance(p, str) and p.startswith("/") and len(p) <= 128 for p in paths)):
        raise UserError("paas.toml: routing.paths must be 1-5 path patterns starting with '/' (ALB limit)")
    host = r.get("host")
    if host is not None and (not isinstance(host, str) or not v.re.fullmatch(r"[A-Za-z0-9*?.-]{1,128}", host)):
        raise UserError(f"paas.toml: invalid routing.host {host!r}")

    s = _table(data.get("strategy", {}), "[strategy]")
    _unknown("strategy.", s, _STRATEGY_KEYS)
    steps = s.get("canary_steps", list(DEFAULT_STEPS))
    if not isinstance(steps, list):
        raise UserError("paas.toml: strategy.canary_steps must be a list like [10, 100]")
    bake = s.get("bake", s.get("bake_seconds"))
    deadline = s.get("step_deadline")
    min_req = s.get("min_requests", 20)
    if isinstance(min_req, bool) or not isinstance(min_req, int) or min_req < 0:
        raise UserError(f"paas.toml: invalid strategy.min_requests {min_req!r}")
    strategy = StrategyDefaults(
        default=v.choice(s.get("default", "rolling"), v.STRATEGIES, "strategy"),
        canary_steps=tuple(v.canary_steps(steps)),
        bake_seconds=None if bake is None else _seconds(bake, "bake time"),
        step_deadline_seconds=None if deadline is None else _seconds(deadline, "step deadline"),
        max_5xx_rate=v.rate(s.get("max_5xx_rate", 0.01), "max_5xx_rate"),
        max_p99_ms=v.non_negative(s.get("max_p99_ms", 1000), "max_p99_ms"),
        max_p99_ratio=v.non_negative(s.get("max_p99_ratio", 2.0), "max_p99_ratio"),
        min_requests=min_req,
    )
    return Manifest(app_type, procs, Routing(tuple(paths), host), strategy)
