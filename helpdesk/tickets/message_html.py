"""Message HTML as the console shows it: sanitised by nh3, inline images resolved, quotes collapsed.

Everything that arrives from outside goes through `sanitise` before it reaches a template;
stored HTML stays as received (the raw record), so a stricter policy later applies to old mail too.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import nh3
from markupsafe import Markup

# Ammonia's defaults minus the layout tags mail rarely needs; no forms, no media, no styles:
# inline CSS can overlay the console (position:fixed), so it goes entirely.
TAGS = nh3.ALLOWED_TAGS - {"nav", "header", "footer", "map", "area", "details", "summary"}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}
CLEAN_CONTENT = {"script", "style", "title", "head", "template", "noscript", "iframe", "object", "svg", "math"}

_CID_SRC = re.compile(r"""(\bsrc\s*=\s*)(["']?)cid:([^"'\s>]+)\2""", re.IGNORECASE)
_BLOCKQUOTE_OPEN = re.compile(r"<blockquote>")


def content_id_key(content_id: str | None) -> str:
    """Content-IDs come as `<abc@x>` in headers and `cid:abc@x` in HTML: compare them bare."""
    return (content_id or "").strip().strip("<>").lower()


def sanitise(html: str, *, inline_urls: Mapping[str, str] | None = None) -> Markup:
    """Safe HTML for the console: `cid:` images point at our guarded attachment URLs, and
    each quoted block (`<blockquote>`) collapses into a `<details>` the agent can open."""
    urls = inline_urls or {}

    def resolve(match: re.Match) -> str:
        url = urls.get(content_id_key(match.group(3)))
        return f'{match.group(1)}"{url}"' if url else f'{match.group(1)}""'

    html = _CID_SRC.sub(resolve, html)
    clean = nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags=CLEAN_CONTENT,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    # nh3 serialises well-formed HTML and we allowed no attributes on blockquote, so the tags
    # below pair up exactly; nesting gives nested <details>, which is what the quotes are.
    clean = _BLOCKQUOTE_OPEN.sub('<details class="quoted"><summary>Quoted text</summary><blockquote>', clean)
    clean = clean.replace("</blockquote>", "</blockquote></details>")
    return Markup(clean)
