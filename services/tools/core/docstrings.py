"""Docstrings of tool functions: the summary the model sees and one description per parameter.

Two common styles are understood, so tools written for other frameworks work unchanged:

Google::

    Args:
        city (str): Name of the city.
        units: Celsius or Fahrenheit; may continue
            on the next, more indented line.

NumPy::

    Parameters
    ----------
    city : str
        Name of the city.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_GOOGLE_PARAMS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
_GOOGLE_SECTIONS = _GOOGLE_PARAMS | {
    "returns",
    "return",
    "yields",
    "raises",
    "examples",
    "example",
    "notes",
    "note",
    "see also",
    "attributes",
    "todo",
    "warnings",
    "warning",
}
_GOOGLE_PARAM = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(\((?P<type>[^)]*)\))?\s*:\s*(?P<desc>.*)$")
_NUMPY_PARAM = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(:\s*(?P<type>.*))?$")


@dataclass(frozen=True)
class Docstring:
    """What a docstring says: a summary and descriptions of named parameters."""

    summary: str
    parameters: dict[str, str] = field(default_factory=dict)


def parse_docstring(text: str) -> Docstring:
    """Split a (dedented) docstring into its summary and its parameter descriptions."""
    lines = text.strip("\n").splitlines()
    numpy_start = _numpy_section_start(lines)
    google_start = _google_section_start(lines)
    starts = [i for i in (numpy_start, google_start) if i is not None]
    end_of_summary = min(starts) if starts else len(lines)
    summary = "\n".join(lines[:end_of_summary]).strip()
    parameters: dict[str, str] = {}
    if numpy_start is not None:
        parameters.update(_numpy_parameters(lines))
    if google_start is not None:
        parameters.update(_google_parameters(lines))
    return Docstring(summary=summary, parameters=parameters)


def _is_underline(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= 3 and set(stripped) == {"-"}


def _numpy_section_start(lines: list[str]) -> int | None:
    for index in range(len(lines) - 1):
        if lines[index].strip() and _is_underline(lines[index + 1]):
            return index
    return None


def _google_header(line: str) -> str | None:
    stripped = line.strip()
    if stripped.endswith(":") and stripped[:-1].strip().lower() in _GOOGLE_SECTIONS:
        return stripped[:-1].strip().lower()
    return None


def _google_section_start(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        if _google_header(line) is not None:
            return index
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _google_parameters(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    in_section = False
    section_indent = 0
    entry_indent: int | None = None
    current: str | None = None
    for line in lines:
        header = _google_header(line)
        if header is not None:
            in_section = header in _GOOGLE_PARAMS
            section_indent = _indent(line)
            entry_indent, current = None, None
            continue
        if not in_section or not line.strip():
            continue
        indent = _indent(line)
        if indent <= section_indent:
            in_section = False  # dedented past the section: it ended
            continue
        if entry_indent is None:
            entry_indent = indent
        match = _GOOGLE_PARAM.match(line.strip())
        if indent == entry_indent and match:
            current = match["name"]
            found[current] = match["desc"].strip()
        elif current is not None:  # a continuation line of the current parameter
            found[current] = f"{found[current]} {line.strip()}".strip()
    return found


def _numpy_parameters(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    index = 0
    while index < len(lines) - 1:
        title = lines[index].strip().lower()
        if not (_is_underline(lines[index + 1]) and title in {"parameters", "other parameters"}):
            index += 1
            continue
        base = _indent(lines[index])
        index += 2
        current: str | None = None
        while index < len(lines):
            line = lines[index]
            if index + 1 < len(lines) and line.strip() and _is_underline(lines[index + 1]):
                break  # the next section
            if line.strip():
                match = _NUMPY_PARAM.match(line.strip())
                if _indent(line) <= base and match:
                    current = match["name"]
                    found[current] = ""
                elif current is not None:
                    found[current] = f"{found[current]} {line.strip()}".strip()
            index += 1
    return found
