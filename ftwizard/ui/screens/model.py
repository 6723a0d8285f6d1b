"""Model: a preset, or a local folder / Hub id typed in; its facts (params, layers, vocab, chat template)."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Select, Static, Switch

from ftwizard.core.plan.catalog import load_catalog
from ftwizard.core.plan.gguf import find_converted, is_gguf
from ftwizard.core.plan.model_facts import ModelFacts, ModelFactsError, load_model_facts
from ftwizard.ui.screens.base import StepScreen
from ftwizard.ui.widgets.bars import fmt_count


def facts_text(f: ModelFacts) -> str:
    tmpl = {True: "yes (chat data: the loss is on the answers only)",
            False: "[b $warning]none[/] (a base model): for chat or Alpaca data ftwizard adds ChatML, saved with the "
                   "result, and the loss is on the answers only; plain text trains on every token",
            None: "unknown"}[f.has_chat_template]
    moe = f" · {f.num_experts} experts ({f.experts_per_token} active)" if f.num_experts > 1 else ""
    return (f"[b]{escape(f.name)}[/b]  ({escape(f.model_type or f.family)}, {escape(f.architecture)})\n"
            f"parameters {fmt_count(f.param_count)} · layers {f.layers} · hidden {f.hidden_size} · "
            f"heads {f.heads} (kv {f.kv_heads}) · vocab {f.vocab_size:,}{moe}\n"
            f"context {f.max_positions or '?'} tokens · chat template: {tmpl}\n"
            f"LoRA targets (all-linear): {escape(', '.join(f.resolve_targets('all-linear')))}\n"
            f"[dim]{escape(f.source)}[/dim]")


class ModelScreen(StepScreen):
    STEP = "model"
    AUTO_FOCUS = "#preset"

    def compose_body(self) -> ComposeResult:
        ans = self.wizard.answers
        cat = load_catalog()
        with VerticalScroll():
            yield Static("Which model do you want to fine-tune?", classes="title")
            yield Label("A popular model (type to search)")
            preset = ans.model if ans.model in cat else Select.NULL
            yield Select([(f"{k}  ({p.published_params_b:g}B)", k) for k, p in cat.items()], value=preset, id="preset",
                         prompt="pick a preset", compact=True)
            yield Label("…or a folder with config.json, a .gguf file, or a Hub id already cached")
            yield Input("" if ans.model in cat else ans.model, placeholder="./my-model, model.gguf or org/name", id="model-path",
                        compact=True)
            with Horizontal(classes="row"):
                yield Switch(value=ans.allow_download, id="allow-download")
                yield Static("allow download from the Hugging Face Hub (config.json now, the weights at launch)",
                             classes="muted")
            with Horizontal(classes="row"):
                yield Switch(value=ans.trust_remote_code, id="remote-code")
                yield Static("trust remote code (runs Python from the model repo: only for repos you trust)",
                             classes="muted")
            yield Static(id="facts", classes="card")

    def on_mount(self) -> None:
        self.show_facts()

    def refresh_from_answers(self) -> None:
        switch = self.query_one("#allow-download", Switch)
        if switch.value != self.wizard.answers.allow_download:
            switch.value = self.wizard.answers.allow_download
        self.show_facts()

    def show_facts(self) -> None:
        box = self.query_one("#facts", Static)
        model = self.wizard.answers.model
        if not model:
            box.update("[dim]No model chosen yet.[/dim]")
            return
        if is_gguf(model) and Path(model).expanduser().is_file() and find_converted(model) is None:
            box.update(f"[b]Converting {escape(Path(model).name)}[/b] to a Hugging Face checkpoint (once; up to a "
                       "minute on a CPU). You can keep using the app.")
            self.convert_gguf(model)
            return
        try:
            facts = self.wizard.model_facts()
        except ModelFactsError as exc:
            why = str(exc).replace("(--allow-download)", "(the 'allow download' switch above)")
            box.update(f"[b $error]Cannot read this model[/]: {escape(why)}")
            return
        if facts is not None:
            box.update(facts_text(facts))

    @work(thread=True, exclusive=True, group="gguf", exit_on_error=False, name="converting the GGUF file")
    def convert_gguf(self, model: str) -> None:
        """The conversion runs beside the app (seconds to a minute); the facts show when it is done."""
        from ftwizard.core.plan.gguf import GGUFError, convert

        error = None
        try:
            convert(model)
        except GGUFError as exc:
            error = str(exc)
        self.app.call_from_thread(self._converted, model, error)

    def _converted(self, model: str, error: str | None) -> None:
        if model != self.wizard.answers.model or not self.is_mounted:
            return
        if error:
            self.query_one("#facts", Static).update(f"[b $error]Cannot read this model[/]: {escape(error)}")
            return
        self.show_facts()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset" and event.value is not Select.NULL:
            self.wizard.answers.model = str(event.value)
            self.query_one("#model-path", Input).value = ""
            self.show_facts()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._take_path(event.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "model-path" and event.value.strip():
            self._take_path(event.value)

    def _take_path(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        self.wizard.answers.model = text
        preset = self.query_one("#preset", Select)
        if preset.value is not Select.NULL and preset.value != text:  # the typed model is the one chosen now
            with preset.prevent(Select.Changed):
                preset.clear()
        self.show_facts()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id == "remote-code":
            self.wizard.answers.trust_remote_code = event.value
        elif event.switch.id == "allow-download" and event.value != self.wizard.answers.allow_download:
            self.wizard.answers.allow_download = event.value
            self.show_facts()

    def can_leave(self) -> str | None:
        model = self.wizard.answers.model
        if not model:
            return "Choose a model first."
        if is_gguf(model) and Path(model).expanduser().is_file() and find_converted(model) is None:
            return "The GGUF file is still being converted (once, up to a minute): Next works when it is done."
        try:
            self.wizard.model_facts()
        except ModelFactsError as exc:
            return str(exc)
        return None


__all__ = ["ModelScreen", "facts_text", "load_model_facts"]
