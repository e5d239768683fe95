"""The console's Jinja2 environment: templates shipped in the package, autoescaped, strict."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Response
from litestar.enums import MediaType

from hub.console.chart import bar_chart
from hub.console.markdown import render_markdown
from hub.models import as_utc

__all__ = ["SECURITY_HEADERS", "STATIC", "page"]

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

#: No script runs on a console page, whatever a description smuggles through; styles and images
#: only from the hub itself; forms post only to it; no framing.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _when(value: datetime | None) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["when"] = _when
_ENV.filters["markdown"] = render_markdown
_ENV.globals["bar_chart"] = bar_chart


def page(template: str, status_code: int = 200, **context: Any) -> Response:
    """The rendered ``template`` as an HTML response with the console's security headers."""
    html = _ENV.get_template(template).render(**context)
    return Response(html, status_code=status_code, media_type=MediaType.HTML, headers=SECURITY_HEADERS)
