"""The Data step shows what will be trained: row 1 through the model's chat template, trained tokens highlighted
(the same mask as `ftwizard data --show-mask 1`, computed in its own process)."""

from __future__ import annotations

from ftwizard.core.plan.hardware import FakeProbe
from ftwizard.core.wizard import Answers
from ftwizard.ui.app import make_app
from tests.helpers import pilot_wait


async def test_data_step_shows_the_trained_tokens_of_row_one(tmp_path, tiny_model, date_data):
    app = make_app(FakeProbe({"gpus": []}), answers=Answers(task_kind="format", model=str(tiny_model), gpu="cpu"),
                   start="data", runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.analyze(str(date_data))
        await pilot_wait(pilot, lambda: "What is trained" in str(app.screen.query_one("#mask").render()), timeout=90)
        shown = str(app.screen.query_one("#mask").render())
        first = date_data.read_text().splitlines()[0]
        assert "trained tokens: assistant" in shown and "in 1 turn(s)" in shown
        import json

        answer = json.loads(first)["messages"][-1]["content"]
        assert answer in shown


async def test_plan_counts_again_when_the_data_was_counted_before_the_models_tokenizer_was_here(tmp_path, tiny_model,
                                                                                              date_data):
    """Data checked while the model had no tokenizer yet (a GGUF is converted when its first plan is made, or the
    model changed after the Data step): characters/4 without the chat template undercounts a chat model's rows
    (SmolLM2's default system prompt alone is ~30 tokens), so the Plan counts again with the tokenizer and uses it."""
    from ftwizard.core.data.report import analyze
    from ftwizard.core.data.tokens import APPROX_METHOD
    from ftwizard.core.wizard import apply_report

    ans = Answers(task_kind="format", model=str(tiny_model), gpu="cpu", data=str(date_data))
    approx = analyze(str(date_data), task="format").to_dict()
    assert approx["stats"]["tokens"]["method"] == APPROX_METHOD
    apply_report(ans, approx)
    before = ans.tokens_per_row
    app = make_app(FakeProbe({"gpus": []}), answers=ans, start="plan", runs_root=tmp_path / "runs")
    app.last_report = approx
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first = str(app.screen.query_one("#plan-summary").render())  # the recount runs in its own process: not yet
        await pilot_wait(pilot, lambda: str(tiny_model) in app.last_report["stats"]["tokens"]["method"], timeout=90)
        await pilot.pause()
        assert app.answers.tokens_per_row != before and app.screen.view is not None
        assert str(app.screen.query_one("#plan-summary").render()) != first  # tokens and time from the new counts
