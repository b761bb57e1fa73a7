"""One repository's parsed Score files and their desired state, kept between passes.

The repository sync (``engine/sync.py``) hands in the files a commit changed; only the app names
those files declared before or declare now are judged again (:func:`reconciler.desired.verdict`),
so a commit costs what it changed, not what the repository holds (``assemble`` over 20,000 apps:
40-50 ms). The state equals :func:`reconciler.desired.assemble` of the same files except for
the order of its mappings; :meth:`DesiredCache.ordered` gives ``assemble``'s order.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.desired import DesiredApp, DesiredState, ParsedFile, verdict
from reconciler.errors import InputError
from reconciler.score.model import Workload
from reconciler.types import AppName

Declaration = tuple[str, int, Workload]
"""(path, place in its file, workload): sorted, a name's declarations are in ``assemble``'s
order, the first one the one it reports."""


@dataclass
class DesiredCache:
    files: dict[str, ParsedFile] = field(default_factory=dict)
    """Path -> the file as parsed at the last commit."""
    apps: dict[AppName, DesiredApp] = field(default_factory=dict)
    invalid_apps: dict[AppName, tuple[str, str]] = field(default_factory=dict)
    invalid_files: dict[str, str] = field(default_factory=dict)
    _declared: dict[AppName, list[Declaration]] = field(default_factory=dict)
    """App name -> every declaration of it, sorted (more than one: the name is invalid)."""

    def state(self) -> DesiredState:
        """The desired state (its mappings are this cache's, in no particular order)."""
        return DesiredState(
            apps=self.apps, invalid_files=self.invalid_files, invalid_apps=self.invalid_apps
        )

    def replace(self, files: Mapping[str, ParsedFile]) -> None:
        """Every file anew (a first pass, or a commit not reached from the last one)."""
        self.files.clear()
        self.apps.clear()
        self.invalid_apps.clear()
        self.invalid_files.clear()
        self._declared.clear()
        self.update(files)

    def update(self, changed: Mapping[str, ParsedFile | None]) -> set[AppName]:
        """Apply the files a commit changed (None: gone). Returns the app names they declared
        before or declare now: the only ones whose verdict can have changed."""
        touched: set[AppName] = set()
        for path, parsed in changed.items():
            touched |= self._forget(path)
            if parsed is None:
                continue
            self.files[path] = parsed
            if isinstance(parsed, InputError):
                self.invalid_files[path] = parsed.message
                continue
            for place, workload in enumerate(parsed):
                declared = self._declared.setdefault(workload.name, [])
                insort(declared, (path, place, workload), key=_place)
                touched.add(workload.name)
        for name in touched:
            self._judge(name)
        return touched

    def ordered(self, names: Iterable[AppName]) -> list[AppName]:
        """``names`` (each declared) in the order ``assemble`` gives them: by first
        declaration."""
        return sorted(names, key=lambda name: _place(self._declared[name][0]))

    def _forget(self, path: str) -> set[AppName]:
        """Drop the file at ``path`` and its declarations; the names it declared."""
        self.invalid_files.pop(path, None)
        parsed = self.files.pop(path, None)
        if not isinstance(parsed, list):
            return set()
        names = {w.name for w in parsed}
        for name in names:
            left = [d for d in self._declared[name] if d[0] != path]
            if left:
                self._declared[name] = left
            else:
                del self._declared[name]
        return names

    def _judge(self, name: AppName) -> None:
        self.apps.pop(name, None)
        self.invalid_apps.pop(name, None)
        declared = self._declared.get(name)
        if declared is None:
            return
        judged = verdict(name, [(path, workload) for path, _, workload in declared])
        if isinstance(judged, DesiredApp):
            self.apps[name] = judged
        else:
            self.invalid_apps[name] = judged


def _place(declaration: Declaration) -> tuple[str, int]:
    return declaration[0], declaration[1]
