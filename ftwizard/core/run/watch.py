"""Live training warnings as pure rules: fed the logged numbers, they return warnings once each.

The trainer's callback feeds them (and writes each warning as an event); tests feed them numbers directly.
Thresholds follow the reference failure-mode tables: loss flat over a window, a 3× spike over the running
median, grad-norm 10× its median, eval loss rising for two evaluations while train loss falls. One is calibrated on
a real model: SFT whose loss fell less than 15% by half-way did not learn (SmolLM2-135M, identity set: 2.47 → 2.24,
the tuned model still gave the base's name; bench/real_sweep.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Warning_:
    kind: str
    message: str
    fix: str

    def to_event(self) -> dict[str, str]:
        return {"type": "warning", "kind": self.kind, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class RunSetup:
    """What the run is doing, so a fix names only what would change (None: not known)."""
    method: str | None = None
    learning_rate: float | None = None
    rank: int | None = None
    all_linear: bool | None = None
    steps: int | None = None  # optimizer steps planned
    params: int | None = None  # the base model's parameters
    data: str | None = None  # the dataset's path or Hub id
    resumed: bool = False  # a resumed segment starts where the loss has already fallen: "not learning" is not judged


@dataclass
class TrainingWatch:
    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    evals: list[tuple[float, float]] = field(default_factory=list)  # (eval loss, train loss at that time)
    lowest: tuple[float, int | None] | None = None  # (the lowest eval loss, its step)
    warned: set[str] = field(default_factory=set)
    trainer: str = "sft"  # the objective: GRPO's loss is not a learning signal, its reward is
    series: dict[str, list[float]] = field(default_factory=dict)  # reward, kl, rewards/margins as logged
    setup: RunSetup = field(default_factory=RunSetup)

    def _once(self, w: Warning_) -> list[Warning_]:
        if w.kind in self.warned:
            return []
        self.warned.add(w.kind)
        return [w]

    def on_log(self, loss: float | None = None, grad_norm: float | None = None,
                progress: float | None = None) -> list[Warning_]:
        """`progress`: the share of the planned steps done (0–1), when known."""
        out: list[Warning_] = []
        if loss is not None and math.isfinite(loss):
            self.losses.append(loss)
            ls = self.losses
            if (len(ls) >= 8 and min(ls[-4:]) >= 0.99 * min(ls[:4]) and _loss_learns(self.trainer)
                    and not self.setup.resumed):
                out += self._once(Warning_("not_learning", "The loss is not going down.", self._barely_fix()))
            out += self._barely_learning(progress)
            if len(ls) >= 3 and ls[-1] > 3 * sorted(ls[:-1])[(len(ls) - 1) // 2]:
                out += self._once(Warning_(
                    "loss_spike", f"The loss jumped up sharply ({ls[-1]:.3g}).",
                    "Lower the learning rate (halve it) or add warmup; check the data for corrupt or very long rows."))
        if grad_norm is not None and math.isfinite(grad_norm):
            self.grad_norms.append(grad_norm)
            med = sorted(self.grad_norms)[len(self.grad_norms) // 2]
            if len(self.grad_norms) >= 5 and grad_norm > 10 * med:
                out += self._once(Warning_(
                    "grad_explosion", f"Gradient norm exploded ({grad_norm:.1f}, median {med:.2f}).",
                    "Lower the learning rate, or clip gradients harder (max_grad_norm 0.3)."))
        return out

    def _barely_learning(self, progress: float | None) -> list[Warning_]:
        """SFT: by half-way (or after 12 logs when the plan is unknown) the loss fell less than 15%."""
        ls = self.losses
        if self.trainer != "sft" or len(ls) < 12 or "not_learning" in self.warned or self.setup.resumed:
            return []
        if progress is not None and progress < 0.5:
            return []
        first, last = _mean(ls[:3]), _mean(ls[-3:])
        if first <= 0 or last >= first or (first - last) / first >= 0.15:
            return []
        return self._once(Warning_(
            "barely_learning", f"The loss has fallen only {100 * (first - last) / first:.0f}% ({first:.2f} → "
                               f"{last:.2f}): the model is barely learning, and will probably not do what the "
                               "data shows.",
            self._barely_fix()))

    def _barely_fix(self) -> str:
        """What to change, leaving out what the run already does: a learning rate for the model's size, rank 16
        on all linear layers, 40+ optimizer steps; when it does all that, the data or the model is the suspect."""
        from ftwizard.core.plan.recommend import adapter_lr

        su = self.setup
        adapter = su.method not in (None, "full")
        changes: list[str] = []
        if su.learning_rate is None or su.params is None:
            changes.append("a higher learning rate (LoRA: 1e-3 below 0.5B parameters, 5e-4 below 3B, 2e-4 above)")
        elif adapter and su.learning_rate < 0.99 * (lr := adapter_lr(su.params / 1e9)[0]):
            changes.append(f"learning rate {lr:g} (now {su.learning_rate:g}) for a model of this size")
        if adapter and (su.rank is None or su.all_linear is None):
            changes.append("LoRA rank 16 on all linear layers")
        elif adapter and ((su.rank or 0) < 16 or not su.all_linear):
            changes.append("LoRA rank 16 on all linear layers"
                           + (f" (now rank {su.rank}" + ("" if su.all_linear else ", fewer layers") + ")"))
        if su.steps is None or su.steps < 40:
            changes.append("at least 40 optimizer steps (more epochs" + (f"; now {su.steps}" if su.steps else "") + ")")
        if changes:
            return "Stop and retry with " + ", ".join(changes) + "."
        return ("The usual settings are already in use, so look at the data: are the answers consistent, and is "
                f"there enough of it (ftwizard data {su.data or '<your data>'})? Then try more epochs, or a larger "
                "model.")

    def on_metrics(self, logs: dict[str, object]) -> list[Warning_]:
        """The objective's own numbers: GRPO's reward, the KL to the reference, preference margins."""
        out: list[Warning_] = []
        for key in ("reward", "kl", "rewards/margins", "frac_reward_zero_std"):
            v = logs.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                self.series.setdefault(key, []).append(float(v))
        rw = self.series.get("reward", [])
        if len(rw) >= 10 and _mean(rw[-4:]) <= _mean(rw[:4]) + 0.01 * max(1.0, abs(_mean(rw[:4]))):
            flat = _mean(self.series.get("frac_reward_zero_std", [0.0])[-4:]) > 0.8
            out += self._once(Warning_(
                "reward_not_rising", "The reward is not rising" + (
                    ": almost every group of completions scores the same, so there is nothing to learn from."
                    if flat else "."),
                "Check the reward on a few completions by hand; start from an SFT model that sometimes gets it "
                "right, add partial credit (char_match), or raise grpo_num_generations / the learning rate."))
        kl = self.series.get("kl", [])
        if len(kl) >= 6:
            base = sorted(kl[:5])[2]
            if kl[-1] > max(1.0, 10 * max(base, 1e-3)):
                out += self._once(Warning_(
                    "kl_exploding", f"The KL to the starting model is exploding ({kl[-1]:.3g}, early {base:.3g}).",
                    "Lower the learning rate, or raise beta (dpo_beta / grpo_kl_beta) to keep the model closer to "
                    "where it started; check samples for reward hacking."))
        mg = self.series.get("rewards/margins", [])
        if len(mg) >= 8 and mg[-1] < 0 and _mean(mg[-4:]) < _mean(mg[:4]) - 0.05:
            out += self._once(Warning_(
                "margins_collapsing", "The preference margin is shrinking below zero: rejected answers now score "
                                      "higher than chosen ones.",
                "Lower the learning rate (preference tuning wants ~5e-6 for LoRA), raise beta, and check the pairs "
                "are not swapped (chosen must be the better answer)."))
        return out

    def on_eval(self, eval_loss: float, step: int | None = None) -> list[Warning_]:
        if not self.losses or not math.isfinite(eval_loss):
            return []
        self.evals.append((eval_loss, self.losses[-1]))
        if self.lowest is None or eval_loss < self.lowest[0]:
            self.lowest = (eval_loss, step)
        if len(self.evals) >= 3:
            (e1, t1), (e2, _), (e3, t3) = self.evals[-3:]
            if e3 > e2 > e1 and t3 < t1:
                low, at = self.lowest
                where = ("" if at is None else " (it was lowest before training started)" if at == 0
                         else f" (its lowest, {low:.3g}, was at step {at})")
                # no "use the best checkpoint": checkpoints are kept by age (save_total_limit), not by eval loss
                return self._once(Warning_(
                    "overfitting", f"Validation loss is rising while training loss falls{where}: the model is "
                                   "starting to memorize its training rows.",
                    "Check the tuned model on prompts it never saw (`ftwizard check <run>`) before training longer: "
                    "a rising validation loss does not always mean worse answers. If they are worse, train again "
                    + (f"for about {at} steps (fewer epochs)" if at else "with fewer epochs, a lower learning rate")
                    + ", add data, or raise dropout / lower the rank."))
        return []


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _loss_learns(trainer: str) -> bool:
    """Whether a flat loss means "not learning" for this objective (its TrainerSpec; RL and distillation: no)."""
    from ftwizard.core.trainers import TRAINERS

    spec = TRAINERS.get(trainer)
    return spec.loss_learns if spec is not None else True
