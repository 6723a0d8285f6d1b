"""Issue 11, data: every bad input gets one clear line (file:line + what to do), exit code != 0 from
`ftwizard data`, no traceback — and one bad file does not stop a folder from being read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.data.pii import PiiScan, is_card_number
from ftwizard.core.data.report import analyze


def _rows(n: int) -> str:
    return "".join(json.dumps({"instruction": f"Question {i}?", "output": f"Answer {i}."}) + "\n" for i in range(n))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftwizard", "data", *args], capture_output=True, text=True,
                          timeout=120)


def _one_clear_line(out: subprocess.CompletedProcess, needle: str) -> str:
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "Traceback" not in text
    lines = [x for x in text.splitlines() if needle in x]
    assert len(lines) == 1, text
    return lines[0]


def test_deeply_nested_json_is_one_problem(tmp_path):
    p = tmp_path / "deep.jsonl"
    p.write_text(_rows(15) + "[" * 100_000 + "]" * 100_000 + "\n")
    rep = analyze(str(p))
    assert [(e.loc, "nested too deeply" in e.message) for e in rep.errors] == [(16, True)]
    assert rep.rows == 15
    arr = tmp_path / "deep.json"
    arr.write_text('{"a": ' * 50_000 + "1" + "}" * 50_000)
    assert "nested too deeply" in analyze(str(arr)).errors[0].message
    line = _one_clear_line(_cli(str(p)), "nested too deeply")
    assert f"{p}:16" in line and "flatten" in line


def test_unreadable_file_is_reported_and_the_rest_of_the_folder_read(tmp_path, monkeypatch):
    d = tmp_path / "folder"
    d.mkdir()
    (d / "a.jsonl").write_text(_rows(20))
    (d / "locked.jsonl").write_text(_rows(5))
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:  # tests run as root, so chmod 000 would not stop them
        if self.name == "locked.jsonl":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    rep = analyze(str(d))
    assert rep.rows == 20
    assert len(rep.errors) == 1 and rep.errors[0].file.endswith("locked.jsonl")
    assert "permission denied" in rep.errors[0].message and "chmod" in rep.errors[0].message


def test_unreadable_file_from_the_cli(tmp_path, monkeypatch, capsys):
    """In-process, so the read can be made to fail (tests run as root: chmod 000 would not stop them)."""
    from ftwizard.cli import main

    p = tmp_path / "locked.jsonl"
    p.write_text(_rows(20))
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(PermissionError(13, "denied"))
                        if self.name == "locked.jsonl" else real(self))
    assert main(["data", str(p)]) == 1
    text = capsys.readouterr()
    lines = [x for x in (text.out + text.err).splitlines() if "cannot read the file" in x]
    assert len(lines) == 1 and str(p) in lines[0] and "permission denied" in lines[0] and "Traceback" not in text.err


def test_a_folder_named_like_a_file_is_skipped_in_a_folder(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.jsonl").write_text(_rows(20))
    (d / "b.jsonl").mkdir()  # a directory named like a data file
    rep = analyze(str(d))
    assert rep.usable and rep.rows == 20


def test_every_row_longer_than_max_seq_is_an_error(tmp_path):
    p = tmp_path / "long.jsonl"
    p.write_text("".join(json.dumps({"text": "word " * (600 + i)}) + "\n" for i in range(15)))
    rep = analyze(str(p), max_seq=512)
    assert not rep.usable and rep.errors[0].loc == 1
    assert "every row is longer than the max sequence length (512" in rep.errors[0].message
    line = _one_clear_line(_cli(str(p), "--max-seq", "512"), "every row is longer")
    assert f"{p}:1" in line and "raise the max sequence length" in line


def test_three_rows_refused_with_how_many_are_needed(tmp_path):
    p = tmp_path / "three.jsonl"
    p.write_text(_rows(3))
    rep = analyze(str(p))
    assert not rep.usable and "needs at least 12" in rep.errors[0].message
    assert "needs at least 12" in _one_clear_line(_cli(str(p)), "usable unique rows")
    p.write_text(_rows(30))
    rep = analyze(str(p))
    assert rep.usable and any("200+ is suggested" in w for w in rep.warnings)  # a warning, not a refusal


def test_too_few_rows_refused_by_the_split_too(tmp_path):
    from ftwizard.core.data.report import split_and_write
    from ftwizard.core.data.split import SplitError

    p = tmp_path / "few.jsonl"
    p.write_text(_rows(5))
    rep = analyze(str(p), split_ratios=None)
    with pytest.raises(SplitError, match="needs at least 12"):
        split_and_write(rep, tmp_path / "out")


def test_repeated_dates_are_not_card_numbers():
    scan = PiiScan()
    dates = " ".join(f"2021-0{m}-1{d} 1{d}/0{m}/2021 20210{m}1{d} 2021 0{m}1{d}" for m in range(1, 10) for d in range(10))
    for i in range(10):
        scan.scan(dates, f"f.jsonl:{i}")
    assert scan.found["credit_card"]["count"] == 0
    for real in ("4111-1111-1111-1111", "4111 1111 1111 1111", "4111111111111111", "3782 822463 10005",
                 "5555555555554444", "2223000048400011"):
        assert is_card_number(real), real
    for fake in ("4111-1111-1111-1112", "4111-1111 1111-1111", "1234567812345670", "2021031520210316"):
        assert not is_card_number(fake) or fake == "4111-1111 1111-1111", fake
    scan = PiiScan()
    scan.scan("pay with 4111 1111 1111 1111 or 4111-1111 1111-1111", "x")
    assert scan.found["credit_card"]["count"] == 1  # mixed separators are not how cards are printed


def test_pii_on_a_file_of_dates(tmp_path):
    from ftwizard.train.tiny import date_examples, write_jsonl

    rows = date_examples(600, seed=2)
    for r in rows:
        r["messages"][0]["content"] = " ".join([r["messages"][0]["content"]] * 4)
    rep = analyze(str(write_jsonl(rows, tmp_path / "d.jsonl")))
    assert rep.stats["pii"]["credit_card"]["count"] == 0 and rep.stats["pii"]["phone"]["count"] == 0


def test_unknown_format_and_bad_ratios_from_the_cli(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(_rows(20))
    out = _cli(str(p), "--ratios", "0.8,0.5,0.1")
    assert out.returncode == 2 and "add up to 1" in out.stderr and "Traceback" not in out.stderr
    out = _cli(str(p), "--split", "0.8,0.1,0.1")  # the old meaning of --split still works
    assert out.returncode == 0, out.stderr


def test_binary_and_utf16_files_are_one_problem_each(tmp_path):
    (tmp_path / "bin.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50)
    (tmp_path / "u16.json").write_bytes('[{"text": "hi"}]'.encode("utf-16"))
    rep = analyze(str(tmp_path), split_ratios=None)
    msgs = " | ".join(e.message for e in rep.errors)
    assert len(rep.errors) == 2 and "binary file" in msgs and "UTF-16; save it as UTF-8" in msgs


def test_trainer_refuses_before_loading_anything(tmp_path):
    """The trainer's data step (run before the model loads) stops with the report's line, not an IndexError."""
    from ftwizard.core.run.config import RunConfig
    from ftwizard.core.run.layout import RunDir
    from ftwizard.train.data import prepare_data

    long = tmp_path / "long.jsonl"
    long.write_text("".join(json.dumps({"text": "word " * (600 + i)}) + "\n" for i in range(15)))
    few = tmp_path / "few.jsonl"
    few.write_text(_rows(3))
    for data, needle in ((long, "every row is longer than the max sequence length (256"),
                         (few, "needs at least 12")):
        cfg = RunConfig(model=str(tmp_path), data=str(data), max_seq_length=256)
        with pytest.raises(ValueError, match="dataset error") as exc:
            prepare_data(cfg, RunDir(tmp_path / f"run-{data.stem}"))
        assert needle in str(exc.value)


def test_content_parts_must_be_objects(tmp_path):
    from ftwizard.core.data import formats

    row = {"messages": [{"role": "user", "content": [[[["deep"]]]]}, {"role": "assistant", "content": "a"}]}
    assert "not parts like" in formats.validate("openai", row)[0]
    ok = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}, {"role": "assistant", "content": "a"}]}
    assert formats.validate("openai", ok) == []
