"""Command palette entries: every screen, save/load answers, stop/resume the run (themes: Textual's own).
Each screen's entry is named by the screen alone ("Plan"), so typing "plan" + Enter opens Plan; what it does
is in the help line."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from ftwizard.ui.app import WizardApp

SCREENS = {
    "decide": ("Decide", "should I fine-tune?"), "task": ("Task", "kind of change and data size"),
    "hardware": ("Hardware", "GPUs found, or the GPU to plan for"), "model": ("Model", "pick a preset or a folder"),
    "data": ("Data", "check a dataset"), "plan": ("Plan", "recommended settings and memory"),
    "launch": ("Launch", "checks, then write the run and start training"),
    "estimator": ("Estimator", "GPU memory for any model"), "monitor": ("Monitor", "the live training run"),
    "runs": ("Runs", "open a recent run"), "checklist": ("Checklist", "after-training checks"),
    "tryit": ("Try it", "the same prompt to the base and the tuned model"),
}


class WizardCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = cast("WizardApp", self.app)
        cmds: list[tuple[str, Callable[[], object], str]] = [
            (label, partial(app.switch_mode, mode), f"{label} screen: {what}") for mode, (label, what) in SCREENS.items()
        ]
        cmds += [
            ("Save answers as a preset YAML", app.action_save_preset, "ctrl+s"),
            ("Load answers from a preset YAML", app.action_load_preset, "ctrl+l"),
            ("Stop the training run (checkpoint saved)", app.stop_active_run, "graceful stop"),
            ("Resume the stopped run", app.resume_active_run, "from the last checkpoint"),
            ("Run the offline demo", app.start_demo, "tiny model on the CPU, a few minutes"),
        ]
        return cmds

    async def discover(self) -> Hits:
        for name, cb, help_text in self._commands():
            yield DiscoveryHit(name, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, cb, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), cb, help=help_text)
