"""The `study` section: which curation methods and seeds the DVC matrix runs.

A method entry is a base method, optionally followed by `+balanced` (the same method applied
within each group of `select.balance`, the budget split equally). Names are lower-case letters,
digits, `_` and `+` only: they become DVC matrix stage names (`train@<method>-<seed>`, where `@`
and `:` are separators) and path components (`models/<method>/...`, so no `/`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gencurate.config.strict import require

BASE_METHODS = ("full", "random", "coreset", "typicality", "typiclust", "prototypes")
BALANCED = "balanced"  # the one modifier: `<base>+balanced`
MODIFIER_SEPARATOR = "+"
METHOD_PATTERN = re.compile(r"[a-z0-9_]+(\+[a-z0-9_]+)?")


def split_method(name: str) -> tuple[str, bool]:
    """'typicality+balanced' -> ('typicality', True); 'coreset' -> ('coreset', False).

    Raises ValueError naming the problem for a name outside the grammar.
    """
    if not isinstance(name, str) or not METHOD_PATTERN.fullmatch(name):
        raise ValueError(f"{name!r} is not <method> or <method>+{BALANCED} (lower-case letters, digits, _)")
    base, _, modifier = name.partition(MODIFIER_SEPARATOR)
    if base not in BASE_METHODS:
        raise ValueError(f"unknown method {base!r} in {name!r}; valid: {', '.join(BASE_METHODS)}")
    if modifier and modifier != BALANCED:
        raise ValueError(f"unknown modifier {modifier!r} in {name!r}; valid: {BALANCED}")
    if modifier and base == "full":
        raise ValueError(f"{name!r}: full takes every image, there is nothing to balance")
    return base, bool(modifier)


@dataclass(frozen=True, kw_only=True)
class StudyConfig:
    methods: tuple[str, ...] = ("full", "random", "coreset", "typicality", "typicality+balanced")
    seeds: tuple[int, ...] = (0, 1)

    def __post_init__(self) -> None:
        require(len(self.methods) > 0, "study.methods", "list at least one method")
        require(len(set(self.methods)) == len(self.methods), "study.methods", "a method is listed twice")
        for method in self.methods:
            try:
                split_method(method)
            except ValueError as err:
                require(False, "study.methods", str(err))
        require(len(self.seeds) > 0, "study.seeds", "list at least one seed")
        require(len(set(self.seeds)) == len(self.seeds), "study.seeds", "a seed is listed twice")
        require(all(s >= 0 for s in self.seeds), "study.seeds", "seeds must be >= 0")
