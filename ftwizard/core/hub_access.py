"""What a launch needs to know about the Hugging Face Hub without touching it (pure): which files make a model
folder, which repositories are gated, whether a token is configured (the token itself is never read) and whether
downloads are off. Both halves of the checks before launch read these: this machine's GPU, RAM, disk and downloads
(core/plan/launch_checks.py) and the config's model, data and target modules (core/run/source_checks.py), merged
into one list by core/run/before_launch.py for the app's Launch step and `ftwizard train` alike."""

from __future__ import annotations

import os
import re
from pathlib import Path

WEIGHT_GLOBS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json", "*.pth", "*.gguf")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model",
                   "vocab.txt")
# Hub organisations whose models need an accepted licence and a token (gated repositories)
GATED_PREFIXES = ("meta-llama/", "google/gemma", "mistralai/Mistral-Large", "mistralai/Mixtral-8x22B")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$|^[A-Za-z0-9][\w.-]*$")


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def is_offline() -> bool:
    return _truthy("HF_HUB_OFFLINE") or _truthy("TRANSFORMERS_OFFLINE")


def hf_token_present() -> bool:
    """A Hugging Face token is configured (env or the token file); the token itself is never read."""
    if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        return True
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return (Path(os.environ["HF_TOKEN_PATH"]) if os.environ.get("HF_TOKEN_PATH") else hf_home / "token").exists()


def is_gated(model: str) -> bool:
    return model.startswith(GATED_PREFIXES)


def looks_like_hub_id(model: str) -> bool:
    return bool(_HUB_ID.match(model)) and not model.startswith((".", "/", "~")) and not model.endswith(".json")


def has_weights(folder: Path) -> bool:
    return any(any(folder.glob(g)) for g in WEIGHT_GLOBS)
