"""How a search query becomes a Postgres full-text query.

``websearch_to_tsquery`` understands "quoted phrases", ``-excluded`` words and ``or``, and joins
plain words with AND. An agent's archival queries are mostly plain questions ("what did Ana say
about the move to Lisbon"), where AND demands that one passage contain every word and usually finds
nothing; so a query without any of those operators matches passages containing **any** of its words
(ranked by ``ts_rank_cd``, which rewards passages containing more of them, close together), and a
query that uses operators keeps exactly the websearch meaning its author wrote.
"""

from __future__ import annotations

import re

_OPERATORS = re.compile(r'"|(?:^|\s)-\S|(?:^|\s)or(?:\s|$)', re.IGNORECASE)


def matches_any_word(query: str) -> bool:
    """True when ``query`` uses no websearch operator, so its words are OR-ed rather than AND-ed."""
    return _OPERATORS.search(query) is None
