"""The responses-per-day chart as inline SVG, drawn on the server so it needs no script."""

from __future__ import annotations

from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 16, 40
BAR = "#1f5f8b"
LATE = "#a4372b"
DEADLINE = "#1b1b1b"
GRID = "#c9ced6"


def responses_chart(series: list[tuple[date, int]], deadline: date, *, title: str) -> Markup:
    """Bars per day (after the deadline in red) with a dashed line at the end of the deadline day."""
    if not series:
        return Markup("")
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    top = max(max(n for _, n in series), 1)
    step = plot_w / len(series)
    bar_w = max(step * 0.8, 1.0)
    total = sum(n for _, n in series)
    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{total} svar fordelt på {len(series)} dager fra '
        f"{series[0][0]:%d.%m.%Y} til {series[-1][0]:%d.%m.%Y}. Høringsfrist {deadline:%d.%m.%Y}.</desc>",
    ]
    # Three horizontal grid lines with their counts, so the height can be read without hovering.
    for i in range(4):
        value = round(top * i / 3)
        y = TOP + plot_h - plot_h * value / top
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value}</text>')
    label_every = max(1, len(series) // 8)
    for i, (day, count) in enumerate(series):
        x = LEFT + i * step + (step - bar_w) / 2
        h = plot_h * count / top
        colour = LATE if day > deadline else BAR
        if count:
            parts.append(
                f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{day:%d.%m.%Y}: {count} svar</title></rect>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'font-size="11">{day:%d.%m}</text>'
            )
    deadline_index = next((i for i, (day, _) in enumerate(series) if day == deadline), None)
    if deadline_index is not None:
        x = LEFT + (deadline_index + 1) * step
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP - 4}" y2="{TOP + plot_h}" stroke="{DEADLINE}" '
            f'stroke-width="2" stroke-dasharray="5 3"/>'
        )
        anchor = "end" if deadline_index > len(series) * 0.7 else "start"
        dx = -4 if anchor == "end" else 4
        parts.append(
            f'<text x="{x + dx:.1f}" y="{TOP + 8}" text-anchor="{anchor}" font-size="12" font-weight="bold">'
            f"Frist {deadline:%d.%m.%Y}</text>"
        )
    baseline = TOP + plot_h
    right = WIDTH - RIGHT
    parts.append(f'<line x1="{LEFT}" x2="{right}" y1="{baseline}" y2="{baseline}" stroke="{DEADLINE}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


INVITED = "#0b3a5c"
OTHERS = "#5b8fb9"
CHOICE_ROW, CHOICE_LABEL = 34, 150


def choices_chart(choices: list[tuple[str, int, int]], *, title: str, key: str) -> Markup:
    """Horizontal bars per choice, invited bodies and others stacked, with the count and share written out.

    ``choices`` is (choice, invited, others); ``key`` makes the title's id unique on the page.
    """
    if not choices:
        return Markup("")
    total = sum(i + o for _, i, o in choices)
    top = max(max(i + o for _, i, o in choices), 1)
    plot_w = WIDTH - CHOICE_LABEL - 120
    height = TOP + CHOICE_ROW * len(choices) + 8
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{key}-title {key}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{key}-title">{escape(title)}</title>',
        f'<desc id="{key}-desc">'
        + escape("; ".join(f"{c}: {i + o} ({i} inviterte, {o} andre)" for c, i, o in choices))
        + "</desc>",
    ]
    for row, (choice, invited, others) in enumerate(choices):
        y = TOP + row * CHOICE_ROW
        count = invited + others
        share = f"{100 * count / total:.0f} %" if total else "–"
        parts.append(f'<text x="{CHOICE_LABEL - 8}" y="{y + 17}" text-anchor="end" font-size="13">'
                     f"{escape(choice[:22])}</text>")
        x = float(CHOICE_LABEL)
        for value, colour, label in ((invited, INVITED, "inviterte"), (others, OTHERS, "andre")):
            width = plot_w * value / top
            if value:
                parts.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{width:.1f}" height="{CHOICE_ROW - 12}" '
                             f'fill="{colour}"><title>{escape(choice)}: {value} {label}</title></rect>')
            x += width
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 17}" font-size="13">{count} ({share})</text>')
    parts.append(f'<line x1="{CHOICE_LABEL}" x2="{CHOICE_LABEL}" y1="{TOP - 4}" y2="{height - 8}" '
                 f'stroke="{DEADLINE}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
