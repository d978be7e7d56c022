"""Regular expressions compiled on first use.

`paas deploy` must start fast (bench/cli_latency.py), and compiling every pattern of every
module it imports costs milliseconds for patterns that one command never uses. `lazy()` stands
in for `re.compile()` at module level: the same methods, the pattern compiled the first time
one of them is called.
"""

from __future__ import annotations

import re
from typing import Any


class LazyRe:
    __slots__ = ("pattern", "flags", "_rx")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._rx: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        rx = self._rx
        if rx is None:
            rx = self._rx = re.compile(self.pattern, self.flags)
        return rx

    def fullmatch(self, *args: Any) -> re.Match[str] | None:
        return self.compiled().fullmatch(*args)

    def match(self, *args: Any) -> re.Match[str] | None:
        return self.compiled().match(*args)

    def search(self, *args: Any) -> re.Match[str] | None:
        return self.compiled().search(*args)

    def sub(self, *args: Any) -> str:
        return self.compiled().sub(*args)

    def findall(self, *args: Any) -> list[Any]:
        return self.compiled().findall(*args)

    def finditer(self, *args: Any) -> Any:
        return self.compiled().finditer(*args)

    def split(self, *args: Any) -> list[str]:
        return self.compiled().split(*args)


def lazy(pattern: str, flags: int = 0) -> LazyRe:
    return LazyRe(pattern, flags)
