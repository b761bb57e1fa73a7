"""Each repository's Score files as the daemon last parsed them (``parsed_files``).

Kept for the next process: a restart parses only the files whose key — path, content, parser
(:func:`reconciler.score.frozen.key`) — is not the one kept. The rows are a cache, never the
record of anything: a row that does not thaw is parsed again, and a lost write costs a parse.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from reconciler.store.chunks import chunks
from reconciler.store.models import ParsedFileRow
from reconciler.store.session import Database


@dataclass(frozen=True, slots=True)
class KeptParse:
    key: str
    nodes: int
    """The YAML nodes parsing it built (charged to a pass's budget when it is not parsed)."""
    workloads: bytes


class ParsedFiles:
    def __init__(self, db: Database) -> None:
        self._db = db

    def read(self, repository: str) -> dict[str, KeptParse]:
        """The files of ``repository`` kept, by path."""
        query = select(
            ParsedFileRow.path, ParsedFileRow.key, ParsedFileRow.nodes, ParsedFileRow.workloads
        ).where(ParsedFileRow.repository == repository)
        with self._db.transaction() as session:
            return {
                path: KeptParse(key, nodes, bytes(workloads))
                for path, key, nodes, workloads in session.execute(query)
            }

    def keep(
        self, repository: str, parsed: Mapping[str, KeptParse], *, only: Collection[str]
    ) -> None:
        """Keep these files of ``repository`` as ``parsed``, and of the others kept, ``only``
        those still kept as they were (the rest: broken, gone, changed, no longer kept)."""
        with self._db.transaction() as session:
            have = set(
                session.scalars(
                    select(ParsedFileRow.path).where(ParsedFileRow.repository == repository)
                )
            )
            drop = have - (set(only) - set(parsed))
            for paths in chunks(sorted(drop)):
                session.execute(
                    delete(ParsedFileRow).where(
                        ParsedFileRow.repository == repository, ParsedFileRow.path.in_(paths)
                    )
                )
            rows = [
                {"repository": repository, "path": path, "key": kept.key}
                | {"nodes": kept.nodes, "workloads": kept.workloads}
                for path, kept in sorted(parsed.items())
            ]
            if rows:
                session.execute(insert(ParsedFileRow), rows)
