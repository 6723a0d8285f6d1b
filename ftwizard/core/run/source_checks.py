"""Before launch: is the model loadable at all? Pure file checks (no torch, no network) that `ftwizard train`
and the app's Launch step run (through core/run/before_launch.py, with the machine checks), so a bad model path
is one line with the fix instead of "unexpected error" a minute after launch. What slips through (a corrupt weight
file) is named by the trainer's diagnosis.

A Hub id is looked up in the local Hugging Face cache only (`huggingface_hub.try_to_load_from_cache`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ftwizard.core.hub_access import (  # noqa: F401 - hf_token_present/is_offline: read by callers here
    TOKENIZER_FILES,
    WEIGHT_GLOBS,
    hf_token_present,
    is_gated,
    is_offline,
    looks_like_hub_id,
)
from ftwizard.core.run.config import RunConfig


@dataclass(frozen=True)
class SourceProblem:
    """One thing that stops the launch: `str()` is the one line (what is wrong; what to do)."""

    field: str  # model | data | target_modules
    message: str
    fix: str
    kind: str = "missing"  # missing | config | weights | tokenizer | gated | offline | unreadable | targets | quantized

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}"


def folder_problems(folder: Path) -> list[SourceProblem]:
    """A local model folder: config.json present and valid JSON, weights, tokenizer files."""
    out: list[SourceProblem] = []
    cfg = folder / "config.json"
    if not cfg.is_file():
        adapter = (folder / "adapter_config.json").is_file()
        return [SourceProblem("model", f"model: {folder} has no config.json" + (" (it is a LoRA adapter)" if adapter else ""),
                        "point model: at the base model folder (the one with config.json and the weights)")]
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except (OSError, UnicodeDecodeError) as exc:
        return [SourceProblem("model", f"model: {cfg} cannot be read ({exc})", "check the file's permissions", "unreadable")]
    except ValueError as exc:
        return [SourceProblem("model", f"model: {cfg} is not valid JSON ({exc})",
                        "restore config.json from the original model (it was cut off or edited by hand)", "config")]
    from ftwizard.core.plan.model_facts import loads_as_causal_lm

    if loads_as_causal_lm(data) is False:  # a multimodal wrapper AutoModelForCausalLM refuses (None: text models)
        return [SourceProblem("model", f"model: {folder} is '{data.get('model_type')}', a multimodal model that "
                              "transformers does not load as a causal LM (AutoModelForCausalLM)",
                              "pick the text model it is built on, or a model that loads that way "
                              "(ftwizard trains text decoders)", "config")]
    if not any(any(folder.glob(g)) for g in WEIGHT_GLOBS):
        out.append(SourceProblem("model", f"model: {folder} has a config.json but no weight files (*.safetensors)",
                           "copy the weights into the folder, or point model: at a folder that has them", "weights"))
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        out.append(SourceProblem("model", f"model: {folder} has no tokenizer files (tokenizer.json / tokenizer_config.json)",
                           "copy the tokenizer files from the base model into the folder", "tokenizer"))
    return out


def cached_snapshot(hub_id: str) -> Path | None:
    """The cached snapshot folder of a Hub id (config.json found in the local cache), or None. No network."""
    try:
        from ftwizard.core.plan.model_facts import find_cached_config

        cfg = find_cached_config(hub_id)
    except Exception:  # noqa: BLE001 - a broken cache reads as "not cached"
        return None
    return cfg.parent if cfg is not None else None


def model_problems(model: str, offline: bool | None = None, token: bool | None = None) -> list[SourceProblem]:
    """Everything about `model` that can be known without loading it. `offline`/`token` override the probes."""
    model = (model or "").strip()
    if not model:
        return [SourceProblem("model", "model: not set", "set model: to a local folder with config.json, or a Hub id")]
    path = Path(model).expanduser()
    if path.is_dir():
        return folder_problems(path)
    if path.is_file() and path.suffix.lower() == ".gguf":
        try:
            magic = path.open("rb").read(4)
        except OSError as exc:
            return [SourceProblem("model", f"model: {model} cannot be read ({exc})", "check the file's permissions",
                            "unreadable")]
        if magic != b"GGUF":
            return [SourceProblem("model", f"model: {model} is not a GGUF file (it does not start with 'GGUF')",
                            "point model: at a .gguf file from llama.cpp/Ollama/LM Studio, or a model folder", "config")]
        return []  # converted once to a checkpoint when the run is created (core/plan/gguf.py)
    if path.is_file():
        return [SourceProblem("model", f"model: {model} is a file, not a model folder",
                        "point model: at the folder that holds config.json and the weights")]
    if not looks_like_hub_id(model):
        return [SourceProblem("model", f"model: {model} does not exist", "check the path (or give a Hub id like org/name)")]
    offline = is_offline() if offline is None else offline
    snap = cached_snapshot(model)
    if snap is not None:  # a snapshot holds the files fetched so far; online, the rest is fetched at launch
        probs = folder_problems(snap)
        return probs if offline else [p for p in probs if p.kind in ("config", "unreadable")]
    if is_gated(model) and not (hf_token_present() if token is None else token):
        return [SourceProblem("model", f"model: {model} is gated: the download needs an accepted licence and a token",
                        "accept the licence on the model's Hub page, then `hf auth login` (or set HF_TOKEN)", "gated")]
    if offline:
        return [SourceProblem("model", f"model: {model} is not in the local Hugging Face cache and downloads are off "
                                 "(HF_HUB_OFFLINE)", f"download it first: hf download {model}, or use a local folder", "offline")]
    return []  # not cached, online: the trainer downloads it


def data_problems(data: str) -> list[SourceProblem]:
    """The dataset path exists (a Hub dataset id is left to the data checks)."""
    data = (data or "").strip()
    if not data:
        return [SourceProblem("data", "data: not set", "set data: to a dataset file or folder")]
    path = Path(data).expanduser()
    if not path.exists() and "#" in data and Path(data.rpartition("#")[0]).expanduser().is_file():
        path = Path(data.rpartition("#")[0]).expanduser()  # a LLaMA-Factory dataset_info.json#NAME entry
    if path.exists():
        if path.is_file() and not os.access(path, os.R_OK):
            return [SourceProblem("data", f"data: {data} cannot be read (permission denied)", "check the file's permissions",
                            "unreadable")]
        return []
    if looks_like_hub_id(data) and not Path(data).suffix:
        return []
    return [SourceProblem("data", f"data: {data} does not exist", "check the path in the config (data:)")]


_REGEX_CHARS = re.compile(r"[*+?^$()\[\]{}|\\]")


def explicit_targets(targets: str | list[str]) -> list[str] | None:
    """The module names a config lists in `target_modules` (a preset or a regex string: None)."""
    from ftwizard.core.run.config import TARGET_PRESETS

    if isinstance(targets, str):
        if targets in TARGET_PRESETS or _REGEX_CHARS.search(targets):
            return None
        targets = targets.split(",")
    return [t.strip() for t in targets if t.strip()]


def _matches(name: str, known: list[str]) -> bool:
    """PEFT's list rule: a module matches when its dotted path ends with the name (`q_proj`, `self_attn.q_proj`)."""
    return any(k == name or k.endswith("." + name) or name.endswith("." + k) for k in known)


def target_problems(cfg: RunConfig) -> list[SourceProblem]:
    """Explicit LoRA/DoRA/IA3 `target_modules` the model does not have (PEFT would stop with
    NoMatchingPeftModuleError after the model loaded). Read from config.json only; a model whose layers
    ftwizard only guesses, or that cannot be read here, is left to the trainer."""
    if cfg.method not in ("lora", "qlora", "dora", "ia3") or cfg.init_from:
        return []
    names = explicit_targets(cfg.target_modules)
    if not names:
        return []
    from ftwizard.core.plan.model_facts import ModelFactsError, load_model_facts

    try:
        facts = load_model_facts(cfg.model)
    except (ModelFactsError, OSError, ValueError):
        return []
    if facts.family == "generic" and facts.count_source != "meta-device":
        return []  # layer names guessed (Llama-style), not read from the model
    known = [*facts.module_names(), "lm_head"]
    unknown = [n for n in names if not _matches(n, known)]
    if not unknown:
        return []
    return [SourceProblem("target_modules", f"target_modules: {', '.join(unknown)} not in {facts.architecture} (its "
                          f"linear layers: {', '.join(facts.module_names())})",
                          "use names from that list, or all-linear / attention / minimal", "targets")]


def quant_problems(cfg: RunConfig) -> list[SourceProblem]:
    """`method: qlora` on a checkpoint already quantized another way (gpt-oss's mxfp4, fp8, GPTQ, AWQ): transformers
    keeps the checkpoint's own quantization and ignores bitsandbytes', so the run would not be the QLoRA planned
    (and not fit the memory planned for it)."""
    if cfg.method != "qlora" or cfg.init_from:
        return []
    from ftwizard.core.plan.model_facts import ModelFactsError, load_model_facts

    try:
        facts = load_model_facts(cfg.model, exact=False)
    except (ModelFactsError, OSError, ValueError):
        return []
    if facts.requantizable:
        return []
    return [SourceProblem("method", f"method: qlora cannot load {cfg.model}: its weights are already quantized "
                          f"({facts.prequantized}), and transformers keeps that instead of bitsandbytes' 4-bit",
                          "use method: lora (see `ftwizard plan` for the memory it needs), or start from the "
                          "16-bit model", "quantized")]


def check_before_launch(cfg: RunConfig, offline: bool | None = None, run: str | Path | None = None) -> list[SourceProblem]:
    """Model, target-module and data problems of a config, model first. Empty: nothing found that would stop the
    trainer early. With `run` (a resume): the data is not checked once the run has its own split in <run>/data."""
    from ftwizard.core.run.layout import RunDir

    has_split = run is not None and RunDir(run).split_file("train").exists()
    model = model_problems(cfg.model, offline=offline)
    return (model + ([] if model else target_problems(cfg) + quant_problems(cfg))
            + ([] if has_split else data_problems(cfg.data)))
