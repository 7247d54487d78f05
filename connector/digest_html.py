"""The morning digest's HTML part, from the Jinja2 template in `templates/digest/`.

Autoescaped, always: names, titles and messages come from trackers, ledgers and configs, and a
customer called `<script>` must arrive as text. The template keeps its styles inline (mail
clients drop style blocks) and lays figures out in tables, never with spaces.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from connector.aging import BUCKETS
from connector.digest import Created, Digest, Received
from connector.digest_render import (
    BUCKET_NAMES,
    created_what,
    held_up,
    listed,
    money,
    plural,
    subject,
    sums,
    waiting_text,
    when,
)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("connector", "templates/digest"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt field fails the tests, not the morning email
        trim_blocks=False,
    )
    env.globals.update(
        money=money,
        sums=_sum_of,
        held_up=held_up,
        listed=listed,
        plural=plural,
        when=when,
        waiting_text=waiting_text,
        created_what=created_what,
        buckets=BUCKETS,
        bucket_names=BUCKET_NAMES,
    )
    return env


def _sum_of(items: Iterable[Received | Created]) -> str:
    return sums((i.total if isinstance(i, Created) else i.amount, i.currency) for i in items)


def render_html(digest: Digest) -> str:
    template = _environment().get_template("digest.html")
    return template.render(digest=digest, subject=subject(digest))
