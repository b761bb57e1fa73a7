"""Rendering URL templates (``config.url`` of ``http`` steps) component by component.

The scheme, host and port come from the provider author, fixed when the workflow loads: a
template there is refused, except one that is the *whole host*, or the *whole base URL* at the
start (``{{ .parameters.api }}/v1/...``), and names a parameter declared ``platform: true`` —
platform configuration, never a resource's value. Credentials in the URL never come from a
template (send them in a header). Every other value is percent-encoded as one component: in the
path ``/`` ``?`` ``#`` and ``%`` are encoded, and a value making a segment ``.``, ``..`` or empty
is refused; in the query and fragment ``&`` ``=`` ``+`` are encoded too. So a tenant name can
never turn ``/tenants/{{ .parameters.tenant }}/quota`` into ``/admin/tenants/ALL?force=true``.

Messages name the parameter, never the value. Pure; used by :mod:`.contexts`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from reconciler.providers.slots import Holes, Slot, fill, skeleton, text_of
from reconciler.providers.template import TemplateError, describe_print, parameter_of, parse

_ORIGIN = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


@lru_cache(maxsize=1024)
def _parsed(source: str) -> tuple[Any, ...]:
    return parse(source)


class _Url:
    def __init__(
        self, holes: Holes, slots: list[Slot], platform: Collection[str], *, values: bool
    ) -> None:
        self.holes, self.slots, self.platform, self.values = holes, slots, platform, values

    def _first_slot(self, text: str) -> Slot:
        index = next(p for p in self.holes.pieces(text) if isinstance(p, int))
        return self.slots[index]

    def _platform_slot(self, index: int, role: str) -> Slot:
        slot = self.slots[index]
        if parameter_of(slot.pipeline) not in self.platform:
            raise TemplateError(
                f"{describe_print(slot.pipeline)} is {role} of the URL, so a value would choose "
                "where the request (and its credentials) goes; write it in the template, or "
                "use a parameter declared `platform: true`",
                line=slot.pipeline.line,
            )
        return slot

    def build(self, text: str) -> str:
        pieces = list(self.holes.pieces(text))
        if pieces and isinstance(pieces[0], int):
            slot = self._platform_slot(pieces[0], "the start")
            rest = text[len(self.holes.token(pieces[0])) :]
            if rest and rest[0] not in "/?#":
                raise TemplateError(
                    "after a base URL the template must go on with /, ? or #: a host is never "
                    "assembled from pieces",
                    line=slot.pipeline.line,
                )
            head = self._base(slot) if self.values else ""
            if head.endswith("/") and rest.startswith("/"):
                head = head[:-1]
            return head + self._tail(rest)
        match = _ORIGIN.match(text)
        if match is None or self.holes.found(match.group(1)):
            where = self._first_slot(text).pipeline.line if self.holes.found(text) else 1
            raise TemplateError(
                "an http URL starts with http:// or https:// and a host written in the template "
                "(or with a `platform: true` parameter holding the base URL)",
                line=where,
            )
        if match.group(1).lower() not in ("http", "https"):
            raise TemplateError(f"the URL scheme must be http or https, got {match.group(1)!r}")
        netloc = match.group(2)
        return f"{match.group(1)}://{self._netloc(netloc)}{self._tail(text[match.end() :])}"

    def _base(self, slot: Slot) -> str:
        base = text_of(slot.value)
        try:
            split = urlsplit(base)
            _ = split.port  # a port that is not a number raises here
        except ValueError:
            split = urlsplit("")
        if (
            split.scheme.lower() not in ("http", "https")
            or not split.hostname
            or split.query
            or split.fragment
        ):
            raise TemplateError(
                f"{describe_print(slot.pipeline)} must be a base URL (http(s)://host[:port]"
                "[/path], no query or fragment)",
                line=slot.pipeline.line,
            )
        return base

    def _netloc(self, netloc: str) -> str:
        if not self.holes.found(netloc):
            return netloc
        userinfo, at, host_port = netloc.rpartition("@")
        if at and self.holes.found(userinfo):
            raise TemplateError(
                f"{describe_print(self._first_slot(userinfo).pipeline)} is in the URL's "
                "credentials; send credentials in a header (headers: {Authorization: ...})",
                line=self._first_slot(userinfo).pipeline.line,
            )
        host, colon, port = host_port.partition(":")
        if self.holes.found(port):
            slot = self._first_slot(port)
            raise TemplateError(
                f"{describe_print(slot.pipeline)} is in the URL's port; write the port in the "
                "template or in the platform's base URL",
                line=slot.pipeline.line,
            )
        index = self.holes.whole(host)
        if index is None:
            slot = self._first_slot(host)
            raise TemplateError(
                f"{describe_print(slot.pipeline)} is part of the URL's host; a template there "
                "must be the whole host, from a parameter declared `platform: true`",
                line=slot.pipeline.line,
            )
        slot = self._platform_slot(index, "the host")
        value = text_of(slot.value) if self.values else "host"
        if not _HOST.fullmatch(value):
            raise TemplateError(
                f"{describe_print(slot.pipeline)} is not a host name", line=slot.pipeline.line
            )
        return f"{userinfo}{at}{value}{colon}{port}"

    def _tail(self, text: str) -> str:
        """Path, query and fragment, each value percent-encoded as one component."""
        path, hash_, fragment = text.partition("#")
        path, question, query = path.partition("?")
        segments = [self._segment(segment) for segment in path.split("/")]
        rendered = "/".join(segments)
        if question:
            rendered += "?" + self._encoded(query)
        if hash_:
            rendered += "#" + self._encoded(fragment)
        return rendered

    def _encoded(self, text: str) -> str:
        return "".join(
            piece
            if isinstance(piece, str)
            else quote(text_of(self.slots[piece].value), safe="")
            if self.values
            else "x"
            for piece in self.holes.pieces(text)
        )

    def _segment(self, text: str) -> str:
        rendered = self._encoded(text)
        if self.holes.found(text) and rendered in ("", ".", ".."):
            slot = self._first_slot(text)
            raise TemplateError(
                f"{describe_print(slot.pipeline)} makes a URL path segment empty, '.' or '..', "
                "which would change the path",
                line=slot.pipeline.line,
            )
        return rendered


def render_url(source: str, context: Mapping[str, Any], *, platform: Collection[str]) -> str:
    """The URL with each value one encoded component (run time)."""
    holes = Holes(source)
    text, slots = fill(_parsed(source), context, holes)
    return _Url(holes, slots, platform, values=True).build(text)


def url_problems(source: str, *, platform: Collection[str]) -> list[TemplateError]:
    """Why a URL template cannot be rendered safely (load time; first ``if`` branches)."""
    holes = Holes(source)
    text, slots = skeleton(_parsed(source), holes, branches="first")
    try:
        _Url(holes, slots, platform, values=False).build(text)
    except TemplateError as exc:
        return [exc]
    return []
