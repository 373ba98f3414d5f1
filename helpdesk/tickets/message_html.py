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

_REMOTE_IMG = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
_CID_SRC = re.compile(r"""(\bsrc\s*=\s*)(["']?)cid:([^"'\s>]+)\2""", re.IGNORECASE)
_BLOCKQUOTE_OPEN = re.compile(r"<blockquote>")


def content_id_key(content_id: str | None) -> str:
    """Content-IDs come as `<abc@x>` in headers and `cid:abc@x` in HTML: compare them bare."""
    return (content_id or "").strip().strip("<>").lower()


def remote_images(html: str | None) -> int:
    """How many images the mail would load from the sender's servers (approximate: for the notice)."""
    return len(_REMOTE_IMG.findall(html or ""))


def _without_remote_images(element: str, attribute: str, value: str) -> str | None:
    if element == "img" and attribute == "src" and value.strip().lower().startswith(("http:", "https:", "//")):
        return None  # loading it would tell the sender the mail was read, when and from where
    return value


def sanitise(html: str, *, inline_urls: Mapping[str, str] | None = None, show_remote_images: bool = False) -> Markup:
    """Safe HTML for the console: `cid:` images point at our guarded attachment URLs, remote
    images are left out unless the agent asked for them, and each quoted block (`<blockquote>`)
    collapses into a `<details>` the agent can open."""
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
        attribute_filter=None if show_remote_images else _without_remote_images,
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
