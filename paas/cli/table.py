"""Tables that fit the terminal: the columns that identify a thing are never cut.

Each column says how it may give way when the table is wider than the terminal:

* ``keep``: never cut, never dropped (a deployment id, a release, a state);
* ``image``: shortened from the left (``…/shop:1.2``), never into its name and tag;
* otherwise cut on the right with ``…`` down to ``floor`` characters, and dropped whole,
  highest ``drop`` rank first, when even the floors do not fit.

The width is the terminal's on a terminal, `$COLUMNS` when set, and unlimited when piped (a
script or `grep` gets whole values; `--json` is the stable interface). Colour only on a
terminal. Times: "5m ago" on a terminal, ISO 8601 with the UTC offset otherwise.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

ELLIPSIS = "…"
GAP = 2


class Col:
    """How one column prints and gives way (see the module docstring)."""

    __slots__ = ("name", "keep", "floor", "drop", "image", "style", "align")

    def __init__(self, name: str, *, keep: bool = False, floor: int = 8, drop: int | None = None,
                 image: bool = False, style: Callable[[Any], str] | None = None, align: str = "left"):
        self.name = name
        self.keep = keep
        self.floor = floor
        self.drop = drop
        self.image = image
        self.style = style
        self.align = align


# --------------------------------------------------------------------------- text width

def cell_len(text: str) -> int:
    """Terminal cells `text` takes: wide East Asian characters and emoji take two, combining
    marks none."""
    if text.isascii():
        return len(text)
    n = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def cut_right(text: str, width: int) -> str:
    if cell_len(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + ELLIPSIS


def image_floor(ref: str) -> str:
    """The shortest form of an image reference that still names it: the last path part with its
    tag (``…/shop:1.2``), a digest cut to 8 hex digits."""
    head, sep, digest = ref.partition("@")
    if sep and len(digest) > 15:  # sha256: and 8 hex digits
        digest = digest[:15] + ELLIPSIS
    name = head.rsplit("/", 1)[-1]
    short = (ELLIPSIS + "/" if "/" in head else "") + name
    return short + (sep + digest)


def cut_image(ref: str, width: int) -> str:
    if cell_len(ref) <= width:
        return ref
    floor = image_floor(ref)
    if cell_len(floor) >= width:
        return floor
    # keep as much of the registry path as fits, cut from the left
    head = ref.partition("@")[0]
    tail = floor[len(ELLIPSIS):] if floor.startswith(ELLIPSIS) else floor
    path = head.rsplit("/", 1)[0] if "/" in head else ""
    room = width - cell_len(tail) - 1
    return ELLIPSIS + path[len(path) - room:] + tail if room > 0 else floor


# --------------------------------------------------------------------------- times

def is_tty() -> bool:
    return sys.stdout.isatty()


def timestamp(value: datetime, relative: bool | None = None) -> str:
    """'5m ago' on a terminal; '2026-11-26 09:56:53+01:00' (local time with its offset) otherwise."""
    if relative is None:
        relative = is_tty()
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    if relative:
        return ago(value)
    return value.astimezone().isoformat(sep=" ", timespec="seconds")


def ago(value: datetime, now: datetime | None = None) -> str:
    s = ((now or datetime.now(timezone.utc)) - value).total_seconds()
    if s < -1:
        return "in " + human_seconds(-s, coarse=True)
    if s < 1:
        return "now"
    if s >= 7 * 86400:
        return value.astimezone().strftime("%Y-%m-%d")
    return human_seconds(s, coarse=True) + " ago"


def human_seconds(s: float, coarse: bool = False) -> str:
    """45s, 2m05s, 3h10m, 12d03h; `coarse`: the leading unit only (2m, 3h, 12d)."""
    from paas.domain.validate import format_seconds

    text = format_seconds(s)
    if coarse:
        for i, ch in enumerate(text):
            if ch.isalpha():
                return text[: i + 1]
    return text


def fmt(value: Any, relative: bool | None = None) -> str:
    """One cell: '-' for nothing, times as above, and control characters (a newline in a config
    value, an escape sequence) shown escaped, never sent to the terminal."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return timestamp(value, relative)
    if isinstance(value, timedelta):
        return human_seconds(value.total_seconds())
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if not text.isprintable():
        from paas.domain.text import CONTROL_RE

        text = CONTROL_RE.sub(lambda m: repr(m.group())[1:-1], text)
    return text


# --------------------------------------------------------------------------- layout

def terminal_width() -> int | None:
    """$COLUMNS when set, the terminal's width on a terminal, None (no limit) when piped."""
    raw = os.environ.get("COLUMNS", "")
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    if is_tty():
        try:
            return os.get_terminal_size(sys.stdout.fileno()).columns
        except OSError:
            return 80
    return None


def layout(cols: Sequence[Col], cells: Sequence[Sequence[str]], width: int | None) -> list[tuple[int, int]]:
    """The columns shown, in order, as (index, width)."""
    n = len(cols)
    natural = [max([cell_len(c.name)] + [cell_len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    if width is None or sum(natural) + GAP * (n - 1) <= width:
        return list(enumerate(natural))
    floors = []
    for i, c in enumerate(cols):
        if c.keep:
            floors.append(natural[i])
        elif c.image:
            floors.append(max([cell_len(c.name)] + [cell_len(image_floor(r[i])) for r in cells]))
        else:
            floors.append(min(natural[i], max(c.floor, cell_len(c.name))))
    visible = list(range(n))
    empty = {i for i in range(n) if cells and all(r[i] in ("-", "") for r in cells)}

    def rank(i: int) -> tuple[int, int]:  # which droppable column goes first: empty ones, then by rank
        return (1 if i in empty else 0, cols[i].drop or 0)

    while sum(floors[i] for i in visible) + GAP * (len(visible) - 1) > width:
        droppable = [i for i in visible if cols[i].drop is not None or (i in empty and not cols[i].keep)]
        if not droppable:
            break
        visible.remove(max(droppable, key=rank))
    budget = width - GAP * (len(visible) - 1)
    if sum(natural[i] for i in visible) <= budget:
        return [(i, natural[i]) for i in visible]
    # water-fill: every shrinkable column gets min(natural, max(floor, cap)), the cap as high as fits
    lo, hi = 0, max(natural[i] for i in visible)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(natural[i], max(floors[i], mid)) for i in visible) <= budget:
            lo = mid
        else:
            hi = mid - 1
    widths = {i: min(natural[i], max(floors[i], lo)) for i in visible}
    spare = budget - sum(widths.values())
    for i in visible:  # hand out what rounding left, left to right
        if spare <= 0:
            break
        extra = min(spare, natural[i] - widths[i])
        widths[i] += extra
        spare -= extra
    return [(i, widths[i]) for i in visible]


def _pad(text: str, width: int, align: str) -> str:
    fill = " " * max(0, width - cell_len(text))
    return fill + text if align == "right" else text + fill


def render(columns: Sequence[Col | str], rows: Sequence[Sequence[Any]], width: int | None = None,
           colour: bool = False, relative: bool | None = None) -> list[str]:
    """The table's lines: a header in capitals, then one line per row."""
    cols = [c if isinstance(c, Col) else Col(c) for c in columns]
    cells = [[fmt(v, relative) for v in r] for r in rows]
    shown = layout(cols, cells, width)
    lines = []
    head = "  ".join(_pad(cut_right(cols[i].name.upper(), w), w, cols[i].align) for i, w in shown).rstrip()
    lines.append(_style(head, bold=True) if colour else head)
    for raw, r in zip(rows, cells):
        parts = []
        for i, w in shown:
            c = cols[i]
            text = cut_image(r[i], w) if c.image else (r[i] if c.keep else cut_right(r[i], w))
            text = _pad(text, w, c.align)
            style = c.style(raw[i]) if (colour and c.style) else ""
            parts.append(_style(text, fg=style) if style else text)
        lines.append("  ".join(parts).rstrip())
    return lines


def _style(text: str, fg: str | None = None, bold: bool = False) -> str:
    import click

    dim = fg == "dim"
    return click.style(text, fg=None if dim else (fg or None), bold=bold or None, dim=dim or None)


def print_table(columns: Sequence[Col | str], rows: Sequence[Sequence[Any]], title: str | None = None,
                styles: dict[str, Callable[[Any], str]] | None = None) -> None:
    """Fit to the terminal (see the module docstring); colour only on a terminal."""
    import click

    if styles:
        columns = [Col(c, style=styles[c]) if isinstance(c, str) and c in styles else c for c in columns]
    colour = is_tty()
    if title:
        click.echo(_style(title, bold=True) if colour else title)
    for line in render(columns, rows, terminal_width(), colour=colour):
        click.echo(line)


STATE_STYLE = {
    "succeeded": "green", "in_progress": "yellow", "pending": "cyan", "failed": "red",
    "rolled_back": "magenta", "superseded": "dim", "cancelled": "dim",
}


def state_style(v: Any) -> str:
    return STATE_STYLE.get(str(v), "")
