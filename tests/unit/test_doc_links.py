"""The documentation's relative links resolve: every `[text](target)` in README.md, docs/*.md and
the other READMEs of the repository names a file or directory that exists and, for `#anchor`, a
heading of that page (anchors as GitHub makes them) or an `<a id>` in it. Moving a section must not strand a link."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [
        REPO_ROOT / "README.md",
        *(REPO_ROOT / "docs").glob("*.md"),
        *(REPO_ROOT / "bench").glob("*.md"),
        *(REPO_ROOT / "examples").glob("*/README.md"),
        REPO_ROOT / "clients" / "typescript" / "README.md",
    ]
)
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
HTML_ID = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, in_fence = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            lines.append(line)
    return lines


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> set[str]:
    """The anchors a page offers: its headings' and its `<a id=...>` targets."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for line in prose_lines(page.read_text()):
        found.update(HTML_ID.findall(line))
        match = HEADING.match(line)
        if match:
            anchor = github_anchor(match.group(1))
            seen = counts.get(anchor, 0)
            counts[anchor] = seen + 1
            found.add(anchor if seen == 0 else f"{anchor}-{seen}")
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for line in prose_lines(page.read_text()):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
                continue
            path_part, _, anchor = target.partition("#")
            linked = (page.parent / path_part).resolve() if path_part else page
            if not linked.exists():
                broken.append(f"{target}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{target}: no heading with that anchor")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert page.exists()
    assert broken_links(page) == []


def test_anchors_follow_github() -> None:
    assert github_anchor("`up` and other suites") == "up-and-other-suites"
    assert github_anchor("Runs, lanes and leases") == "runs-lanes-and-leases"
    assert github_anchor("1. Gateway: accepting the message") == "1-gateway-accepting-the-message"
