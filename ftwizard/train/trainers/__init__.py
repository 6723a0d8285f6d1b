"""The trainer registry's building half: `train/trainers/<name>.py` has `build(ctx) -> transformers.Trainer`.

The pure half — data families, starting points, monitor metrics, estimator terms — is the `TrainerSpec` line in
`ftwizard/core/trainers.py`; the module here is found by the same name, so a new trainer is one spec line plus
one file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir
from ftwizard.core.trainers import trainer_spec


@dataclass
class TrainContext:
    """Everything a trainer module needs to build its TRL trainer."""

    cfg: RunConfig
    rd: RunDir
    model: Any
    tokenizer: Any
    peft_config: Any  # None for a full fine-tune
    datasets: Any  # DatasetDict with train (and validation/test)
    args: dict[str, Any]  # TrainingArguments fields shared by every trainer
    callbacks: list[Any] = field(default_factory=list)
    template_source: str | None = None  # set when the run gave the tokenizer a chat template
    emit: Callable[[dict[str, Any]], None] = lambda ev: None  # write an event (main process only)
    export_notes: list[str] = field(default_factory=list)  # what the TRL CLI export cannot reproduce the same way

    @property
    def train_dataset(self) -> Any:
        return self.datasets["train"]

    @property
    def eval_dataset(self) -> Any:
        return self.datasets["validation"] if "validation" in self.datasets else None


def builder(name: str) -> Callable[[TrainContext], Any]:
    """The `build` function of trainer `name` (ValueError listing the known trainers for an unknown name)."""
    spec = trainer_spec(name)
    module = importlib.import_module(f"{__name__}.{spec.name}")
    return module.build
