"""Command palette entries: every screen, save/load answers, stop/resume the run (themes: Textual's own)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

SCREENS = {
    "decide": "Decide: should I fine-tune?", "task": "Task: kind of change and data size",
    "hardware": "Hardware: GPUs found, or the GPU to plan for", "model": "Model: pick a preset or a folder",
    "data": "Data: check a dataset", "plan": "Plan: recommended settings and memory",
    "launch": "Launch: write the run and start training", "estimator": "Estimator: GPU memory for any model",
    "monitor": "Monitor: the live training run", "runs": "Runs: open a recent run",
    "checklist": "Checklist: after-training checks",
}


class WizardCommands(Provider):
    def _commands(self) -> list[tuple[str, object, str]]:
        app = self.app
        cmds: list[tuple[str, object, str]] = [
            (f"Go to {label}", partial(app.switch_mode, mode), f"switch to the {mode} screen")
            for mode, label in SCREENS.items()
        ]
        cmds += [
            ("Save answers as a preset YAML", app.action_save_preset, "ctrl+s"),  # type: ignore[attr-defined]
            ("Load answers from a preset YAML", app.action_load_preset, "ctrl+l"),  # type: ignore[attr-defined]
            ("Stop the training run (checkpoint saved)", app.stop_active_run, "graceful stop"),  # type: ignore[attr-defined]
            ("Resume the stopped run", app.resume_active_run, "from the last checkpoint"),  # type: ignore[attr-defined]
            ("Run the offline demo", app.start_demo, "tiny model, CPU, under a minute"),  # type: ignore[attr-defined]
        ]
        return cmds

    async def discover(self) -> Hits:
        for name, cb, help_text in self._commands():
            yield DiscoveryHit(name, cb, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, cb, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), cb, help=help_text)  # type: ignore[arg-type]
