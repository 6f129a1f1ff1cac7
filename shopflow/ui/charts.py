"""Small SVG charts drawn on the server (no script, no library): they scale with the page
(``viewBox``), print, and read the same on a phone. Every text is escaped."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from shopflow.ui.i18n import t, tr
from shopflow.ui.kpis import Kpi
from shopflow.ui.labels import label

PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4b5563")
CLOSED_COLOR = "#111827"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return float(step)
    return float(value)


def kpi_bars(figures: Sequence[Kpi], title: str) -> Markup:
    """One bar per KPI that has a scale (rates and scores): its label above, value at its end.
    Labels above bars keep the chart readable when it shrinks to a phone's width."""
    rows = [k for k in figures if k.scale is not None]
    row_h, bar_w, width = 40, 520, 640
    height = 30 + row_h * max(len(rows), 1)
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(tr(title))}">'
             f"<title>{escape(tr(title))}</title>"
             f'<text x="0" y="16" class="chart-title">{escape(tr(title))}</text>']
    for i, k in enumerate(rows):
        y = 28 + i * row_h
        scale = k.scale or 1.0
        share = 0.0 if k.value is None else max(0.0, min(1.0, k.value / scale))
        parts.append(f'<text x="0" y="{y + 12}" class="chart-label">{escape(tr(k.label))}</text>'
                     f'<rect x="0" y="{y + 18}" width="{bar_w}" height="14" class="chart-track"/>'
                     f'<rect x="0" y="{y + 18}" width="{share * bar_w:.1f}" height="14" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(k.text())}</title></rect>'
                     f'<text x="{bar_w + 8}" y="{y + 30}" class="chart-value">'
                     f"{escape(k.text())}</text>")
    if not rows:
        parts.append('<text x="0" y="46" class="chart-label">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text in it went through escape())


def throughput(days: Sequence[str], created: dict[str, list[int]],
               closed: dict[str, list[int]], title: str) -> Markup:
    """Cases opened per day (bars stacked by process) and closed per day (a line)."""
    width, height, left, top, bottom = 640, 240, 36, 40, 34
    plot_w, plot_h = width - left - 10, height - top - bottom
    n = max(len(days), 1)
    opened_total = [sum(v[i] for v in created.values()) for i in range(len(days))]
    closed_total = [sum(v[i] for v in closed.values()) for i in range(len(days))]
    top_value = _nice_max(max([*opened_total, *closed_total, 0]))
    slot = plot_w / n
    bar = max(2.0, slot * 0.62)

    def y_of(v: float) -> float:
        return top + plot_h - plot_h * v / top_value

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(tr(title))}">'
             f"<title>{escape(tr(title))}</title>"
             f'<text x="0" y="14" class="chart-title">{escape(tr(title))}</text>']
    for frac in (0, 0.5, 1):
        v = top_value * frac
        y = y_of(v)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'class="chart-grid"/><text x="{left - 4}" y="{y + 4:.1f}" '
                     f'class="chart-axis" text-anchor="end">{v:g}</text>')
    kinds = list(created)
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        base = 0
        for j, kind in enumerate(kinds):
            v = created[kind][i]
            if not v:
                continue
            y1, y0 = y_of(base + v), y_of(base)
            parts.append(f'<rect x="{x:.1f}" y="{y1:.1f}" width="{bar:.1f}" '
                         f'height="{y0 - y1:.1f}" fill="{PALETTE[j % len(PALETTE)]}">'
                         f"<title>{escape(day)} {escape(label(kind))}: {v}</title></rect>")
            base += v
        if i % max(1, n // 7) == 0 or i == n - 1:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" '
                         f'class="chart-axis" text-anchor="middle">{escape(day[5:])}</text>')
    points = " ".join(f"{left + i * slot + slot / 2:.1f},{y_of(v):.1f}"
                      for i, v in enumerate(closed_total))
    if points:
        parts.append(f'<polyline points="{points}" fill="none" stroke="{CLOSED_COLOR}" '
                     f'stroke-width="2"/>')
        for i, v in enumerate(closed_total):
            parts.append(f'<circle cx="{left + i * slot + slot / 2:.1f}" cy="{y_of(v):.1f}" r="2.5" '
                         f'fill="{CLOSED_COLOR}"><title>{escape(days[i])} closed: {v}</title>'
                         f"</circle>")
    legend_x = left
    for j, kind in enumerate(kinds):
        parts.append(f'<rect x="{legend_x}" y="22" width="10" height="10" '
                     f'fill="{PALETTE[j % len(PALETTE)]}"/><text x="{legend_x + 14}" y="31" '
                     f'class="chart-axis">{escape(label(kind))}</text>')
        legend_x += 24 + 7 * len(label(kind))
    parts.append(f'<line x1="{legend_x}" x2="{legend_x + 14}" y1="27" y2="27" '
                 f'stroke="{CLOSED_COLOR}" stroke-width="2"/><text x="{legend_x + 18}" y="31" '
                 f'class="chart-axis">{t("关闭", "Closed")}</text></svg>')
    return Markup("".join(parts))  # noqa: S704 (every text in it went through escape())
