"""The chat's line editor: prompt_toolkit, for line editing and history, multi-line messages (a paste
stays one message: terminals wrap it in bracketed-paste marks, which prompt_toolkit inserts as text
instead of submitting at each newline), and Ctrl-C handled as a key, not a signal.

Enter sends; Alt-Enter (Esc then Enter) starts a new line. Ctrl-C clears a line being
typed, and on an empty line leaves; so does Ctrl-D.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # prompt_toolkit is imported when a chat starts, not by every command
    from prompt_toolkit.history import History
    from prompt_toolkit.key_binding import KeyBindings


class Leave(Exception):
    """The person asked to leave (Ctrl-C on an empty line, Ctrl-D)."""


def _bindings() -> KeyBindings:
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.keys import Keys

    keys = KeyBindings()

    # Not Ctrl-J: what is typed ahead while a reply streams reaches the editor with the Enter
    # turned into Ctrl-J by the terminal, and must still send.
    @keys.add(Keys.Escape, Keys.Enter)
    def _(event) -> None:
        event.current_buffer.insert_text("\n")

    @keys.add(Keys.ControlC)
    def _(event) -> None:
        buffer = event.current_buffer
        if buffer.text:
            buffer.reset()
        else:
            event.app.exit(exception=Leave())

    @keys.add(Keys.ControlD)
    def _(event) -> None:
        if not event.current_buffer.text:
            event.app.exit(exception=Leave())

    return keys


def _history(path: Path | None) -> History:
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    if path is None:
        return InMemoryHistory()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        return FileHistory(str(path))
    except OSError:
        return InMemoryHistory()


class LineReader:
    """Reads the person's messages and answers."""

    def __init__(self, history_file: Path | None):
        from prompt_toolkit import PromptSession

        self._session: PromptSession[str] = PromptSession(
            history=_history(history_file), key_bindings=_bindings(), multiline=False
        )
        self._questions: PromptSession[str] = PromptSession(key_bindings=_bindings())

    async def message(self) -> str:
        """The next message; :class:`Leave` when the person leaves."""
        return await self._session.prompt_async(
            "you> ", prompt_continuation=lambda width, *_: "... ".rjust(width)
        )

    async def ask(self, question: str) -> str:
        """A short answer (approve? why?); :class:`Leave` on Ctrl-C or Ctrl-D."""
        return (await self._questions.prompt_async(question)).strip()
