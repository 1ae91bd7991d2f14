"""The ``index.html`` of the publishing package: one static page, readable without script or style sheet."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

import jinja2

from intake.localtime import oslo, oslo_date
from intake.review.publication import PublishedResponse

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} byte"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} kB"
    return f"{size / 1024 / 1024:.1f} MB".replace(".", ",")


def index_html(*, title: str, number: str, deadline: date, entries: list[PublishedResponse],
               links: dict[tuple[int, int], str], built: datetime) -> str:
    categories: list[tuple[str, list[PublishedResponse]]] = []
    for entry in entries:
        if not categories or categories[-1][0] != entry.category:
            categories.append((entry.category, []))
        categories[-1][1].append(entry)
    return _ENV.get_template("index.html.j2").render(
        title=title,
        number=number,
        deadline=oslo_date(deadline),
        built=oslo(built),
        total=len(entries),
        categories=categories,
        link=lambda entry, index: quote(links[(entry.submission_id, index)]),
        size=_size,
        date=oslo_date,
    )
