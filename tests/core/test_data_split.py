"""The split removes exact duplicates first, so no held-out row is also trained on, and says how many."""

from __future__ import annotations

import json

from ftwizard.core.data.report import analyze, make_split, split_and_write
from ftwizard.core.data.split import describe_need, rows_needed, split_sizes


def _lines(path) -> set[str]:
    return {json.dumps(json.loads(x), sort_keys=True) for x in path.read_text().splitlines()}


def test_demo_data_test_split_shares_no_row_with_train(tmp_path):
    from ftwizard.train.tiny import date_examples, write_jsonl

    src = write_jsonl(date_examples(4250, seed=1), tmp_path / "dates.jsonl")
    rep = analyze(str(src))
    assert rep.usable and rep.duplicates_removed > 100  # 4250 draws from 36,500 dates repeat some
    m = split_and_write(rep, tmp_path / "split", seed=42)
    train, val, test = (_lines(tmp_path / "split" / f"{k}.jsonl") for k in ("train", "validation", "test"))
    assert not (test & train) and not (val & train) and not (test & val)
    assert m["duplicates_removed"] == rep.duplicates_removed == rep.to_dict()["duplicates_removed"]
    assert sum(s["rows"] for s in m["splits"].values()) == 4250 - rep.duplicates_removed
    assert json.loads((tmp_path / "split" / "split.json").read_text())["duplicates_removed"] == rep.duplicates_removed


def test_duplicates_differing_only_in_whitespace_are_removed(tmp_path):
    rows = [{"prompt": f"Q{i}", "completion": f"A{i}"} for i in range(30)]
    rows += [{"prompt": "Q1 ", "completion": "A1"}, {"prompt": "Q2", "completion": "  A2\n"}]
    p = tmp_path / "pc.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rep = analyze(str(p))
    assert rep.duplicates_removed == 2 and rep.unique_rows == 30
    parts, removed = make_split(rep, (0.8, 0.1, 0.1), seed=1)
    assert removed == 2 and sum(len(v) for v in parts.values()) == 30


def test_rows_needed_for_a_split():
    assert rows_needed((0.8, 0.1, 0.1)) == 12 and split_sizes(12, (0.8, 0.1, 0.1)) == {
        "train": 10, "validation": 1, "test": 1}
    assert rows_needed((1.0, 0.0, 0.0)) == 10
    assert "needs at least 12 (10 to train on, 1 validation, 1 test)" in describe_need((0.8, 0.1, 0.1))
