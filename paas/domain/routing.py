"""Listener-rule routing: which requests a web process takes, and where its rule goes on a shared listener.

Rules of a rule (ALB RuleCondition reference and ELB quotas; checked here because CloudFormation
would only fail the stack):

* path pattern: starts with ``/``, ≤ 128 characters of ``A-Z a-z 0-9 _ - . $ / ~ " ' @ : + &``
  and the wildcards ``*`` (any run) and ``?`` (one character); case-sensitive.
* host: ≤ 128 characters of ``A-Z a-z 0-9 - .`` and the wildcards, with at least one ``.`` and
  only letters after the last one; case-insensitive.
* per rule: at most 5 condition values (paths and host together) and 5 wildcards.

Priorities (1..50,000, unique per listener, the lowest matching one wins): a rule must come
before every rule that would swallow its requests. `specificity` ranks a rule: host + specific
path, then host + any path, then specific path, then the catch-all ``/*``; within a rank, a
longer literal prefix first. `allocate_priority` picks a free number that keeps the listener in
that order, near a position derived from the rank (so numbers leave room for later rules);
`shadowed_by` says which rules would hide this one, or which this one hides. A listener has
one catch-all: a second is refused (`refuse_second_catch_all`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from paas.domain import limits
from paas.domain.errors import Conflict, UserError
from paas.domain.frozen import Frozen, setfield
from paas.domain.validate import show
from paas.domain.lazyre import lazy

PATH_PATTERN = r"""^/[A-Za-z0-9_.$/~"'@:+&*?-]{0,127}$"""
HOST_PATTERN = r"^(?:[A-Za-z0-9*?-]+\.)+[A-Za-z]+$"  # non-empty labels, letters after the last '.'

_PATH_RE = lazy(PATH_PATTERN[1:-1], re.ASCII)
_HOST_RE = lazy(HOST_PATTERN[1:-1], re.ASCII)
CATCH_ALL = "/*"


@dataclass(frozen=True)
class Routing:
    """What a listener rule matches: path patterns and an optional host."""

    paths: tuple[str, ...] = (CATCH_ALL,)
    host: str | None = None

    def to_json(self) -> dict:
        return {"paths": list(self.paths), "host": self.host}

    @classmethod
    def from_json(cls, d: dict | None) -> "Routing":
        d = d or {}
        return cls(paths=tuple(d.get("paths", (CATCH_ALL,))), host=d.get("host"))

    @property
    def key(self) -> tuple[frozenset[str], str | None]:
        """What the rule matches, for comparing rules (hosts are case-insensitive)."""
        return frozenset(self.paths), self.host.lower() if self.host else None

    @property
    def catch_all(self) -> bool:
        return self.host is None and CATCH_ALL in self.paths


def path_pattern(value: object, what: str = "routing path") -> str:
    if not isinstance(value, str) or not _PATH_RE.fullmatch(value):
        raise UserError(f"invalid {what} {show(value)}: expected a pattern starting with '/', at most "
                        f"{limits.RULE_VALUE_MAX} characters of A-Z a-z 0-9 _-.$/~\"'@:+& and the wildcards * ?")
    return value


def host(value: object, what: str = "routing.host") -> str:
    if not isinstance(value, str) or len(value) > limits.RULE_VALUE_MAX or not _HOST_RE.fullmatch(value):
        raise UserError(f"invalid {what} {show(value)}: expected a host name like shop.example.com or "
                        "*.example.com (letters, digits, '-', '.', wildcards * ?; letters after the last '.')")
    return value


def check(r: Routing, where: str = "routing") -> Routing:
    """One rule's conditions: each value valid, ≤ 5 values and ≤ 5 wildcards in total."""
    if not isinstance(r.paths, tuple) or not r.paths:
        raise UserError(f"invalid {where}.paths: at least one path pattern")
    for p in r.paths:
        path_pattern(p, f"{where}.paths value")
    if len(set(r.paths)) != len(r.paths):
        raise UserError(f"invalid {where}.paths: a pattern is given twice")
    if r.host is not None:
        host(r.host, f"{where}.host")
    values = list(r.paths) + ([r.host] if r.host else [])
    if len(values) > limits.RULE_CONDITION_VALUES_MAX:
        raise UserError(f"invalid {where}: {len(values)} path/host values, at most "
                        f"{limits.RULE_CONDITION_VALUES_MAX} per listener rule (ALB limit)")
    wildcards = sum(v.count("*") + v.count("?") for v in values)
    if wildcards > limits.RULE_WILDCARDS_MAX:
        raise UserError(f"invalid {where}: {wildcards} wildcards, at most {limits.RULE_WILDCARDS_MAX} "
                        "per listener rule (ALB limit)")
    return r


def distinct(routes: dict[str, Routing]) -> None:
    """Web processes of one app need rules that match different requests."""
    seen: dict[tuple, str] = {}
    for proc in sorted(routes):
        k = routes[proc].key
        if k in seen:
            raise UserError(f"processes {seen[k]} and {proc} route the same requests: give each web process "
                            f"its own [processes.NAME.routing]")
        seen[k] = proc


# --------------------------------------------------------------------------- ordering

def _literal_prefix(pattern: str) -> int:
    m = re.search(r"[*?]", pattern)
    return len(pattern) if m is None else m.start()


def specificity(r: Routing) -> tuple[int, int]:
    """(rank, literal prefix length): rank 0 host + path, 1 host only, 2 path only, 3 catch-all;
    smaller sorts first. The prefix is the shortest of the rule's paths (its broadest)."""
    any_path = CATCH_ALL in r.paths
    rank = (1 if any_path else 0) if r.host else (3 if any_path else 2)
    return rank, min(_literal_prefix(p) for p in r.paths)


def _before(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Must a rule of specificity a come before one of specificity b?"""
    return a[0] < b[0] or (a[0] == b[0] and a[1] > b[1])


def preferred_priority(spec: tuple[int, int]) -> int:
    """A position in 1..50,000 from the rank, leaving ~97 numbers between neighbouring ranks."""
    rank, prefix = spec
    slot = rank * (limits.RULE_VALUE_MAX + 1) + (limits.RULE_VALUE_MAX - min(prefix, limits.RULE_VALUE_MAX))
    slots = 4 * (limits.RULE_VALUE_MAX + 1) - 1
    lo, hi = limits.RULE_PRIORITY
    return lo + slot * (hi - lo) // slots


class Rule(Frozen):
    """A rule on the listener: its priority, what it matches and who owns it (for messages).

    `specificity` is derived from `routing` and left out of equality and hash."""

    __slots__ = ("priority", "routing", "owner", "specificity")
    priority: int
    routing: Routing
    owner: str
    specificity: tuple[int, int]

    def __init__(self, priority: int, routing: Routing, owner: str = "") -> None:
        setfield(self, "priority", priority)
        setfield(self, "routing", routing)
        setfield(self, "owner", owner)
        setfield(self, "specificity", specificity(routing))

    def _values(self) -> tuple:
        return (self.priority, self.routing, self.owner)

    def __reduce__(self) -> tuple:
        return (self.__class__, self._values())


def refuse_second_catch_all(new: Routing, existing: Iterable[Rule], owner: str = "") -> None:
    if not new.catch_all:
        return
    for r in existing:
        if r.routing.catch_all and r.owner != owner:
            raise UserError(f"the listener already has a catch-all rule ({r.owner or f'priority {r.priority}'}, "
                            f"paths {CATCH_ALL} without a host): give this app a routing.host or routing.paths")


def allocate_priority(taken: Iterable[int], spec: tuple[int, int], existing: Sequence[Rule] = (),
                      *, routing: Routing | None = None, owner: str = "") -> int:
    """A free priority that puts the rule after every existing rule it must follow and before every
    rule it must precede, as near `preferred_priority(spec)` as the free numbers allow (or, when
    that position is outside the allowed interval, as near its middle).

    A rule must precede the rules of a broader specificity and, with `routing` given, every rule
    that covers it (matches all its requests); it must follow the narrower ones and those it
    covers. `taken`: every priority in use on the listener (rules paas does not own too).
    `existing`: the rules whose conditions are known; those of `owner` itself (a rule being
    re-allocated) keep their numbers but set no order. With `routing` given, a second catch-all
    and a rule matching exactly what another owner's rule matches are refused (UserError). No
    room between the neighbours: Conflict (the listener needs renumbering).
    """
    used = set(taken) | {r.priority for r in existing}
    others = [r for r in existing if not (owner and r.owner == owner)]
    if routing is not None:
        refuse_second_catch_all(routing, others, owner)
        for r in others:
            if r.routing.key == routing.key:
                raise UserError(f"the listener already routes these requests to {r.owner or f'priority {r.priority}'}")

    def precedes(r: Rule) -> bool:  # r must come before the new rule
        return _before(r.specificity, spec) or (routing is not None and covers(routing, r.routing))

    def follows(r: Rule) -> bool:  # r must come after the new rule
        return _before(spec, r.specificity) or (routing is not None and covers(r.routing, routing))

    lo, hi = limits.RULE_PRIORITY
    after = max((r.priority for r in others if precedes(r)), default=lo - 1)
    before = min((r.priority for r in others if follows(r)), default=hi + 1)
    if after >= before:
        raise Conflict(f"no priority fits: a rule that must come first has priority {after} and one that must "
                       f"come later {before}; the listener's rules need renumbering")
    want = preferred_priority(spec)
    if not after < want < before:  # squeezed by rules placed elsewhere: the middle leaves room on both sides
        want = (after + before) // 2
    for delta in range(0, hi - lo + 1):
        for p in (want - delta, want + delta):
            if after < p < before and p not in used:
                return p
        if want - delta <= after and want + delta >= before:
            break
    raise Conflict(f"no free listener-rule priority between {after} and {before}: the listener's rules need "
                   "renumbering")


# --------------------------------------------------------------------------- shadowing

def _pattern_covers(a: str, b: str, fold: bool = False) -> bool:
    """Does every string matching glob b also match glob a? (Sound: True means it does.)

    b's '*' can only be absorbed by a's '*', b's '?' by a's '?' or '*', a literal by itself or
    either wildcard.
    """
    if fold:
        a, b = a.lower(), b.lower()
    n, m = len(a), len(b)
    # ok[i][j]: a[i:] covers b[j:]
    ok = [[False] * (m + 1) for _ in range(n + 1)]
    ok[n][m] = True
    for i in range(n - 1, -1, -1):
        for j in range(m, -1, -1):
            if a[i] == "*":
                ok[i][j] = ok[i + 1][j] or (j < m and ok[i][j + 1])
            elif j < m and b[j] != "*" and (a[i] == "?" or a[i] == b[j]):
                ok[i][j] = ok[i + 1][j + 1]
    return ok[0][0]


def covers(a: Routing, b: Routing) -> bool:
    """Every request rule b matches is matched by rule a."""
    if a.host is not None and (b.host is None or not _pattern_covers(a.host, b.host, fold=True)):
        return False
    return all(any(_pattern_covers(pa, pb) for pa in a.paths) for pb in b.paths)


class Shadowing(Frozen):
    """A rule that hides another one's requests, or is hidden by it."""

    __slots__ = ("rule", "kind")
    rule: Rule
    kind: str  # "shadowed_by": rule hides the new one; "shadows": the new one hides rule

    def __init__(self, rule: Rule, kind: str) -> None:
        setfield(self, "rule", rule)
        setfield(self, "kind", kind)

    def __str__(self) -> str:
        who = self.rule.owner or f"priority {self.rule.priority}"
        return (f"hidden by {who} (priority {self.rule.priority})" if self.kind == "shadowed_by"
                else f"hides {who} (priority {self.rule.priority})")


def shadowed_by(rule: Rule, others: Iterable[Rule]) -> list[Shadowing]:
    """Existing rules that would take every request of `rule` (a lower priority covering it), and
    rules `rule` would take every request of (its lower priority covering theirs)."""
    out = []
    for o in others:
        if o.priority == rule.priority and o.owner == rule.owner:
            continue
        if o.priority < rule.priority and covers(o.routing, rule.routing):
            out.append(Shadowing(o, "shadowed_by"))
        elif rule.priority < o.priority and covers(rule.routing, o.routing):
            out.append(Shadowing(o, "shadows"))
    return sorted(out, key=lambda s: s.rule.priority)
