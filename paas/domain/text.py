"""Text that reaches a terminal or a log line: how it is shown in errors, and what one line may hold."""

from __future__ import annotations

from paas.domain.errors import UserError
from paas.domain.lazyre import lazy

# Characters that forge or garble a line of terminal output or a log record: C0 and C1 controls
# (newline, ESC of ANSI sequences, BEL, NUL), line/paragraph separators, bidi overrides, and
# lone surrogates (undecodable bytes from argv, which no database or AWS API can store).
CONTROL_RE = lazy("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
SURROGATE_RE = lazy("[\ud800-\udfff]")


def show(value: object, width: int = 60) -> str:
    """repr() for an error line: never a newline, never a screenful, never deep recursion."""
    if value is None or isinstance(value, (str, int, float, bool)):
        big = isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** 30
        r = f"<an integer of {value.bit_length()} bits>" if big else repr(value)
    else:
        import reprlib

        short = reprlib.Repr()  # keyword arguments only from Python 3.12
        short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 2, 4, 4, 30, 30
        r = short.repr(value)
    return r if len(r) <= width else r[: width - 3] + "..."


def line(value: object, what: str, max_len: int) -> str:
    """One line of printable text of at most `max_len` characters (messages, actors, teams)."""
    if not isinstance(value, str):
        raise UserError(f"invalid {what}: expected text")
    if len(value) > max_len:
        raise UserError(f"invalid {what}: {len(value)} characters, at most {max_len} allowed")
    m = CONTROL_RE.search(value)
    if m:
        raise UserError(f"invalid {what}: control character {show(m.group())} at position {m.start()} "
                        "(one line of printable text)")
    return value
