"""Launch: what will run (trainer, method, model, data), the checks before launch — each with its fix —, the
allow-download switch (with the download size), the exact CLI equivalent; then start the trainer."""

from __future__ import annotations

import shlex
import textwrap
from pathlib import Path

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Button, Input, Label, Static, Switch

from ftwizard.core.plan.launch_checks import (
    LaunchContext,
    LaunchProblem,
    check_launch,
    download_gib,
    is_local_model,
    weights_cached,
)
from ftwizard.core.plan.model_facts import ModelFactsError
from ftwizard.core.run.before_launch import before_launch
from ftwizard.core.run.layout import RunDir
from ftwizard.core.trainers import trainer_spec
from ftwizard.core.wizard import TRAINER_FIELDS, PlanView, planning_probe, to_run_config
from ftwizard.ui.screens.base import StepScreen


class LaunchScreen(StepScreen):
    STEP = "launch"
    AUTO_FOCUS = ""

    def compose_body(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="launch-summary", classes="card")
            yield Static(id="blockers")
            with Horizontal(classes="row", id="download-row"):
                yield Switch(value=self.wizard.answers.allow_download, id="allow-download")
                yield Static(id="download-label", classes="muted")
            yield Label("Run directory (config, events, checkpoints and the result go here)")
            yield Input(self.default_run_dir(), id="run-dir", compact=True)
            with Horizontal(classes="row"):
                yield Button("Launch training", id="launch", variant="success", compact=True)
                yield Button("Write the run folder only", id="write", compact=True)
                yield Button("Save answers (ctrl+s)", id="save", compact=True)
            yield Static(id="cli", classes="why")

    _auto_dir = ""  # the run directory this screen proposed (a name the person typed is kept as typed)
    _checks: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ([], [])  # (blockers, notes): (message, fix)

    def _run_name(self) -> str:
        """The model's name as the start of a run directory's name."""
        return Path(self.wizard.answers.model or "run").name.replace("/", "-").removesuffix(".gguf") or "run"

    def default_run_dir(self) -> str:
        self._auto_dir = str(self.wizard.runs_root / f"{self._run_name()}-{self.wizard.stamp()}")
        return self._auto_dir

    def _fresh_run_dir(self) -> None:
        """A proposed run directory follows the model (chosen again on the Model step) and is never one that
        already holds a run (the one just launched, back on this step)."""
        box = self.query_one("#run-dir", Input)
        if box.value != self._auto_dir:
            return
        if not Path(box.value).name.startswith(f"{self._run_name()}-") or RunDir(box.value).config_path.exists():
            box.value = self.default_run_dir()

    def on_mount(self) -> None:
        self.refresh_from_answers()
        self._focus_launch()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self._focus_launch()

    def _focus_launch(self) -> None:
        """Focus Launch when it can run; else keep the view at the top, where the blockers are."""
        try:
            button = self.query_one("#launch", Button)
            if not button.disabled:
                button.focus(scroll_visible=False)
            self.query_one(VerticalScroll).scroll_home(animate=False)
        except NoMatches:  # the app is closing while this screen mounts
            pass

    def answer_blockers(self) -> list[str]:
        ans = self.wizard.answers
        out = []
        if not ans.model:
            out.append("no model chosen (Model step)")
        else:
            try:
                self.wizard.model_facts()
            except ModelFactsError as exc:
                out.append(f"the model cannot be read: {exc}")
        if not ans.data:
            out.append("no dataset chosen (Data step)")
        elif ans.data_errors is None:
            out.append("the dataset has not been checked yet (Data step → Check)")
        elif ans.data_errors:
            out.append(f"the dataset has {ans.data_errors} problem(s) (Data step lists them with line numbers)")
        return out

    def machine_problems(self, view: PlanView) -> list[LaunchProblem]:
        """Every check before launch (core/run/before_launch.py): this machine's (GPU, weights, RAM, disk) and the
        config's sources (the model folder, target modules, the data file) — the same checks `ftwizard train` runs."""
        ans = self.wizard.answers
        facts = self.wizard.model_facts()
        if facts is None:
            return []
        planned = planning_probe(ans, self.wizard.probe_result)
        ctx = LaunchContext(
            model=ans.model if is_local_model(ans.model) else facts.name, planned_gpus=planned.count,
            local_gpus=self.wizard.probe_result.count, planned_gpu_name=view.gpu_name, peak_gib=view.estimate.peak_gib,
            param_count=facts.param_count, trainable_params=view.estimate.trainable_params,
            method=str(view.values["method"]), run_dir=self.query_one("#run-dir", Input).value,
            allow_download=ans.allow_download)
        machine = check_launch(ctx)
        try:
            cfg = to_run_config(ans, view, facts)
        except ValueError:  # the Plan step shows what is wrong with its values
            return machine
        found = before_launch(cfg, machine=machine, offline=not ans.allow_download)
        return [p for p in found if ans.data or p.field != "data"]  # "no dataset chosen" says it already

    def refresh_from_answers(self) -> None:
        try:
            self._refresh()
        except NoMatches:  # the app is closing while this screen mounts
            pass

    def _refresh(self) -> None:
        ans = self.wizard.answers
        self._fresh_run_dir()
        blockers = [(b, "") for b in self.answer_blockers()]
        typed = self.query_one("#run-dir", Input).value.strip()
        if typed and RunDir(typed).config_path.exists():
            blockers.append((f"{typed} already holds a run",
                             "type another run directory, or open that run from Runs (l) to watch or resume it"))
        plan_ok = not blockers
        notes: list[LaunchProblem] = []
        view = None
        if ans.model and not any("model" in b for b, _ in blockers):
            try:
                view = self.wizard.plan_view()
            except (ModelFactsError, ValueError) as exc:
                blockers.append((f"no plan: {exc}", ""))
        run = self.query_one("#run-dir", Input).value
        summary = self.query_one("#launch-summary", Static)
        download = self.query_one("#download-row")
        download.display = False
        if view is not None:
            v = view.values
            spec = trainer_spec(view.trainer)
            what = (f"[b]{view.trainer.upper()}[/b] ({escape(spec.title.lower())}) · [b]{v['method']}[/b] of "
                    f"[b]{escape(ans.model)}[/b] on {escape(ans.data or '(no data yet)')}\n"
                    f"micro-batch {v['micro_batch']} × accumulation {v['gradient_accumulation']} · lr "
                    f"{v['learning_rate']:g} · {v['epochs']:g} epochs · max {v['max_seq_length']} tokens\n"
                    f"predicted peak {view.estimate.peak_gib:.1f} GiB"
                    + (f" of {view.gpu_gib:.0f} GiB ({'fits' if view.fits else '[b $error]does not fit[/]'})"
                       if view.gpu_gib else " of RAM (CPU)"))
            try:
                from ftwizard.core.wizard import cost_line, plan_cost, plan_time
                from ftwizard.ui.screens.plan import _rent_line

                cost = plan_cost(ans, view)
                what += "\n" + escape(cost_line(cost, plan_time(ans, view))) + _rent_line(view, self.wizard, cost.tokens)
            except (ValueError, KeyError, OSError) as exc:
                what += f"\ntime and cost unavailable: {escape(str(exc))}"
            summary.update(what)
            if not view.fits:
                blockers.append(("the plan does not fit the GPU",
                                 "Plan step (Esc) → ctrl+f makes it fit when it can; when it cannot, pick a "
                                 "smaller model (Model step) or more GPUs (Hardware step)"))
            needs = trainer_spec(view.trainer).needs
            if needs and not str(view.values.get(needs) or "").strip():
                blockers.append((f"{view.trainer.upper()} needs its {needs.replace('_', ' ')}",
                                 f"type it on the Plan step (Esc): {TRAINER_FIELDS.get(needs, needs)}"))
                plan_ok = False
            for p in self.machine_problems(view):
                if p.blocking:
                    blockers.append((p.message, p.fix))
                else:
                    notes.append(p)
            facts = self.wizard.model_facts()
            is_local = is_local_model(ans.model)
            if facts is not None and not is_local and (ans.allow_download or not weights_cached(facts.name)):
                download.display = True
                self.query_one("#download-label", Static).update(
                    f"allow download: fetch the weights of {escape(facts.name)} from the Hugging Face Hub "
                    f"(about {download_gib(facts.param_count):.1f} GiB)")
        else:
            summary.update("[b]Nothing to launch yet[/b]: the steps before this one are not done.")
        cmd = ["ftwizard", "train", str(Path(run) / "config.yaml"), "--out", run]
        self.query_one("#cli", Static).update(escape(
            "The same without the app: " + shlex.join(cmd) + " (the config is written at Launch; launch.sh runs "
            "it with TRL alone)"))
        self._checks = (blockers, [(n.message, n.fix) for n in notes])
        self._render_checks()
        self.query_one("#launch", Button).disabled = bool(blockers)
        # a plan that is right but cannot run *here* (no GPU, no weights yet) can still be written and run elsewhere
        self.query_one("#write", Button).disabled = not plan_ok or view is None

    def _render_checks(self) -> None:
        """The blockers and notes, wrapped to the pane's width with a hanging indent (a wrapped line keeps its
        bullet's indent instead of starting at the left edge)."""
        blockers, notes = self._checks
        box = self.query_one("#blockers", Static)
        width = max(30, (box.content_size.width or 76) - 1)

        def hang(text: str, first: str, rest: str) -> list[str]:
            return [escape(line) for line in textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                                                         break_on_hyphens=False, break_long_words=False)]

        lines = []
        if blockers:
            lines.append("[b $error]Cannot launch yet:[/]")
            for b, fix in blockers:
                lines += hang(b, "  • ", "    ")
                if fix:
                    fixed = hang(f"fix: {fix}", "    ", "         ")
                    lines += [fixed[0].replace("fix:", "[b]fix:[/b]", 1), *fixed[1:]]
        for message, fix in notes:
            noted = hang(f"{message} — {fix}", "⚠ ", "  ")
            lines += [noted[0].replace("⚠", "[$warning]⚠[/]", 1), *noted[1:]]
        if not blockers:
            lines.insert(0, "[b $success]Ready: every check before launch passed.[/]")
        box.update("\n".join(lines))

    def on_resize(self) -> None:
        if self._checks != ([], []):
            self._render_checks()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id == "allow-download" and event.value != self.wizard.answers.allow_download:
            self.wizard.answers.allow_download = event.value
            self.refresh_from_answers()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "run-dir":
            self.refresh_from_answers()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "launch":
            self.refresh_from_answers()
            if not self.query_one("#launch", Button).disabled:
                self.wizard.launch_run(self.query_one("#run-dir", Input).value.strip() or self.default_run_dir())
        elif event.button.id == "write":
            run = self.wizard.write_run(self.query_one("#run-dir", Input).value.strip() or self.default_run_dir())
            if run is not None:
                self.notify(escape(f"Wrote {run}. On a machine that can run it: ftwizard train {run}/config.yaml "
                                   f"--out {run} (or bash {run}/launch.sh)"), timeout=12)
                self.query_one("#run-dir", Input).value = self.default_run_dir()
        elif event.button.id == "save":
            self.wizard.action_save_preset()

    def can_leave(self) -> str | None:
        if self.query_one("#launch", Button).disabled:
            return "This is the last step, and Launch waits for the fixes listed above it."
        return "This is the last step: press Launch training."
