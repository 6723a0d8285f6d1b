"""Runs: recent run directories (state, method, model, best eval loss); Enter opens one in the monitor."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from ftwizard.core.run.state import list_runs
from ftwizard.ui.screens.base import AppScreen


class RunsScreen(AppScreen):
    BINDINGS = [Binding("g", "reload", "Refresh", id="runs.reload")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="runs-title", classes="title")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("run", "state", "trainer", "method", "model", "step", "eval loss")  # the lowest
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        root = self.wizard.runs_root
        runs = list_runs(root)
        table = self.query_one(DataTable)
        table.clear()
        for r in runs:
            best = f"{r.best_eval:.4f}" if r.best_eval is not None else "—"
            state = f"{r.state}: {r.liveness.split(':')[0]}" if r.liveness else r.state  # "running: stalled for 300 s …"
            name = Path(r.path).name if Path(r.path).parent == Path(root) else r.path  # the title names the folder
            cells = (name, state, r.trainer, r.method, r.model, f"{r.step}/{r.max_steps or '?'}", best)
            table.add_row(*(Text(str(c)) for c in cells), key=r.path)  # Text: names are never read as markup
        self.query_one("#runs-title", Static).update(
            escape(f"Runs in {root}/ — Enter opens one in the monitor · Esc goes back" if runs else
                   f"No runs in {root}/ yet. Launch one from the wizard, or `ftwizard demo`."))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.wizard.open_run(event.row_key.value)
