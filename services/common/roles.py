"""Who wrote a message: the one role representation of the suite.

``Role``'s numbers are those of ``common.v1.MessageRole`` (the wire and memory's database); its
label (``system``, ``user``, ``assistant``, ``tool``) is the LLM layer's vocabulary and the agent
file's. Every conversion between the two goes through this module.
"""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    SYSTEM = 1
    USER = 2
    ASSISTANT = 3
    TOOL = 4

    @property
    def label(self) -> str:
        return _LABEL_OF[self]


_LABEL_OF = {role: role.name.lower() for role in Role}
_NUMBER_OF = {label: role for role, label in _LABEL_OF.items()}
_LABEL_OF_NUMBER = {int(role): label for role, label in _LABEL_OF.items()}
"""By plain number, so that a message read from the wire costs one dict lookup (on the per-message path)."""
LABELS = tuple(_LABEL_OF.values())
"""Every role's label, in the order of their numbers."""


def role_of_label(label: str) -> Role:
    """The role a label names; KeyError for a label that names none."""
    return _NUMBER_OF[label]


def label_of(number: int, default: str = "") -> str:
    """The label of the role numbered ``number``; ``default`` for a number that names none."""
    return _LABEL_OF_NUMBER.get(number, default)
