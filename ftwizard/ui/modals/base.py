"""What every prompt shares: q quits, as the footer under the prompt says ("q Quit"), Escape cancels.

q first answers the prompt the way Escape would (its callback gets `quit_answer()`, None unless the prompt is
itself "Quit ftwizard?"), then runs the app's quit, which asks before dropping edits that were never saved.
In a text box q is typed like any other letter."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.screen import ModalScreen

from ftwizard.ui.screens.base import typed_not_shortcut


class Prompt(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit_app", "Quit", id="prompt.quit")]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not typed_not_shortcut(self, action)

    def quit_answer(self) -> str | None:
        """The answer q gives before the app quits (None: the same as Escape)."""
        return None

    async def action_quit_app(self) -> None:
        app, answer = self.app, self.quit_answer()
        self.dismiss(answer)
        if answer is None:  # an answer (the quit prompt's "quit") does the quitting itself
            await app.action_quit()

    def action_cancel(self) -> None:
        self.dismiss(None)
