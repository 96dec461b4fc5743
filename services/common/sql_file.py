"""SQL kept in ``.sql`` files, one file per store, read once when the store is built.

A file holds named statements, each after a ``-- name: NAME`` line, with named parameters
(``:tenant``; ``:epoch::bigint`` casts one). A ``-- fragment: NAME`` block is text other
statements of the same file include as ``{{NAME}}`` (the context read and the append that also reads
it share their columns). Comments up to the first ``-- name:`` or ``-- fragment:`` line describe the
file; the comment lines right after a name describe that statement.

A statement is turned into asyncpg's form once (``$1``, ``$2`` in the order of first use), so the
hot path pays nothing for the names; ``Statement.arguments`` orders a dict of parameters for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_HEADER = re.compile(r"^-- (name|fragment): *([a-z_][a-z0-9_]*) *$", re.MULTILINE)
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_INCLUDE = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}")


@dataclass(frozen=True)
class Statement:
    """One statement in asyncpg's form: ``$n`` parameters, the n-th named ``names[n - 1]``."""

    name: str
    sql: str
    names: tuple[str, ...]

    def arguments(self, parameters: Mapping[str, object]) -> list:
        return [parameters[name] for name in self.names]


def parse(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """The statements and the fragments of a file's text, by name, as written (named parameters)."""
    statements: dict[str, str] = {}
    fragments: dict[str, str] = {}
    headers = list(_HEADER.finditer(text))
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        body = text[header.end() : end].strip().removesuffix(";").strip()
        target = statements if header.group(1) == "name" else fragments
        if header.group(2) in target:
            raise ValueError(f"{header.group(1)} {header.group(2)} is defined twice")
        target[header.group(2)] = body
    return statements, fragments


def positional(name: str, sql: str) -> Statement:
    """``sql`` with named parameters as asyncpg's ``$n``."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return Statement(name, _PARAMETER.sub(number, sql), tuple(names))


class SqlFile:
    """The statements of one ``.sql`` file."""

    def __init__(self, path: Path):
        self.path = path
        written, fragments = parse(path.read_text())
        self.written = {name: self._included(sql, fragments) for name, sql in written.items()}
        """Each statement as written (named parameters, fragments included)."""
        self._statements = {name: positional(name, sql) for name, sql in self.written.items()}

    def __getitem__(self, name: str) -> Statement:
        return self._statements[name]

    def __contains__(self, name: str) -> bool:
        return name in self._statements

    def _included(self, sql: str, fragments: Mapping[str, str]) -> str:
        def include(match: re.Match) -> str:
            if match.group(1) not in fragments:
                raise ValueError(f"{self.path.name}: no fragment {match.group(1)}")
            return fragments[match.group(1)]

        return _INCLUDE.sub(include, sql)
