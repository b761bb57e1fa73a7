"""Creation order of resources that reference each other (ARCHITECTURE §5.4 "Ordering").

A resource whose params say ``${resources.db.host}`` must be created after ``db``; deletes run
in the reverse order. The order is the reference's (score-go ``GetSortedResourceUids``, Kahn's
algorithm in waves): every wave holds the names whose dependencies are all in earlier waves,
sorted by name, so the result is deterministic and each wave could run in parallel. A cycle
(a resource referencing itself included) is an error naming the loop.

Called by the loader (a cycle makes the file invalid), the desired state and the planner.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence


class CycleError(ValueError):
    """References that loop; ``cycle`` lists the names, the first repeated at the end."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__("cycle: " + " -> ".join(self.cycle))


def creation_order(refs: Mapping[str, Collection[str]]) -> list[str]:
    """Every name of ``refs`` (keys and the names they reference), dependencies first."""
    depends: dict[str, set[str]] = {}
    for name, targets in refs.items():
        depends.setdefault(name, set()).update(targets)
        for target in targets:
            depends.setdefault(target, set())
    dependents: dict[str, list[str]] = {name: [] for name in depends}
    for name, targets in depends.items():
        for target in targets:
            dependents[target].append(name)
    waiting = {name: len(targets) for name, targets in depends.items()}

    order: list[str] = []
    wave = sorted(name for name, count in waiting.items() if count == 0)
    while wave:
        order.extend(wave)
        unlocked = []
        for name in wave:
            for dependent in dependents[name]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    unlocked.append(dependent)
        wave = sorted(unlocked)
    if len(order) < len(depends):
        raise CycleError(_find_cycle(depends, placed=set(order)))
    return order


def _find_cycle(depends: Mapping[str, set[str]], *, placed: set[str]) -> list[str]:
    """One loop among the names left unplaced, starting at its smallest name."""
    # Every unplaced name still waits for an unplaced dependency, so following the smallest
    # one from any unplaced name must come back to a name already on the path.
    path: list[str] = []
    seen: dict[str, int] = {}
    name = min(n for n in depends if n not in placed)
    while name not in seen:
        seen[name] = len(path)
        path.append(name)
        name = min(d for d in depends[name] if d not in placed)
    loop = path[seen[name] :]
    start = loop.index(min(loop))
    loop = loop[start:] + loop[:start]
    return [*loop, loop[0]]
