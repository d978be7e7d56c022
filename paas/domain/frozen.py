"""`Frozen`: the base of small immutable value classes built on every `paas deploy`.

They behave as frozen dataclasses do (equality and hash by value within one class, a repr
naming every field, FrozenInstanceError on assignment) but are plain classes with __slots__ and
a written-out __init__: `@dataclass` compiles its methods at import, ≈ 0.3-0.5 ms a class on
the request path (bench/cli_latency), while these are compiled once into the bytecode cache.
Types that callers pass to `dataclasses.replace` or `asdict` stay dataclasses.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any

# Assigns a field in __init__ past the frozen __setattr__, as dataclasses do.
setfield = object.__setattr__


class Frozen:
    """Fields are the subclass's `__slots__`, in order."""

    __slots__ = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, n) for n in self.__slots__)

    def _asdict(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self.__slots__}

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"

    def __reduce__(self) -> tuple:
        """copy, deepcopy and pickle rebuild through __init__ (the frozen __setattr__ refuses
        the default slot-by-slot restore); every subclass's __init__ takes its fields in order."""
        return (self.__class__, self._values())

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")
