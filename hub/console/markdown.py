"""Markdown to safe HTML: markdown-it-py renders, nh3 (ammonia) keeps only harmless HTML.

Descriptions carry text from production errors, written by whoever caused the error: a title
like ``<img src=x onerror=alert(1)>`` or a ``javascript:`` link must render as inert text or
not at all. Raw HTML in the Markdown is let through the renderer and then sanitised, so the one
place that decides what is safe is nh3's allow-list below, not the renderer's options.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

__all__ = ["render_markdown"]

_MARKDOWN = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table").enable("strikethrough")

#: No images (an <img> to an outside address is a request the reader did not choose to make), no
#: forms, no styles, no scripts; links only to http, https and mailto.
_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "del", "details", "em", "h1", "h2", "h3", "h4", "h5", "h6",
         "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "summary", "sup", "table", "tbody", "td",
         "th", "thead", "tr", "ul"}
_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "td": {"align"}, "th": {"align"}}


def render_markdown(text: str | None) -> Markup:
    """``text`` (Markdown) as HTML safe to put in a page."""
    if not text:
        return Markup("")
    html = _MARKDOWN.render(text)
    return Markup(nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                            link_rel="noopener noreferrer nofollow", strip_comments=True))
