"""Reply templates (templates/email/): one Jinja2 environment, autoescaped for HTML, for every channel's replies."""
from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from helpdesk.paths import templates_dir


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(templates_dir()),
        autoescape=select_autoescape(["html"]),  # .txt stays plain; every .html value is escaped
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)
