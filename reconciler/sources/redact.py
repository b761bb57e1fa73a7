"""Keeping credentials out of text: URLs with userinfo and known secret strings.

Owns the one rule every message, log line, status file and API response about a repository
follows (ARCHITECTURE §5.1): a URL is shown without its ``user:password@`` or ``token@`` part,
and a secret the caller knows about (a token, the HTTP header built from it) is shown as
``***``. Called by :mod:`reconciler.sources.git` for every error it raises, and by the API and
runtime when they show a repository's URL.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from reconciler.secrets import mask_text

# scheme "://" userinfo "@": the userinfo is everything up to the last "@" before the
# authority ends ("/", "?", "#" or whitespace), so a password holding a raw "@" is still
# removed whole, and an "@" in a path is left alone.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@")


def redact_url(url: str) -> str:
    """``url`` without its userinfo: ``https://tok@host/x.git`` -> ``https://host/x.git``.

    Paths, queries, local paths and scp-like ``git@host:org/repo.git`` addresses (whose user
    name is not a secret) are returned unchanged.
    """
    return _URL_USERINFO.sub(r"\g<scheme>", url, count=1) if "://" in url else url


def redact_text(text: str, *, secrets: Collection[str] = ()) -> str:
    """``text`` with every URL's userinfo removed and every string of ``secrets`` masked.

    Secrets are masked by the one masking function, however short (a token the caller
    names is secret whatever its length); empty strings are ignored.
    """
    return _URL_USERINFO.sub(r"\g<scheme>", mask_text(text, secrets, min_length=1))
