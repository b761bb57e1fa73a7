"""Renderings of a :class:`~reconciler.plan.review.Review`: text for terminals
(:mod:`.text`), Markdown comments split under a forge's limit (:mod:`.markdown`), and a
versioned JSON document with its schema (:mod:`.document`). Pure and deterministic; called by
``innominatus plan``.
"""

from reconciler.plan.render.document import (
    SCHEMA_PATH,
    SCHEMA_VERSION,
    render_json,
    review_document,
)
from reconciler.plan.render.markdown import COMMENT_LIMIT, MARKER, render_markdown
from reconciler.plan.render.text import render_text
from reconciler.plan.render.words import summary_line

__all__ = [
    "COMMENT_LIMIT",
    "MARKER",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "render_json",
    "render_markdown",
    "render_text",
    "review_document",
    "summary_line",
]
