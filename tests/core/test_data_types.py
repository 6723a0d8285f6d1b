"""Every TRL dataset type, standard and conversational, validates and converts to what TRL takes;
the formats registry names unknown families and adds new ones with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftwizard.core.data import formats
from ftwizard.core.data.formats.base import Family
from ftwizard.core.data.report import analyze

U = [{"role": "user", "content": "What color is the sky?"}]
A = [{"role": "assistant", "content": "It is blue."}]
B = [{"role": "assistant", "content": "It is green."}]
SYS = [{"role": "system", "content": "Be brief."}]


def _file(tmp: Path, rows: list[dict]) -> str:
    p = tmp / "d.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(p)


# (row, family, format name, TRL type, conversational)
CASES = [
    ({"text": "The sky is blue."}, "text", "text", "language_modeling", False),
    ({"messages": U + A}, "openai", "openai", "language_modeling", True),
    ({"prompt": "The sky is"}, "prompt_only", "prompt_only", "prompt_only", False),
    ({"prompt": SYS + U}, "prompt_only", "prompt_only_messages", "prompt_only", True),
    ({"prompt": "The sky is", "completion": " blue."}, "prompt_completion", "prompt_completion",
     "prompt_completion", False),
    ({"prompt": U, "completion": A}, "prompt_completion", "prompt_completion_messages", "prompt_completion", True),
    ({"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}, "preference", "preference_strings",
     "preference", False),
    ({"chosen": "The sky is blue.", "rejected": "The sky is green."}, "preference",
     "preference_strings_implicit_prompt", "preference", False),
    ({"prompt": U, "chosen": A, "rejected": B}, "preference", "preference_messages_explicit_prompt", "preference", True),
    ({"chosen": U + A, "rejected": U + B}, "preference", "preference_messages_implicit_prompt", "preference", True),
    ({"prompt": "The sky is", "completion": " blue.", "label": True}, "kto", "kto", "unpaired_preference", False),
    ({"prompt": U, "completion": B, "label": False}, "kto", "kto_messages", "unpaired_preference", True),
]


@pytest.mark.parametrize("row,family,fmt,trl_type,conv", CASES, ids=[c[2] for c in CASES])
def test_every_trl_type_validates_and_converts(tmp_path, row, family, fmt, trl_type, conv):
    rows = [row] * 1 + [json.loads(json.dumps(row).replace("sky", f"sea {i}")) for i in range(12)]
    rep = analyze(_file(tmp_path, rows))
    assert rep.errors == [], [str(e) for e in rep.errors]
    assert (rep.family, rep.format) == (family, fmt)
    assert rep.stats["trl"] == {"type": trl_type, "conversational": conv}
    out = formats.to_trl(family, row)
    if trl_type == "preference":
        assert set(out) == {"prompt", "chosen", "rejected"}  # implicit prompts are made explicit
    assert formats.is_conversational(out) is conv


def test_trl_agrees_on_type_and_prompt_extraction():
    trl = pytest.importorskip("trl.data_utils")
    for row, family, *_ in CASES:
        out = formats.to_trl(family, row)
        assert trl.is_conversational(out) == formats.is_conversational(out)
    implicit = {"chosen": U + A, "rejected": U + B}
    assert formats.to_trl("preference", implicit) == trl.extract_prompt(implicit)
    s = {"chosen": "The sky is blue.", "rejected": "The sky is green."}
    assert formats.to_trl("preference", s) == trl.extract_prompt(s)


def test_conversational_kto_and_prompt_completion_files_validate(tmp_path):
    """Issue 12: these were rejected with "field 'prompt' should be text, got list"."""
    kto = [{"prompt": [{"role": "user", "content": f"Q{i}"}], "completion": [{"role": "assistant", "content": f"A{i}"}],
            "label": i % 2 == 0} for i in range(20)]
    rep = analyze(_file(tmp_path, kto))
    assert rep.usable and rep.format == "kto_messages"
    pc = [{"prompt": SYS + [{"role": "user", "content": f"Q{i}"}], "completion": [{"role": "assistant", "content": "A"}]}
          for i in range(20)]
    rep = analyze(_file(tmp_path, pc))
    assert rep.usable and rep.format == "prompt_completion_messages"


@pytest.mark.parametrize("row,message", [
    ({"prompt": U, "completion": "blue"}, "'prompt' is a message list but 'completion' is text"),
    ({"prompt": "Q", "completion": B, "label": True}, "'completion' is a message list but 'prompt' is text"),
    ({"prompt": SYS, "completion": A}, "ends with a system turn"),
    ({"prompt": U, "completion": [{"role": "user", "content": "x"}]}, "no assistant turn"),
    ({"prompt": U, "completion": A, "label": "yes"}, "true or false"),
    ({"prompt": U, "chosen": A, "rejected": A}, "identical"),
])
def test_conversational_mistakes_are_named(row, message):
    errs = formats.validate(formats.family_of(row), row)
    assert any(message in e for e in errs), errs


def test_missing_field_is_named_not_called_another_format():
    assert formats.validate("kto", {"prompt": "Q", "completion": "A"}) == ["missing field 'label'"]
    assert formats.validate("prompt_completion", {"prompt": "Q"}) == ["missing field 'completion'"]
    assert "mixed in" in formats.validate("alpaca", {"messages": U + A})[0]


def test_alpaca_becomes_conversational_prompt_completion():
    row = {"system": "s", "instruction": "Classify.", "input": "Great!", "output": "Pos"}
    out = formats.to_trl("alpaca", row)
    assert out == {"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "Classify.\n\nGreat!"}],
                   "completion": [{"role": "assistant", "content": "Pos"}]}
    assert formats.as_messages(out)[-1] == {"role": "assistant", "content": "Pos"}


def test_alpaca_history_answers_are_trained_like_llamafactory_does():
    """LLaMA-Factory trains the answers of an Alpaca row's `history` (mask_history is off by default): the row becomes
    a conversation, and so does every other row of the file (one dataset has one set of columns)."""
    hist = {"system": "s", "history": [["q0", "a0"]], "instruction": "Classify.", "input": "Great!", "output": "Pos"}
    out = formats.to_trl("alpaca", hist)
    assert out == {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q0"},
                                {"role": "assistant", "content": "a0"},
                                {"role": "user", "content": "Classify.\n\nGreat!"},
                                {"role": "assistant", "content": "Pos"}]}
    plain = {"instruction": "Say hi.", "output": "hi", "history": []}
    rows = formats.to_trl_rows("alpaca", [hist, plain])
    assert rows[0] == out and rows[1] == {"messages": [{"role": "user", "content": "Say hi."},
                                                       {"role": "assistant", "content": "hi"}]}
    assert formats.to_trl_rows("alpaca", [plain]) == [formats.to_trl("alpaca", plain)]  # no history: unchanged


def test_registry_unknown_name_lists_known_and_one_line_registers(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'csvchat'; choose from preference, kto, openai"):
        formats.get_family("csvchat")
    with pytest.raises(ValueError, match="unknown format"):
        analyze(_file(tmp_path, [{"text": "x"}]), fmt="csvchat")
    fam = Family("qa", lambda r: "question" in r and "answer" in r, lambda r: [],
                 lambda r: {"prompt": r["question"], "completion": r["answer"]}, required=(("question",), ("answer",)))
    formats.register_family(fam)
    try:
        assert formats.family_of({"question": "q", "answer": "a"}) == "qa"
        assert formats.to_trl("qa", {"question": "q", "answer": "a"}) == {"prompt": "q", "completion": "a"}
    finally:
        formats._REGISTRY.pop("qa")
    with pytest.raises(ValueError, match="registered twice"):
        formats.register_family(formats.get_family("text"))


def test_every_family_is_a_module_with_detect_validate_convert():
    import importlib

    for name in formats.FAMILIES:
        mod = importlib.import_module(f"ftwizard.core.data.formats.{name}")
        assert mod.FAMILY is formats.get_family(name)
        assert all(callable(f) for f in (mod.detect, mod.validate, mod.convert))


def test_core_data_package_has_no_import_cycle():
    import subprocess
    import sys

    code = ("import ftwizard.core.data.report as r, ftwizard.core.data as d; "
            "assert d.analyze is r.analyze and d.FAMILIES; import sys; "
            "assert not any(m.split('.')[0] in ('torch', 'transformers', 'trl') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_kto_labels_from_a_csv_file(tmp_path):
    p = tmp_path / "kto.csv"
    p.write_text("prompt,completion,label\n" + "".join(f"Q{i},A{i},{'true' if i % 2 else 'False'}\n" for i in range(14)))
    rep = analyze(str(p))
    assert rep.usable and rep.family == "kto"
    assert [formats.to_trl("kto", r.data)["label"] for r in rep.valid[:2]] == [False, True]
    assert "got 'maybe'" in formats.validate("kto", {"prompt": "q", "completion": "a", "label": "maybe"})[0]
