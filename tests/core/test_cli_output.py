"""User text reaches the terminal verbatim: rich markup (`[/]`, `[bold]`) and emoji codes (`:100:`) in rows,
paths and model names print as typed and never crash; event lines say what the event says; bad plan/estimate
numbers are one line with exit code 2."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from ftwizard.cli._common import print_event

MARKUP = "[bold]x[/bold] :100: [/] [red]"


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "ftwizard", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def _model(folder: Path, max_positions: int = 256) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 128, "intermediate_size": 256,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 1000,
        "max_position_embeddings": max_positions, "torch_dtype": "float32"}))
    return folder


def test_data_rows_and_path_with_markup_print_verbatim(tmp_path):
    p = tmp_path / "chat [bold]y :100:.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"q{i} {MARKUP}"}, {"role": "assistant", "content": f"a{i} [/]"}]}
            for i in range(40)]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = _cli("data", str(p))
    assert out.returncode == 0, out.stderr
    assert "MarkupError" not in out.stderr + out.stdout
    assert f"{p}: format" in out.stdout  # the path as typed
    assert "[bold]x[/bold] :100: [/] [red]" in out.stdout  # the sample row as typed
    assert "💯" not in out.stdout


def test_data_error_naming_a_markup_path_prints_verbatim(tmp_path):
    p = tmp_path / "bad [red] :100:.jsonl"
    p.write_text("{not json\n", encoding="utf-8")
    out = _cli("data", str(p))
    assert out.returncode == 1 and "MarkupError" not in out.stderr
    assert f"{p}:1: invalid JSON" in out.stdout and "💯" not in out.stdout
    missing = _cli("data", str(tmp_path / "gone [red] :100:.jsonl"))
    assert "gone [red] :100:.jsonl" in missing.stderr and "💯" not in missing.stderr


def test_info_model_name_with_markup_prints_verbatim(tmp_path):
    m = _model(tmp_path / "m [bold]y :100:")
    out = _cli("info", "--model", str(m))
    assert out.returncode == 0, out.stderr
    assert "m [bold]y :100:" in out.stdout and "💯" not in out.stdout


def _event_line(ev: dict) -> str:
    buf = io.StringIO()
    print_event(ev, Console(file=buf, width=250, emoji=False, color_system=None))
    return buf.getvalue().strip()


def test_preflight_line_prints_the_verdict():
    base = {"type": "preflight", "longest_tokens": 512, "micro_batch": 2, "measured_peak_allocated_gib": 9.5,
            "card_total_gib": 8.0}
    oom = _event_line({**base, "verdict": "out_of_memory"})
    assert "out of memory" in oom and " ok" not in oom and "9.50 GiB of 8.00 GiB" in oom
    assert "fits" in _event_line({**base, "verdict": "fits", "measured_peak_allocated_gib": 3.0})
    assert "not checked" in _event_line({**base, "verdict": "unchecked", "card_total_gib": None})


def test_memory_fix_checkpoint_skipped_and_notes_in_plain_words():
    fix = _event_line({"type": "memory_fix", "message": "the first step ran out of memory: micro_batch 4 → 2",
                       "changes": {"micro_batch": 2}})
    assert fix == "memory fix: the first step ran out of memory: micro_batch 4 → 2"
    skipped = _event_line({"type": "checkpoint_skipped", "checkpoint": "/r/checkpoint-20 [red]",
                           "message": "no trainer_state.json", "path": "/r/bad [red]"})
    assert "checkpoint-20 [red]: no trainer_state.json (moved to /r/bad [red])" in skipped
    note = _event_line({"type": "note", "kind": "chat_template", "source": "model", "loss_on": "assistant_only",
                        "message": "The loss is computed on the assistant's answers only."})
    assert note.startswith("note: loss on: the assistant's replies only (chat template: model)")
    assert _event_line({"type": "warning", "message": "row [/] :100:", "fix": "x"}) == "warning: row [/] :100: → x"


def test_plan_and_estimate_refuse_impossible_numbers(tmp_path):
    m = str(_model(tmp_path / "m"))
    for cmd, flag, value in [("plan", "--rows", "-5"), ("plan", "--gpus", "0"), ("plan", "--seq", "0"),
                             ("estimate", "--rows", "-5"), ("estimate", "--epochs", "0")]:
        out = _cli(cmd, "--model", m, "--gpu", "4090", flag, value)
        assert out.returncode == 2, (cmd, flag, out.stdout)
        assert f"argument {flag}: {value} is out of range" in out.stderr
        assert "Traceback" not in out.stderr and "usage:" not in out.stderr


def test_data_refuses_impossible_numbers(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"instruction": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(20)))
    for flag, value in [("--max-seq", "-5"), ("--epochs", "0")]:
        out = _cli("data", str(p), flag, value)
        assert out.returncode == 2 and f"argument {flag}: {value} is out of range" in out.stderr
        assert "usage:" not in out.stderr


def test_sequence_above_the_models_positions_is_warned(tmp_path):
    m = str(_model(tmp_path / "m", max_positions=256))
    est = _cli("estimate", "--model", m, "--gpu", "4090", "--seq", "2048")
    assert est.returncode == 0 and "warning: sequence length 2,048 is above" in est.stdout
    assert "256 positions" in est.stdout
    js = json.loads(_cli("estimate", "--model", m, "--gpu", "4090", "--seq", "2048", "--json").stdout)
    assert "256 positions" in js["warnings"][0]
    plan = _cli("plan", "--model", m, "--gpu", "4090", "--seq", "100000")
    assert plan.returncode == 0 and "warning: sequence length 100,000 is above" in plan.stdout
    assert "warning: sequence" not in _cli("estimate", "--model", m, "--gpu", "4090", "--seq", "256").stdout


def test_train_check_names_markup_paths_verbatim(tmp_path):
    from ftwizard.core.run.config import RunConfig

    d = tmp_path / "model [bold]x :100:"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    (d / "model.safetensors").write_bytes(b"\0" * 16)
    (d / "tokenizer.json").write_text("{}")
    (d / "tokenizer_config.json").write_text("{}")
    data = tmp_path / "data [red] :100:.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n')
    cfg = tmp_path / "run [bold].yaml"
    cfg.write_text(RunConfig(model=str(d), data=str(data)).to_yaml())
    out = _cli("train", str(cfg), "--check")
    assert out.returncode == 0, out.stderr
    assert f"ok: {cfg} is a valid run config" in out.stdout
    assert str(d) in out.stdout and str(data) in out.stdout and "💯" not in out.stdout


def test_train_check_names_every_problem_and_an_empty_file(tmp_path):
    """One line for the first problem found before launch, which names the fields of the others, and an empty config
    file says so instead of 'model: not set'."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: /nonexistent-model\ndata: nowhere.jsonl\n")
    res = subprocess.run([sys.executable, "-m", "ftwizard", "train", str(cfg), "--check"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and "model: /nonexistent-model does not exist" in res.stderr
    assert "(and 1 more: data)" in res.stderr and len(res.stderr.strip().splitlines()) == 2, res.stderr
    cfg.write_text("\n")
    res = subprocess.run([sys.executable, "-m", "ftwizard", "train", str(cfg), "--check"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and "the file is empty" in res.stderr and "--save-config" in res.stderr


def test_gpu_only_settings_on_a_machine_without_a_gpu_are_warned_about(tmp_path):
    """`method: qlora` and `precision: bf16` run on a CPU, but not as their names suggest: --check says so (a
    warning, exit 0), on a machine whose probe finds no GPU."""
    nogpu = tmp_path / "nogpu.yaml"
    nogpu.write_text("gpus: []\nreason: no GPU in this test\n")
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                     {"role": "assistant", "content": f"a{i}"}]}) + "\n"
                            for i in range(20)))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: llama-3.2-1b\ndata: {data}\nmethod: qlora\nprecision: bf16\n")
    res = subprocess.run([sys.executable, "-m", "ftwizard", "train", str(cfg), "--check"], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "FTWIZARD_FAKE_GPUS": str(nogpu)})
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode == 0 and "method: qlora on a machine without a GPU" in out, out
    assert "precision: bf16 on a machine without a GPU" in out and "valid run config" in out


def test_run_events_print_in_words_not_json():
    """train_begin, checkpoint and done read as sentences (they were raw JSON cut at 150 characters)."""
    begin = _event_line({"type": "train_begin", "step": 0, "max_steps": 60, "epochs": 3.0, "cpu_threads": 1})
    assert begin == "training: 60 steps (3 epochs) on the CPU, 1 thread"
    assert _event_line({"type": "train_begin", "step": 30, "max_steps": 60, "epochs": 3.0}) == \
        "training on from step 30 of 60"
    ck = _event_line({"type": "checkpoint", "step": 15, "path": "runs/x/checkpoints/checkpoint-15"})
    assert ck == "checkpoint saved at step 15 (checkpoint-15)"
    done = _event_line({"type": "done", "step": 60, "output": "runs/x/adapter", "train_runtime": 125.4,
                        "train_loss": 1.23456, "train_samples_per_second": 3.2})
    assert done == ("finished at step 60: training loss 1.2346 (mean over the run), 2 min 05 s of training; saved "
                    "to runs/x/adapter")
    # where the loss started and ended, not the run's mean (0.617 read as "did not learn much" for a run at 0.005)
    done = _event_line({"type": "done", "step": 40, "output": "runs/x/adapter", "train_runtime": 129.0,
                        "train_loss": 0.617, "loss_first": 2.4712, "loss_last": 0.00463, "eval_loss_last": 0.041})
    assert done.startswith("finished at step 40: training loss 2.47 → 0.00463, validation loss 0.041, 2 min 09 s")
    assert "{" not in begin + ck + done


def test_a_failure_is_said_once_by_the_end_report(tmp_path, monkeypatch):
    """The stream holds back the run's last `failed` event: the end report says it, with the fix and the log.
    A failure the run went on from (resumed) is still shown where it happened."""
    import json

    from ftwizard.cli import _common

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model: m\n", encoding="utf-8")
    events = [{"type": "log", "step": 1, "loss": 2.0, "max_steps": 9},
              {"type": "failed", "message": "disk full at step 1", "fix": "free space"},
              {"type": "resume", "checkpoint": None, "from_step": 0},
              {"type": "failed", "message": "the loss became NaN", "fix": "halve the learning rate"}]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    (run / "status.json").write_text(json.dumps({"state": "failed", "pid": None, "diagnosis": {
        "summary": "the loss became NaN", "fix": "halve the learning rate"}}), encoding="utf-8")
    buf = io.StringIO()
    monkeypatch.setattr(_common, "console", Console(file=buf, width=250, emoji=False, color_system=None))
    assert _common.report_end(_common.follow(run), run) == 1
    out = buf.getvalue()
    assert out.count("disk full") == 1 and out.count("the loss became NaN") == 1, out
    assert out.index("disk full") < out.index("resume") < out.index("the loss became NaN")


def test_check_progress_is_a_few_lines_not_one_per_batch(capsys):
    """`ftwizard check` printed one line per 8 rows (50 lines for 189 test rows): into a file or a pipe it now says
    each quarter; on a terminal one line is updated in place."""
    from ftwizard.cli.check import _progress_printer

    show = _progress_printer(terminal=False)
    show("compare: 189 test rows, base then tuned")
    for phase in ("base", "tuned"):
        for n in [*range(8, 189, 8), 189]:
            show(f"compare: {phase} {n}/189 rows")
        show(f"compare: {phase} done — exact match 1.00")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 + 2 * 6, lines  # the header, and per phase: 4 quarters + the end + "done"
    assert "compare: base 189/189 rows" in lines and lines[-1].startswith("compare: tuned done")
    tty = _progress_printer(terminal=True)
    for n in (8, 16, 24):
        tty(f"general: base {n}/24 questions")
    tty("general: done")
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and err.count("\r") == 3  # one line rewritten in place, then the next line


def test_a_saved_config_trains_from_any_folder(tmp_path):
    """`plan --data d.jsonl --save-config c.yaml` wrote `data: d.jsonl`: `ftwizard train c.yaml` from another folder
    did not find it. Local paths are written absolute."""
    import yaml

    (tmp_path / "d.jsonl").write_text("".join(
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]})
        + "\n" for i in range(20)))
    res = subprocess.run([sys.executable, "-m", "ftwizard", "plan", "smollm2-135m", "--data", "d.jsonl", "--gpu", "cpu",
                          "--save-config", "c.yaml"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})  # from elsewhere
    assert res.returncode == 0, res.stderr
    cfg = yaml.safe_load((tmp_path / "c.yaml").read_text())
    assert cfg["data"] == str((tmp_path / "d.jsonl").resolve())
    assert cfg["estimate_ram_gib"] > cfg["estimate_gib"] > 0  # a CPU plan: the RAM, the tensors and the runtime
