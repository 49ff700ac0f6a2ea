"""Charts as SVG drawn on the server: pure functions from figures to markup.

No script and no CSS of their own: the Content-Security-Policy forbids inline styles, so every
colour, stroke and size is a presentation attribute (``fill``, ``stroke``, ``font-size``), which the
policy does not govern. Each chart is ``role="img"`` with an ``aria-label``, a ``<title>`` and a
``<desc>`` that lists its figures (what a screen reader says), scales by its ``viewBox``, and puts
the figures it draws on its marks as ``data-*`` attributes (``data-key``, ``data-value``, ...), so a
test reads the values back from the page instead of guessing from pixels. Every text is escaped.
No figures draws a chart with a message in it (``data-empty="true"``), never an error.

Three kinds:

- ``bar_chart``: horizontal or vertical bars, one value each or stacked / grouped series;
- ``target_chart``: a value per month (a share, 0-1) as a line with points, against a horizontal
  target line; the points below the target are marked (``data-below="true"``, red);
- ``distribution_chart``: per row (a month), each observation as a dot, the median and the 90th
  percentile, over a shaded norm band (the 15-30 minutes of a reception).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

SVG_NS = "http://www.w3.org/2000/svg"

INK, MUTED, LINE, GRID = "#1f2933", "#616e7c", "#9aa5b1", "#e4e9ef"
GOOD, BAD, TARGET, BAND = "#1e7a34", "#b42318", "#9b1c1c", "#dcefe1"
PALETTE = ("#2f6f9f", "#56a3a6", "#e0a030", "#c8553d", "#6b8e23", "#8a6fb0", "#9aa5b1", "#3d5a80")
FONT = 12

Format = Callable[[float], str]


def plain(value: float) -> str:
    """A figure as text when the caller gives no format: whole numbers without decimals."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def percent(value: float) -> str:
    return f"{value * 100:.0f}%" if round(value * 100, 1).is_integer() else f"{value * 100:.1f}%"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _n(x: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _value(x: float | None) -> str:
    """A figure for a data-* attribute: exact enough to compare with the API's JSON."""
    if x is None:
        return ""
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


def text_width(text: str, size: float = FONT) -> float:
    """An estimate of the drawn width: CJK glyphs are square, Latin ones about 0.6 of the size."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.6 for ch in text)


def _clip(text: str, room: float, size: float = FONT) -> str:
    if text_width(text, size) <= room:
        return text
    while text and text_width(text + "…", size) > room:
        text = text[:-1]
    return text + "…"


def nice_step(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def axis(largest: float, *, top: float | None = None, whole: bool = False, count: int = 5) -> list[float]:
    """The ticks of an axis from 0: about ``count`` nice steps (whole numbers for counts) up to the
    first tick at or above ``largest`` — or exactly to ``top`` when it is given. The last is the top."""
    if top:
        step = top / count
        return [step * i for i in range(count + 1)]
    step = nice_step(largest / count) if largest > 0 else 1.0
    if whole:
        step = max(1.0, math.ceil(step))
    n = max(1, math.ceil(largest / step - 1e-9))
    return [step * i for i in range(n + 1)]


def _open(kind: str, width: float, height: float, title: str, desc: str, extra: str = "") -> str:
    return (f'<svg xmlns="{SVG_NS}" viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" '
            f'height="{_n(height)}" role="img" aria-label="{_e(title)}" data-chart="{_e(kind)}"{extra}>'
            f"<title>{_e(title)}</title><desc>{_e(desc)}</desc>")


def empty_chart(kind: str, title: str, message: str, width: float = 960, height: float = 120) -> Markup:
    """A chart with nothing to draw: its title and a message where the figures would be."""
    return Markup(
        _open(kind, width, height, title, message, ' data-empty="true"')
        + f'<rect x="0.5" y="0.5" width="{_n(width - 1)}" height="{_n(height - 1)}" fill="#f7f8fa" '
          f'stroke="{GRID}" rx="4"/>'
        + f'<text x="{_n(width / 2)}" y="{_n(height / 2 + 5)}" text-anchor="middle" fill="{MUTED}" '
          f'font-size="14" data-empty-message="true">{_e(message)}</text></svg>')


def _legend(series: Sequence[Series], x: float, y: float) -> str:
    parts = []
    for s in series:
        parts.append(f'<g data-legend="{_e(s.key)}"><rect x="{_n(x)}" y="{_n(y - 10)}" width="12" height="12" '
                     f'rx="2" fill="{_e(s.color)}"/><text x="{_n(x + 16)}" y="{_n(y)}" font-size="{FONT}" '
                     f'fill="{INK}">{_e(s.label)}</text></g>')
        x += 16 + text_width(s.label) + 18
    return "".join(parts)


# --- bars ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str = PALETTE[0]


@dataclass(frozen=True)
class Bar:
    """One bar: its stable ``key`` (a stage code, a staff id), what it is called, and its value
    per series (one value without series). ``color`` overrides the series' colour (one series)."""

    key: str
    label: str
    values: tuple[float, ...]
    color: str | None = None
    note: str = ""  # shown after the bar's figure (e.g. "3 / 11")

    @property
    def total(self) -> float:
        return float(sum(self.values))


def bar_chart(bars: Sequence[Bar], *, title: str, empty: str, series: Sequence[Series] = (),
              horizontal: bool = True, stacked: bool = True, fmt: Format = plain,
              max_value: float | None = None, width: float = 960, kind: str = "bars") -> Markup:
    """Bars proportional to their values from a zero baseline: ``value / top × plot length``, where
    ``top`` is ``max_value`` or the axis's last tick at or above the largest bar (stacked: its total).

    With several ``series`` a bar's values are stacked (``stacked``) or drawn side by side. Every
    segment is a ``rect`` with ``data-series`` and ``data-value``; every bar a ``g`` with
    ``data-key``, ``data-label`` and ``data-total``."""
    if not bars:
        return empty_chart(kind, title, empty, width)
    lanes = list(series) or [Series("value", title, PALETTE[0])]
    for bar in bars:
        if len(bar.values) != len(lanes):
            raise ValueError(f"bar {bar.key!r} has {len(bar.values)} values for {len(lanes)} series")
    if stacked:
        largest = max(bar.total for bar in bars)
    else:
        largest = max(max(bar.values) for bar in bars)
    whole = all(float(v).is_integer() for bar in bars for v in bar.values)
    grid = axis(largest, top=max_value, whole=whole)
    desc = "; ".join(f"{bar.label}: " + (", ".join(f"{s.label} {fmt(v)}" for s, v in zip(lanes, bar.values))
                                         if series else fmt(bar.values[0])) for bar in bars)
    legend_h = 28 if len(series) > 1 else 0
    if horizontal:
        return _horizontal(bars, lanes, bool(series), title, desc, grid, fmt, width, stacked, legend_h, kind)
    return _vertical(bars, lanes, bool(series), title, desc, grid, fmt, width, stacked, legend_h, kind)


def _segments(bar: Bar, lanes: Sequence[Series], stacked: bool) -> list[tuple[Series, float, float, int]]:
    """(series, value, offset along the bar, lane index across it) per segment."""
    out, offset = [], 0.0
    for i, (lane, value) in enumerate(zip(lanes, bar.values)):
        if stacked:
            out.append((lane, float(value), offset, 0))
            offset += float(value)
        else:
            out.append((lane, float(value), 0.0, i))
    return out


def _bar_text(bar: Bar, fmt: Format, stacked: bool) -> str:
    figure = fmt(bar.total) if stacked else " / ".join(fmt(v) for v in bar.values)
    return f"{figure} · {bar.note}" if bar.note else figure


def _horizontal(bars: Sequence[Bar], lanes: Sequence[Series], has_series: bool, title: str, desc: str,
                grid: list[float], fmt: Format, width: float, stacked: bool, legend_h: float, kind: str) -> Markup:
    top = grid[-1]
    gutter = min(max(text_width(b.label) for b in bars) + 14, 220)
    right = max(text_width(_bar_text(b, fmt, stacked)) for b in bars) + 16
    plot = max(width - gutter - right, 120)
    width = gutter + plot + right
    thick = 20 if stacked or len(lanes) == 1 else 10
    across = thick if stacked else thick * len(lanes)
    row = across + 12
    top_y = 10 + legend_h
    height = top_y + row * len(bars) + 28
    scale = plot / top
    out = [_open(kind, width, height, title, desc, f' data-max="{_value(top)}" data-orientation="horizontal"')]
    if legend_h:
        out.append(_legend(lanes, gutter, 18))
    bottom = top_y + row * len(bars)
    for tick in grid:
        x = gutter + tick * scale
        out.append(f'<line x1="{_n(x)}" y1="{_n(top_y)}" x2="{_n(x)}" y2="{_n(bottom)}" stroke="{GRID}"/>'
                   f'<text x="{_n(x)}" y="{_n(bottom + 16)}" text-anchor="middle" font-size="11" '
                   f'fill="{MUTED}">{_e(fmt(tick))}</text>')
    out.append(f'<line x1="{_n(gutter)}" y1="{_n(top_y)}" x2="{_n(gutter)}" y2="{_n(bottom)}" stroke="{LINE}" '
               f'data-axis="baseline"/>')
    for i, bar in enumerate(bars):
        y = top_y + i * row + 6
        out.append(f'<g data-key="{_e(bar.key)}" data-label="{_e(bar.label)}" data-total="{_value(bar.total)}">'
                   f"<title>{_e(bar.label)}: {_e(_bar_text(bar, fmt, stacked))}</title>"
                   f'<text x="{_n(gutter - 8)}" y="{_n(y + across / 2 + 4)}" text-anchor="end" font-size="{FONT}" '
                   f'fill="{INK}">{_e(_clip(bar.label, gutter - 12))}</text>')
        end = gutter
        for lane, value, offset, index in _segments(bar, lanes, stacked):
            length = value * scale
            color = bar.color if bar.color and not has_series else lane.color
            x, yy = gutter + offset * scale, y + index * thick
            out.append(f'<rect x="{_n(x)}" y="{_n(yy)}" width="{_n(length)}" height="{_n(thick - 1)}" '
                       f'fill="{_e(color)}" data-series="{_e(lane.key)}" data-value="{_value(value)}">'
                       f"<title>{_e(bar.label)} · {_e(lane.label)}: {_e(fmt(value))}</title></rect>")
            end = max(end, x + length)
        out.append(f'<text x="{_n(end + 6)}" y="{_n(y + across / 2 + 4)}" font-size="{FONT}" fill="{INK}" '
                   f'data-figure="true">{_e(_bar_text(bar, fmt, stacked))}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))


def _vertical(bars: Sequence[Bar], lanes: Sequence[Series], has_series: bool, title: str, desc: str,
              grid: list[float], fmt: Format, width: float, stacked: bool, legend_h: float, kind: str) -> Markup:
    top = grid[-1]
    gutter = max(text_width(fmt(t), 11) for t in grid) + 14
    plot_w = width - gutter - 12
    band = plot_w / len(bars)
    thick = min(band * 0.6, 90) if stacked else min(band * 0.8 / len(lanes), 40)
    label_lines = max(1, math.ceil(max(text_width(b.label) for b in bars) / max(band - 6, 20)))
    label_lines = min(label_lines, 2)
    top_y = 14 + legend_h + 14
    plot_h = 220
    bottom = top_y + plot_h
    height = bottom + 10 + 16 * label_lines + 8
    scale = plot_h / top
    out = [_open(kind, width, height, title, desc, f' data-max="{_value(top)}" data-orientation="vertical"')]
    if legend_h:
        out.append(_legend(lanes, gutter, 20))
    for tick in grid:
        y = bottom - tick * scale
        out.append(f'<line x1="{_n(gutter)}" y1="{_n(y)}" x2="{_n(gutter + plot_w)}" y2="{_n(y)}" stroke="{GRID}"/>'
                   f'<text x="{_n(gutter - 6)}" y="{_n(y + 4)}" text-anchor="end" font-size="11" '
                   f'fill="{MUTED}">{_e(fmt(tick))}</text>')
    out.append(f'<line x1="{_n(gutter)}" y1="{_n(bottom)}" x2="{_n(gutter + plot_w)}" y2="{_n(bottom)}" '
               f'stroke="{LINE}" data-axis="baseline"/>')
    for i, bar in enumerate(bars):
        centre = gutter + band * (i + 0.5)
        across = thick if stacked else thick * len(lanes)
        left = centre - across / 2
        out.append(f'<g data-key="{_e(bar.key)}" data-label="{_e(bar.label)}" data-total="{_value(bar.total)}">'
                   f"<title>{_e(bar.label)}: {_e(_bar_text(bar, fmt, stacked))}</title>")
        highest = bottom
        for lane, value, offset, index in _segments(bar, lanes, stacked):
            length = value * scale
            color = bar.color if bar.color and not has_series else lane.color
            x, y = left + index * thick, bottom - (offset + value) * scale
            out.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(thick - 1)}" height="{_n(length)}" '
                       f'fill="{_e(color)}" data-series="{_e(lane.key)}" data-value="{_value(value)}">'
                       f"<title>{_e(bar.label)} · {_e(lane.label)}: {_e(fmt(value))}</title></rect>")
            highest = min(highest, y)
        out.append(f'<text x="{_n(centre)}" y="{_n(highest - 5)}" text-anchor="middle" font-size="{FONT}" '
                   f'fill="{INK}" data-figure="true">{_e(_bar_text(bar, fmt, stacked))}</text>')
        out.append(_wrapped(bar.label, centre, bottom + 18, band - 6, label_lines))
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def _wrapped(text: str, x: float, y: float, room: float, lines: int) -> str:
    """A label under a bar, on up to ``lines`` lines (broken at a space, else anywhere), clipped."""
    parts: list[str] = []
    rest = text
    for n in range(lines):
        if n == lines - 1 or text_width(rest) <= room:
            parts.append(_clip(rest, room))
            break
        cut = len(rest)
        while cut > 1 and text_width(rest[:cut]) > room:
            cut -= 1
        space = rest.rfind(" ", 0, cut + 1)
        cut = space if space > 0 else cut
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    spans = "".join(f'<tspan x="{_n(x)}" dy="{0 if i == 0 else 15}">{_e(p)}</tspan>' for i, p in enumerate(parts))
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="middle" font-size="{FONT}" fill="{INK}">{spans}</text>'


# --- a share per month against a target ---------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """A month's share (0-1), or None for a month without any figure (drawn as a gap)."""

    key: str
    label: str
    value: float | None
    note: str = ""  # e.g. "9 / 10"


def target_chart(points: Sequence[Point], *, title: str, empty: str, target: float, target_label: str,
                 below_label: str, fmt: Format = percent, width: float = 960, height: float = 300,
                 kind: str = "target") -> Markup:
    """The shares as a line with a point per month on a 0-100% axis, and a dashed target line at
    ``target`` (``data-target``); a point below it is red, larger and ``data-below="true"``; the
    area under the target is tinted. y = top + (1 - value) × plot height."""
    if not any(p.value is not None for p in points):
        return empty_chart(kind, title, empty, width)
    gutter, right = 48, 16 + max(text_width(target_label, 11), 40)
    top_y, plot_h = 34, height - 34 - 46
    bottom = top_y + plot_h
    plot_w = width - gutter - right
    band = plot_w / len(points)

    def y_of(value: float) -> float:
        return top_y + (1 - value) * plot_h

    below = [p for p in points if p.value is not None and p.value < target]
    desc = "; ".join(f"{p.label}: {fmt(p.value) if p.value is not None else '-'}" for p in points)
    desc += f"; {target_label}"
    out = [_open(kind, width, height, title, desc, f' data-points="{len(points)}" data-below-count="{len(below)}"')]
    target_y = y_of(target)
    out.append(f'<rect x="{_n(gutter)}" y="{_n(target_y)}" width="{_n(plot_w)}" height="{_n(bottom - target_y)}" '
               f'fill="#fdf3f2" data-zone="below-target"/>')
    for tick in axis(1.0, top=1.0):
        y = y_of(tick)
        out.append(f'<line x1="{_n(gutter)}" y1="{_n(y)}" x2="{_n(gutter + plot_w)}" y2="{_n(y)}" stroke="{GRID}"/>'
                   f'<text x="{_n(gutter - 6)}" y="{_n(y + 4)}" text-anchor="end" font-size="11" '
                   f'fill="{MUTED}">{_e(fmt(tick))}</text>')
    out.append(f'<line x1="{_n(gutter)}" y1="{_n(target_y)}" x2="{_n(gutter + plot_w)}" y2="{_n(target_y)}" '
               f'stroke="{TARGET}" stroke-width="2" stroke-dasharray="6 4" data-target="{_value(target)}"/>'
               f'<text x="{_n(gutter + plot_w + 6)}" y="{_n(target_y + 4)}" font-size="11" fill="{TARGET}" '
               f'data-target-label="true">{_e(target_label)}</text>')
    every = max(1, math.ceil(len(points) * 56 / plot_w))  # a month label every n points, so they never overlap
    runs: list[list[tuple[float, float]]] = [[]]
    for i, p in enumerate(points):
        x = gutter + band * (i + 0.5)
        if i % every == 0 or i == len(points) - 1:
            out.append(f'<text x="{_n(x)}" y="{_n(bottom + 18)}" text-anchor="middle" font-size="11" '
                       f'fill="{MUTED}">{_e(p.label)}</text>')
        if p.value is None:
            runs.append([])
            continue
        runs[-1].append((x, y_of(p.value)))
    seen = [xy for run in runs for xy in run]
    if len(seen) > 1 and len([run for run in runs if run]) > 1:  # across months without figures: dashed
        out.append(f'<polyline points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in seen)}" fill="none" '
                   f'stroke="{PALETTE[0]}" stroke-width="1" stroke-dasharray="3 3" data-line="gaps"/>')
    for run in runs:
        if len(run) > 1:
            out.append(f'<polyline points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in run)}" fill="none" '
                       f'stroke="{PALETTE[0]}" stroke-width="2" data-line="true"/>')
    for i, p in enumerate(points):
        if p.value is None:
            continue
        x, y = gutter + band * (i + 0.5), y_of(p.value)
        low = p.value < target
        tip = f"{p.label}: {fmt(p.value)}" + (f" ({p.note})" if p.note else "") + (f" · {below_label}" if low else "")
        out.append(f'<g data-key="{_e(p.key)}" data-value="{_value(p.value)}" data-below="{str(low).lower()}">'
                   f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{6 if low else 4.5}" fill="{BAD if low else PALETTE[0]}" '
                   f'stroke="#fff" stroke-width="1.5"><title>{_e(tip)}</title></circle>')
        if len(points) <= 18:
            label_y = y - 10 if y - 10 > top_y - 8 else y + 18
            out.append(f'<text x="{_n(x)}" y="{_n(label_y)}" text-anchor="middle" font-size="11" '
                       f'fill="{BAD if low else INK}">{_e(fmt(p.value))}</text>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


# --- distributions against a norm band -----------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """A row of observations (a month's reception minutes) with the median and p90 as given."""

    key: str
    label: str
    values: tuple[float, ...] = field(default=())
    median: float | None = None
    p90: float | None = None


def distribution_chart(rows: Sequence[Distribution], *, title: str, empty: str, band: tuple[float, float],
                       band_label: str, median_label: str, p90_label: str, fmt: Format = plain,
                       width: float = 960, first_is_total: bool = False, kind: str = "distribution") -> Markup:
    """One row per group on a common axis from 0: each observation a dot, the median a bar across
    the row (``data-median``), a line from it to the 90th percentile (``data-p90``), and the norm
    band shaded behind them (``data-band``, from ``band[0]`` to ``band[1]``). x = left + value × scale.
    ``first_is_total``: the first row sums up the others (a firmer line under it)."""
    if not any(r.values or r.median is not None for r in rows):
        return empty_chart(kind, title, empty, width)
    largest = max([band[1] * 1.2, *(v for r in rows for v in r.values),
                   *(r.p90 for r in rows if r.p90 is not None), *(r.median for r in rows if r.median is not None)])
    grid = axis(largest)
    top = grid[-1]
    gutter = min(max(text_width(r.label) for r in rows) + 14, 200)
    right = 16
    plot_w = width - gutter - right
    legend_h = 26
    row_h = 30
    top_y = 8 + legend_h
    bottom = top_y + row_h * len(rows)
    height = bottom + 30
    scale = plot_w / top

    def x_of(value: float) -> float:
        return gutter + value * scale

    desc = "; ".join(f"{r.label}: {median_label} {fmt(r.median) if r.median is not None else '-'}, "
                     f"{p90_label} {fmt(r.p90) if r.p90 is not None else '-'}" for r in rows) + f"; {band_label}"
    out = [_open(kind, width, height, title, desc, f' data-max="{_value(top)}"')]
    low_x, high_x = x_of(band[0]), x_of(band[1])
    out.append(f'<rect x="{_n(low_x)}" y="{_n(top_y)}" width="{_n(high_x - low_x)}" height="{_n(bottom - top_y)}" '
               f'fill="{BAND}" data-band="true" data-low="{_value(band[0])}" data-high="{_value(band[1])}"/>')
    # the legend: the band, a dot, the median, the p90
    lx = gutter
    out.append(f'<rect x="{_n(lx)}" y="8" width="14" height="12" fill="{BAND}"/>'
               f'<text x="{_n(lx + 18)}" y="18" font-size="{FONT}" fill="{INK}">{_e(band_label)}</text>')
    lx += 18 + text_width(band_label) + 18
    out.append(f'<rect x="{_n(lx + 5)}" y="7" width="3" height="14" fill="{INK}"/>'
               f'<text x="{_n(lx + 14)}" y="18" font-size="{FONT}" fill="{INK}">{_e(median_label)}</text>')
    lx += 14 + text_width(median_label) + 18
    out.append(f'<line x1="{_n(lx)}" y1="14" x2="{_n(lx + 12)}" y2="14" stroke="{PALETTE[0]}" stroke-width="2"/>'
               f'<rect x="{_n(lx + 12)}" y="9" width="2" height="10" fill="{PALETTE[0]}"/>'
               f'<text x="{_n(lx + 20)}" y="18" font-size="{FONT}" fill="{INK}">{_e(p90_label)}</text>')
    for tick in grid:
        x = x_of(tick)
        out.append(f'<line x1="{_n(x)}" y1="{_n(top_y)}" x2="{_n(x)}" y2="{_n(bottom)}" stroke="{GRID}"/>'
                   f'<text x="{_n(x)}" y="{_n(bottom + 16)}" text-anchor="middle" font-size="11" '
                   f'fill="{MUTED}">{_e(fmt(tick))}</text>')
    for i, r in enumerate(rows):
        mid = top_y + row_h * (i + 0.5)
        if i:
            out.append(f'<line x1="{_n(gutter)}" y1="{_n(mid - row_h / 2)}" x2="{_n(gutter + plot_w)}" '
                       f'y2="{_n(mid - row_h / 2)}" stroke="{LINE if i == 1 and first_is_total else GRID}"/>')
        out.append(f'<g data-key="{_e(r.key)}" data-count="{len(r.values)}" data-median="{_value(r.median)}" '
                   f'data-p90="{_value(r.p90)}"><title>{_e(r.label)}: {_e(median_label)} '
                   f'{_e(fmt(r.median) if r.median is not None else "-")}, {_e(p90_label)} '
                   f'{_e(fmt(r.p90) if r.p90 is not None else "-")}</title>'
                   f'<text x="{_n(gutter - 8)}" y="{_n(mid + 4)}" text-anchor="end" font-size="{FONT}" '
                   f'fill="{INK}">{_e(_clip(r.label, gutter - 12))}</text>')
        for value in r.values:
            inside = band[0] <= value <= band[1]
            out.append(f'<circle cx="{_n(x_of(value))}" cy="{_n(mid)}" r="3.5" fill="{GOOD if inside else BAD}" '
                       f'fill-opacity="0.55" data-value="{_value(value)}"/>')
        if r.median is not None and r.p90 is not None:
            out.append(f'<line x1="{_n(x_of(r.median))}" y1="{_n(mid)}" x2="{_n(x_of(r.p90))}" y2="{_n(mid)}" '
                       f'stroke="{PALETTE[0]}" stroke-width="2"/>'
                       f'<rect x="{_n(x_of(r.p90) - 1)}" y="{_n(mid - 6)}" width="2" height="12" '
                       f'fill="{PALETTE[0]}" data-mark="p90"/>')
        if r.median is not None:
            out.append(f'<rect x="{_n(x_of(r.median) - 1.5)}" y="{_n(mid - 10)}" width="3" height="20" '
                       f'fill="{INK}" data-mark="median"/>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))
