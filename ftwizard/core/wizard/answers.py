"""The wizard's answers (pure): the editable plan fields, the decision/task/GPU/model/data answers and the user's
edits, saved to and loaded from a preset YAML, the autosave and the settings file."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ftwizard.core.plan.hardware import KNOWN_GPUS
from ftwizard.core.run.config import ConfigError, check_value, field_type
from ftwizard.core.trainers import TRAINERS
from ftwizard.core.yamlsafe import load_yaml, yaml_problem

# the form's menus: the common names first (a value the config accepts outside them, from a preset, is added to its
# menu; what is accepted is the run config's rule, not these lists)
METHODS = ("lora", "qlora", "dora", "full", "prefix", "prompt", "ia3")
OPTIMIZERS = ("adamw_torch_fused", "adamw_torch", "adamw_bnb_8bit", "paged_adamw_8bit", "adafactor")
PRECISIONS = ("bf16", "fp16", "fp32")
SCHEDULERS = ("cosine", "linear", "constant_with_warmup")

# The plan's editable fields: RunConfig field → the label the form shows, in display order. What a field takes (type,
# range, names, help) is the run config's (`check_value`), not repeated here.
FIELDS: dict[str, str] = {
    "teacher_model": "Teacher model",
    "method": "Method",
    "rank": "LoRA rank",
    "alpha": "LoRA alpha",
    "dropout": "LoRA dropout",
    "target_modules": "Target modules",
    "max_seq_length": "Max sequence length",
    "micro_batch": "Micro-batch",
    "gradient_accumulation": "Gradient accumulation",
    "learning_rate": "Learning rate",
    "epochs": "Epochs",
    "eval_steps": "Evaluate every (steps)",
    "gradient_checkpointing": "Gradient checkpointing",
    "optimizer": "Optimizer",
    "precision": "Precision",
    "warmup_ratio": "Warmup ratio",
    "lr_scheduler": "LR schedule",
    "weight_decay": "Weight decay",
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
            raise PresetError(yaml_problem(exc)) from None
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


def is_switch(key: str) -> bool:
    """True for an on/off plan field (the form shows on/off)."""
    return field_type(key) is bool


def menu(key: str, current: Any = None) -> tuple[str, ...]:
    """The form's menu for a named-choice field, with `current` added when a preset set a name outside it."""
    names = CHOICES[key]
    return names if current is None or current in names else (*names, str(current))


def parse_value(key: str, value: Any) -> Any:
    """A plan field's value from a form's text (or a preset's typed value), read and checked by the run config's own
    rule for that field (`check_value`: the one validator); ValueError naming the field's label, in plain words."""
    if key not in FIELDS:
        raise ValueError(f"'{key}' is not a plan setting")
    try:
        return check_value(key, value.strip() if isinstance(value, str) else value)
    except ConfigError as exc:
        raise ValueError(f"{FIELDS[key]}: {exc.short()}") from None


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
