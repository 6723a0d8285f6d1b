"""The wizard's answers and the editable plan — pure, so the app, the CLI and tests share one path.

Answers (decision, task, GPU, model, data, the user's plan edits) save to and load from a preset YAML.
`make_plan` turns answers + model facts + the probed GPUs into a `PlanView`: the recommendation with the
user's edits applied, each value with its reason, the memory estimate in parts, and one-key fixes when the
plan does not fit. `to_run_config` turns it into the RunConfig that the trainer reads.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import yaml

from ftwizard.core.plan.hardware import GPU, KNOWN_GPUS, ProbeResult, gpu_from_name
from ftwizard.core.plan.memory import Estimate, EstimateInput, estimate, max_micro_batch
from ftwizard.core.plan.model_facts import ModelFacts
from ftwizard.core.plan.recommend import Plan, recommend
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.trainers import TRAINERS, trainer_for_family, trainer_spec
from ftwizard.core.yamlsafe import load_yaml

METHODS = ("lora", "qlora", "dora", "full")
OPTIMIZERS = ("adamw_torch_fused", "adamw_torch", "adamw_bnb_8bit", "paged_adamw_8bit", "adafactor")
PRECISIONS = ("bf16", "fp16", "fp32")
SCHEDULERS = ("cosine", "linear", "constant_with_warmup")

# The plan's editable fields: name → (type, label). Order = display order.
FIELDS: dict[str, tuple[type, str]] = {
    "teacher_model": (str, "Teacher model"),
    "method": (str, "Method"),
    "rank": (int, "LoRA rank"),
    "alpha": (int, "LoRA alpha"),
    "dropout": (float, "LoRA dropout"),
    "target_modules": (list, "Target modules"),
    "max_seq_length": (int, "Max sequence length"),
    "micro_batch": (int, "Micro-batch (per GPU)"),
    "gradient_accumulation": (int, "Gradient accumulation"),
    "learning_rate": (float, "Learning rate"),
    "epochs": (float, "Epochs"),
    "eval_steps": (int, "Evaluate every (steps)"),
    "gradient_checkpointing": (bool, "Gradient checkpointing"),
    "optimizer": (str, "Optimizer"),
    "precision": (str, "Precision"),
    "warmup_ratio": (float, "Warmup ratio"),
    "lr_scheduler": (str, "LR schedule"),
    "weight_decay": (float, "Weight decay"),
}
CHOICES: dict[str, tuple[str, ...]] = {"method": METHODS, "optimizer": OPTIMIZERS, "precision": PRECISIONS,
                                        "lr_scheduler": SCHEDULERS}
ADAPTER_ONLY = ("rank", "alpha", "dropout", "target_modules")
# fields a trainer requires (its TrainerSpec.needs): in the plan only for that trainer
TRAINER_FIELDS: dict[str, str] = {
    "teacher_model": "the larger model the student imitates: a local folder or a Hub id with the same tokenizer "
                     "(required)"}
GPU_CHOICES = ("local", "cpu", *KNOWN_GPUS)
STEP_NAMES = ("decide", "task", "hardware", "model", "data", "plan", "launch")


class PresetError(ValueError):
    """A preset or autosave file that cannot be used; `str()` is one line naming the file and the problem."""


def config_dir() -> Path:
    """ftwizard's settings folder: $XDG_CONFIG_HOME/ftwizard (default ~/.config/ftwizard)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "ftwizard"


def autosave_path() -> Path:
    return config_dir() / "autosave.yaml"


def load_settings() -> dict[str, Any]:
    """Small app settings (the theme) from settings.yaml; {} when missing or unreadable."""
    try:
        raw = load_yaml((config_dir() / "settings.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return raw if isinstance(raw, dict) else {}


def save_setting(key: str, value: Any) -> None:
    """Remember one setting; the file is written only when the value changes (never on a plain start), and a
    read-only config folder is not an error worth stopping for."""
    data = load_settings()
    if key in data and data[key] == value:
        return
    data[key] = value
    try:
        config_dir().mkdir(parents=True, exist_ok=True)
        (config_dir() / "settings.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    except OSError:
        pass


@dataclass
class Answers:
    """Everything the person chose in the wizard. Saved as a preset YAML (`ftwizard` → Save)."""

    decide: dict[str, bool] = field(default_factory=dict)
    task_kind: str = "format"
    gpu: str = "local"  # "local" (what NVML found), "cpu", or a known card to plan for
    gpu_count: int = 1
    model: str = ""
    data: str = ""
    data_format: str | None = None
    rows: int | None = None  # from the dataset report
    seq_p99: int | None = None
    seq_p50: float | None = None  # more length quantiles from the report: the time estimate's padding
    seq_p90: float | None = None
    seq_max: float | None = None
    tokens_per_row: float | None = None  # mean tokens per example, from the dataset report
    data_errors: int | None = None  # None = not analyzed yet
    overrides: dict[str, Any] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)  # plan settings last changed by a fix (not typed by the person)
    trainer: str | None = None  # None: chosen from the dataset family (preference pairs → dpo)
    trust_remote_code: bool = False
    allow_download: bool = False  # the model's weights may be fetched from the Hub
    step: str = "decide"  # the step the person was on (a preset or the autosave opens there)

    def to_yaml(self) -> str:
        return yaml.safe_dump({"ftwizard_answers": 1, **asdict(self)}, sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> Answers:
        """Parse a preset; PresetError (one line) for malformed YAML, unknown keys or a bad value."""
        try:
            raw = load_yaml(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise PresetError(f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
        if not isinstance(raw, dict):
            raise PresetError("a preset must be a YAML mapping (key: value lines)")
        raw.pop("ftwizard_answers", None)
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise PresetError(f"unknown preset keys: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
        overrides = raw.pop("overrides", None) or {}
        if not isinstance(overrides, dict):
            raise PresetError("overrides must be a mapping of plan settings (e.g. method: lora)")
        for key in ("decide",):
            if key in raw and not isinstance(raw[key], dict):
                raise PresetError(f"{key} must be a mapping")
        for key in ("fixed",):
            if key in raw and not isinstance(raw[key], list):
                raise PresetError(f"{key} must be a list")
        try:
            ans = cls(**raw)
            ans.gpu_count = int(ans.gpu_count)
            ans.rows = None if ans.rows is None else int(ans.rows)
            ans.seq_p99 = None if ans.seq_p99 is None else int(ans.seq_p99)
            for key in ("seq_p50", "seq_p90", "seq_max"):
                value = getattr(ans, key)
                setattr(ans, key, None if value is None else float(value))
            ans.model, ans.data, ans.task_kind = str(ans.model or ""), str(ans.data or ""), str(ans.task_kind)
        except (TypeError, ValueError) as exc:
            raise PresetError(f"a value has the wrong type: {exc}") from None
        if ans.gpu_count < 1:
            raise PresetError(f"gpu_count: {ans.gpu_count} is not allowed — at least 1")
        if "step" not in raw:  # a preset from before steps were saved: open where its answers stop
            ans.step = ("plan" if ans.model and ans.data else "data" if ans.model else
                        "task" if ans.decide else "decide")
        if ans.step not in STEP_NAMES:
            ans.step = "decide"
        if ans.trainer is not None and ans.trainer not in TRAINERS:
            raise PresetError(f"trainer: {ans.trainer!r} is not allowed — one of {', '.join(TRAINERS)}")
        for key, value in overrides.items():
            try:
                ans.overrides[str(key)] = parse_value(str(key), value)
            except ValueError as exc:
                raise PresetError(f"overrides: {exc}") from None
        return ans

    def save(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.to_yaml(), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> Answers:
        """Load a preset; PresetError naming the file for a missing, unreadable or malformed one."""
        p = Path(path).expanduser()
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PresetError(f"{p}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PresetError(f"{p}: cannot be read ({exc.__class__.__name__})") from None
        try:
            return cls.from_yaml(text)
        except PresetError as exc:
            raise PresetError(f"{p}: {exc}") from None

    def is_blank(self) -> bool:
        """Nothing worth offering to continue: no decision, model, data, row count or plan edit yet."""
        return not (self.decide or self.model or self.data or self.rows or self.overrides)


def autosave(ans: Answers) -> None:
    """Write the answers to the autosave file (atomically); errors are ignored — the app must keep going."""
    path = autosave_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(ans.to_yaml(), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


def load_autosave() -> Answers | None:
    """The answers autosaved last time, if any and usable."""
    path = autosave_path()
    if not path.exists():
        return None
    try:
        ans = Answers.load(path)
    except PresetError:
        return None
    return None if ans.is_blank() else ans


def clear_autosave() -> None:
    try:
        autosave_path().unlink()
    except OSError:
        pass


def parse_value(key: str, value: Any) -> Any:
    """Parse a typed plan value from text (or pass a typed one through); ValueError in plain words."""
    if key not in FIELDS:
        raise ValueError(f"'{key}' is not a plan setting")
    typ, label = FIELDS[key]
    if typ is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{label}: say yes or no")
    if typ is list:
        if isinstance(value, list | tuple):
            items = [str(v).strip() for v in value]
        else:
            text = str(value).strip()
            if text in ("all-linear", "minimal", "attention"):
                return text
            items = [t.strip() for t in text.replace(" ", ",").split(",")]
        items = [t for t in items if t]
        if not items:
            raise ValueError(f"{label}: name at least one module, or all-linear")
        return items
    if typ is str:
        text = str(value).strip()
        allowed = CHOICES.get(key)
        if allowed and text not in allowed:
            raise ValueError(f"{label}: choose one of {', '.join(allowed)}")
        return text
    try:
        num = typ(value) if not isinstance(value, str) else (int(value.strip()) if typ is int else float(value.strip()))
    except (TypeError, ValueError):
        raise ValueError(f"{label}: '{value}' is not a {'whole ' if typ is int else ''}number") from None
    if typ is int and num < 1:
        raise ValueError(f"{label}: must be at least 1")
    if typ is float and (num < 0 or num != num):
        raise ValueError(f"{label}: must be zero or more")
    if key == "dropout" and num >= 1:
        raise ValueError(f"{label}: must be below 1")
    if key == "learning_rate" and not 0 < num < 1:
        raise ValueError(f"{label}: a fine-tuning learning rate is between 0 and 1 (e.g. 2e-4)")
    if key == "warmup_ratio" and num >= 1:
        raise ValueError(f"{label}: a ratio of the steps, below 1 (e.g. 0.03)")
    if key == "epochs" and num <= 0:
        raise ValueError(f"{label}: must be more than 0")
    return num


def tokenizer_source(model: str) -> str | None:
    """Where the data step finds the model's tokenizer (and chat template) to count tokens: a local folder, the
    converted folder of a .gguf file, or a Hub id in the local cache; None → ~characters/4."""
    if not model:
        return None
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    if path.is_file() and path.suffix.lower() == ".gguf":
        from ftwizard.core.plan.gguf import find_converted

        found = find_converted(path)
        return str(found) if found else None
    from ftwizard.core.plan.model_facts import find_cached_config
    from ftwizard.core.plan.presets import find_entry, preset_entries

    key = find_entry(model)
    hub_id = str(preset_entries()[key].get("hub_id") or model) if key else model
    try:
        return hub_id if find_cached_config(hub_id) is not None else None
    except Exception:  # noqa: BLE001 - a broken cache: count approximately
        return None


def apply_report(ans: Answers, rep: dict[str, Any]) -> None:
    """What the plan takes from a data report (DatasetReport.to_dict()): family, errors, rows, p99 and mean tokens."""
    ans.data_errors = int(rep.get("error_count", len(rep.get("errors") or [])))
    ans.data_format = rep.get("family")
    if rep.get("rows"):
        tokens = (rep.get("stats") or {}).get("tokens", {})
        ans.rows = int(rep["rows"])
        ans.seq_p99 = tokens.get("p99") or None
        ans.seq_p50, ans.seq_p90, ans.seq_max = tokens.get("p50"), tokens.get("p90"), tokens.get("max")
        total = tokens.get("total")
        ans.tokens_per_row = total / rep["rows"] if total else None


def planning_probe(ans: Answers, local: ProbeResult) -> ProbeResult:
    """The GPUs to plan for: the local ones, none (CPU), or a chosen card × count."""
    if ans.gpu == "local":
        return local
    if ans.gpu == "cpu":
        return ProbeResult(gpus=[], backend="cpu", reason="You chose CPU-only: only tiny models are practical.")
    n = max(1, ans.gpu_count)
    gpus: list[GPU] = [gpu_from_name(ans.gpu, i) for i in range(n)]
    return ProbeResult(gpus=gpus, backend="planned", reason=None)


@dataclass
class Fix:
    key: str  # the one key that applies it
    label: str
    changes: dict[str, Any]
    peak_gib: float


@dataclass
class PlanView:
    recommendation: Plan
    values: dict[str, Any]
    reasons: dict[str, str]
    edited: set[str]
    estimate: Estimate
    gpu_name: str | None
    gpu_gib: float | None
    gpus: int
    max_micro_batch: int | None
    fixes: list[Fix]
    warnings: list[str]
    trainer: str = "sft"
    rows: int = 1000  # the rows the plan was sized for (the data report's, else a guess)

    @property
    def fits(self) -> bool:
        return self.estimate.fits(self.gpu_gib)

    @property
    def is_adapter(self) -> bool:
        return self.values["method"] != "full"


def _estimate_input(facts: ModelFacts, v: dict[str, Any], gpus: int, has_gpu: bool) -> EstimateInput:
    method = v["method"]
    targets: tuple[str, ...] = ()
    if method != "full":
        targets = tuple(facts.resolve_targets(v.get("target_modules") or "all-linear"))
    precision = v.get("precision") or "bf16"
    return EstimateInput(method=method, rank=int(v.get("rank") or 16), targets=targets, batch=int(v["micro_batch"]),
                         seq=int(v["max_seq_length"]), grad_ckpt=bool(v["gradient_checkpointing"]),
                         optim=str(v["optimizer"]), precision=precision if has_gpu else "fp32",
                         gpus=max(1, gpus), engine=str(v.get("engine") or "auto"),
                         lora_dropout=float(v.get("dropout") or 0.0), trainer=str(v.get("trainer") or "sft"),
                         virtual_tokens=int(v.get("virtual_tokens") or 20))


def make_plan(ans: Answers, facts: ModelFacts, local: ProbeResult) -> PlanView:
    probe = planning_probe(ans, local)
    rec = recommend(facts, probe, task_kind=ans.task_kind, rows=ans.rows or 1000, seq_len=ans.seq_p99,
                    method=ans.overrides.get("method"))
    values: dict[str, Any] = {k: c.value for k, c in rec.choices.items()}
    reasons: dict[str, str] = {k: c.reason for k, c in rec.choices.items()}
    # adapter fields exist in the recommendation only for adapter methods: fill them for an edit to full→lora
    if "rank" not in values:
        from ftwizard.core.plan.decision import TASK_KINDS

        r = TASK_KINDS.get(ans.task_kind, TASK_KINDS["domain"]).rank
        values.update(rank=r, alpha=2 * r, dropout=0.05, target_modules="all-linear")
        for k in ADAPTER_ONLY:
            reasons[k] = "used only by adapter methods"
    trainer = ans.trainer or trainer_for_family(ans.data_format)
    spec = trainer_spec(trainer)
    values["trainer"] = trainer  # the estimate adds the objective's terms (DPO's reference copy, …)
    if spec.needs in TRAINER_FIELDS:
        values[spec.needs] = str(ans.overrides.get(spec.needs) or "")
        reasons[spec.needs] = f"{trainer.upper()}: {TRAINER_FIELDS[spec.needs]}"
    if trainer != "sft":  # each objective has its own starting learning rate (DPO ~5e-6, not SFT's 2e-4)
        lr = spec.lr_full if values["method"] == "full" else spec.lr_lora
        values["learning_rate"] = lr
        what = "full fine-tuning" if values["method"] == "full" else "adapters"
        reasons["learning_rate"] = f"{trainer.upper()}'s starting point for {what} ({spec.title})"
    if ans.seq_p99 and "max_seq_length" in values:
        seq = int(values["max_seq_length"])
        p99 = int(ans.seq_p99)
        reasons["max_seq_length"] = (f"covers your data's longest examples ({p99} tokens)" if seq == p99 else
                                     f"covers your data's longest examples ({p99} tokens), rounded up to {seq}"
                                     if seq > p99 else f"the model's context ({seq}); your longest examples "
                                     f"({p99} tokens) get cut")
    edited: set[str] = set()
    for key, val in ans.overrides.items():
        if key in TRAINER_FIELDS and key != spec.needs:
            continue  # another trainer's required field, kept in the answers for a switch back
        if key in FIELDS and val is not None:
            if values.get(key) != val:
                edited.add(key)
            values[key] = val
            if key in edited:
                reasons[key] = "set by a fix to make it fit" if key in ans.fixed else "you set this"
    if "micro_batch" in edited and "gradient_accumulation" not in ans.overrides:
        rec_eff = int(rec.value("micro_batch")) * int(rec.value("gradient_accumulation"))
        values["gradient_accumulation"] = max(1, -(-rec_eff // int(values["micro_batch"])))
        reasons["gradient_accumulation"] = f"keeps the effective batch near the recommended {rec_eff}"
    if values["method"] == "qlora" and "optimizer" not in ans.overrides and "8bit" not in str(values["optimizer"]):
        values["optimizer"] = "paged_adamw_8bit"
        reasons["optimizer"] = "paged 8-bit AdamW, the QLoRA recipe"
    if "eval_steps" in values and "eval_steps" not in edited and edited & {"epochs", "micro_batch",
                                                                           "gradient_accumulation"}:
        from ftwizard.core.plan.recommend import schedule

        eff = int(values["micro_batch"]) * int(values["gradient_accumulation"]) * max(1, probe.count)
        steps = math.ceil(schedule(ans.rows or 1000).train_rows / eff) * math.ceil(float(values["epochs"]))
        values["eval_steps"] = max(1, round(steps / (5 if steps < 500 else 10)))
        reasons["eval_steps"] = f"evaluate about 5 times over your {steps} steps, and once before training"
    has_gpu = probe.count > 0
    inp = _estimate_input(facts, values, probe.count, has_gpu)
    est = estimate(facts, inp)
    gib = probe.min_total_gib if has_gpu else None
    # the recommender's "even X needs N GiB" is about its own settings: the verdict and fixes below replace it
    warnings = [w for w in rec.warnings if not w.startswith("Even ")]
    mb = max_micro_batch(facts, inp, gib) if gib else None
    too_big = bool(gib) and not est.fits(gib)
    fixes = fit_fixes(facts, values, inp, gib, "gradient_accumulation" in ans.overrides, mb) if too_big else []  # type: ignore[arg-type]
    if too_big:
        warnings.insert(0, f"Predicted peak {est.peak_gib:.1f} GiB (up to {est.high_gib:.1f} GiB with its "
                           f"{est.margin:.0%} margin) does not fit in {gib:.0f} GiB: training would run out of "
                           "memory. Apply a fix below.")
        # the recommender's reasons promise a fit; after the person's edits they must not
        if "method" not in edited and ("fits your GPU" in reasons.get("method", "") or "so it fits" in reasons.get("method", "")):
            reasons["method"] = f"{values['method']}: the lightest option the recommender had; still too big here"
        if "micro_batch" not in edited:
            reasons["micro_batch"] = "does not fit even at this size: apply a fix" if not mb else \
                f"too big with the other settings: up to {mb} fits"
    elif has_gpu and mb and "micro_batch" not in edited:
        mbv = int(values["micro_batch"])
        reasons["micro_batch"] = ("the largest that fits your GPU with a 10% margin" if mbv >= mb else
                                  f"fits with a 10% margin (up to {mb} would; bigger adds little, raise accumulation instead)")
    if values["method"] == "qlora" and has_gpu and not probe.bf16 and values.get("precision") == "bf16":
        warnings.append("This GPU has no bf16: use fp16 precision.")
    return PlanView(rec, values, reasons, edited, est, probe.gpus[0].name if has_gpu else None, gib, probe.count,
                    mb, fixes, warnings, trainer, ans.rows or 1000)


def fit_fixes(facts: ModelFacts, v: dict[str, Any], inp: EstimateInput, gpu_gib: float,
              accum_pinned: bool = False, largest_batch: int | None = None) -> list[Fix]:
    """Single changes from the remedy ladder (core/plan/remedies.py) that lower the peak, best first; each is
    one key in the plan screen. A smaller micro-batch jumps to the largest that fits and raises gradient
    accumulation to keep the effective batch (explicitly when the user pinned it). `largest_batch` is
    max_micro_batch(facts, inp, gpu_gib) when the caller has it already."""
    from ftwizard.core.plan import remedies
    from ftwizard.core.plan.memory import input_from_values

    scored = []
    for r, ch in remedies.applicable(v, facts.vocab_size):
        if r.id == "more_gpus":
            continue  # hardware, not a setting: fit_advice names it
        if r.id == "smaller_batch":
            if largest_batch is None:
                largest_batch = max_micro_batch(facts, inp, gpu_gib)
            ch = remedies.smaller_batch(v, to=max(1, largest_batch)) or ch
            old_eff = int(v["micro_batch"]) * int(v["gradient_accumulation"])
            new_eff = int(ch["micro_batch"]) * int(ch["gradient_accumulation"])
            same = "same effective batch" if new_eff == old_eff else f"effective batch {old_eff} → {new_eff}"
            label = f"micro-batch {ch['micro_batch']} × accumulation {ch['gradient_accumulation']} ({same})"
            # the accumulation goes with it (pinned or not), so the plan shows exactly what the label says
        else:
            label = r.label(v, facts.vocab_size)
        if "loss" in ch:
            continue  # the trainer has no fused-loss switch yet
        e = estimate(facts, input_from_values(inp, {**v, **ch}))
        scored.append((label, ch, e.peak_gib, e.fits(gpu_gib)))
    # changes that fit on their own come first (cheapest in quality first = the ladder order), then by peak
    fitting = [s for s in scored if s[3]]
    rest = sorted((s for s in scored if not s[3]), key=lambda s: s[2])
    return [Fix(str(i + 1), label, ch, round(peak, 2)) for i, (label, ch, peak, _) in enumerate(fitting + rest)]


def apply_fix(ans: Answers, fix: Fix) -> None:
    ans.overrides.update(fix.changes)
    ans.fixed = sorted(set(ans.fixed) | set(fix.changes))


def set_override(ans: Answers, key: str, value: Any) -> None:
    """The person typed a plan value: it is theirs now (no longer 'set by a fix')."""
    ans.overrides[key] = value
    if key in ans.fixed:
        ans.fixed = [k for k in ans.fixed if k != key]


def to_run_config(ans: Answers, view: PlanView, facts: ModelFacts) -> RunConfig:
    """The RunConfig the trainer reads. Model = the local folder or the Hub id (presets use their Hub id)."""
    v = view.values
    adapter = v["method"] != "full"
    targets = v.get("target_modules", "all-linear")
    if isinstance(targets, list) and facts.module_names() and set(targets) == set(facts.resolve_targets("all-linear")):
        targets = "all-linear"
    model = ans.model
    if not Path(model).expanduser().is_dir():
        model = facts.name  # a preset key → its Hub id
    needed: dict[str, Any] = {k: str(v[k]) for k in TRAINER_FIELDS if k in v}  # the trainer's required fields
    cfg = RunConfig(
        model=model, data=ans.data, data_format=ans.data_format, trainer=view.trainer,
        method=v["method"], max_seq_length=int(v["max_seq_length"]), micro_batch=int(v["micro_batch"]),
        gradient_accumulation=int(v["gradient_accumulation"]), learning_rate=float(v["learning_rate"]),
        epochs=float(v["epochs"]), warmup_ratio=float(v["warmup_ratio"]), lr_scheduler=str(v["lr_scheduler"]),
        weight_decay=float(v["weight_decay"]), gradient_checkpointing=bool(v["gradient_checkpointing"]),
        # precision and engine are Literal fields: RunConfig checks the value at construction
        optimizer=str(v["optimizer"]), precision=cast(Any, str(v.get("precision") or "auto") if view.gpus else "auto"),
        engine=cast(Any, str(v.get("engine") or "auto")), num_gpus=max(1, view.gpus),
        trust_remote_code=ans.trust_remote_code, estimate_gib=round(view.estimate.peak_allocated_gib, 2),
        **run_cadence(view), **needed)
    if adapter:
        cfg.rank, cfg.alpha, cfg.dropout, cfg.target_modules = int(v["rank"]), int(v["alpha"]), float(v["dropout"]), targets
    try:
        timing = plan_time(ans, view)
    except (ValueError, KeyError, OSError):  # a broken user price file: no planned time, the run still starts
        timing = None
    if timing is not None:
        cfg.estimate_hours = round(timing.total_seconds / 3600, 4)
    return cfg


def planned_steps(view: PlanView) -> int:
    """Optimizer steps of the plan: training rows / effective batch × epochs (the recommender's schedule)."""
    from ftwizard.core.plan.recommend import schedule

    sched = schedule(view.rows)
    eff = int(view.values["micro_batch"]) * int(view.values["gradient_accumulation"]) * max(1, view.gpus)
    return max(1, math.ceil(sched.train_rows / eff) * math.ceil(float(view.values["epochs"])))


def run_cadence(view: PlanView) -> dict[str, Any]:
    """Evaluation, logging and checkpoint cadence for the RunConfig: the plan's eval_steps with an evaluation before
    the first step, a log line about every 2% of the run (≤ 10 steps apart), a checkpoint every quarter."""
    steps = planned_steps(view)
    ev = int(view.values.get("eval_steps") or max(1, steps // 5))
    return {"eval_steps": ev, "eval_on_start": True, "logging_steps": max(1, min(10, steps // 50)),
            "save_steps": max(1, min(500, math.ceil(steps / 4)))}


def auto_fit(ans: Answers, facts: ModelFacts, local: ProbeResult, max_steps: int = 8) -> PlanView:
    """Apply the best fix, re-plan, repeat until the plan fits (or nothing more helps)."""
    view = make_plan(ans, facts, local)
    for _ in range(max_steps):
        if view.fits or not view.fixes:
            break
        apply_fix(ans, view.fixes[0])
        view = make_plan(ans, facts, local)
    return view


def plan_cost(ans: Answers, view: PlanView) -> Any:
    """Time and cost of the plan before launch (core/plan/cost.py), from the data report's rows and tokens per
    row (the plan's sequence length as a stand-in until the data is checked). None without a model."""
    from ftwizard.core.plan import cost

    rows = ans.rows or 1000
    per_row = ans.tokens_per_row or (ans.seq_p99 or view.values["max_seq_length"]) / 2
    return cost.plan_cost(view.estimate, rows=rows, tokens_per_row=per_row, epochs=float(view.values["epochs"]),
                          gpu=view.gpu_name, gpus=view.gpus)


def plan_workload(ans: Answers, view: PlanView, cadence: dict[str, Any] | None = None) -> Any:
    """What the plan's run computes (core/plan/timing.py Workload), from the plan and the data report."""
    from ftwizard.core.plan.timing import Workload

    v = view.values
    est = view.estimate
    cad = cadence if cadence is not None else run_cadence(view)
    per_row = ans.tokens_per_row or (ans.seq_p99 or v["max_seq_length"]) / 2
    quantiles = {k: float(q) for k, q in (("p50", ans.seq_p50), ("p90", ans.seq_p90), ("p99", ans.seq_p99),
                                          ("max", ans.seq_max)) if q}
    return Workload(params=float(est.params), trainable=float(est.trainable_params), method=str(v["method"]),
                    grad_ckpt=bool(v["gradient_checkpointing"]), model_bytes=float(est.parts_bytes.get("weights", 0)),
                    rows=int(ans.rows or 1000), tokens_per_row=float(per_row), seq_quantiles=quantiles,
                    max_seq_length=int(v["max_seq_length"]), micro_batch=int(v["micro_batch"]),
                    gradient_accumulation=int(v["gradient_accumulation"]), epochs=float(v["epochs"]),
                    gpus=max(1, view.gpus), eval_steps=int(cad.get("eval_steps") or 0),
                    eval_on_start=bool(cad.get("eval_on_start")), save_steps=int(cad.get("save_steps") or 500))


def plan_time(ans: Answers, view: PlanView) -> Any:
    """How long `ftwizard train` of this plan takes on the device it is planned for (core/plan/timing.py): the
    probed or chosen GPU, else this CPU with the threads the trainer will use. None for a GPU without a TFLOPS
    figure in the price table."""
    from ftwizard.core.plan.timing import estimate_time
    from ftwizard.core.threads import pick_cpu_threads

    w = plan_workload(ans, view)
    if view.gpu_name:
        return estimate_time(w, gpu=view.gpu_name)
    threads = pick_cpu_threads()
    return estimate_time(w, gpu=None, threads=threads,
                         device=f"this CPU ({threads} thread{'s' * (threads != 1)})")


def cost_line(c: Any, timing: Any = None) -> str:
    """One short line for the Plan step: the time of `ftwizard train` on the planned device (`timing`, from
    plan_time; else the cost's training hours), the cheapest rented card that fits, the cheapest API."""
    from ftwizard.core.plan.cost import fmt_hours, money
    from ftwizard.core.plan.timing import fmt_seconds

    def short(name: str) -> str:
        words = str(name).removeprefix("NVIDIA ").removeprefix("GeForce ").split()
        return " ".join(words[:2] if words and words[0] in ("RTX", "Tesla") else words[:1])

    bits = []
    if timing is not None:
        lo, hi = timing.range_seconds
        where = "this CPU" if timing.device.startswith("this CPU") else short(timing.device)
        bits.append(f"~{fmt_seconds(timing.total_seconds)} on {where} ({fmt_seconds(lo)}–{fmt_seconds(hi)})")
    elif c.hours:
        many = f"{c.gpus}× " if c.gpus > 1 else ""
        bits.append(f"~{fmt_hours(c.hours[0])}–{fmt_hours(c.hours[1])} on {many}{short(c.gpu)}")
    rent = [r for r in c.rent if r.fits is not False]
    if rent:
        r = min(rent, key=lambda r: r.cost)
        bits.append(f"rent {short(r.gpu)} {money(r.cost, c.currency)}")
    if c.api:
        a = min(c.api, key=lambda a: a.cost)
        bits.append(f"API {money(a.cost, c.currency)}")
    tokens = f"{c.tokens / 1e6:,.1f}M tokens" if c.tokens >= 1e5 else f"{c.tokens:,.0f} tokens"
    return " · ".join([tokens, *bits])

