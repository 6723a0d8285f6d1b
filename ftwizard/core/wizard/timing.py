"""The plan's time and cost before launch (core/plan/cost.py and core/plan/timing.py), from the plan and the data
report."""

from __future__ import annotations

from typing import Any

from ftwizard.core.wizard.answers import Answers
from ftwizard.core.wizard.plan_view import PlanView, run_cadence


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
    return Workload(params=float(est.compute_params), trainable=float(est.trainable_params), method=str(v["method"]),
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
    from ftwizard.core.plan.cost import fmt_hours, money, span
    from ftwizard.core.plan.timing import fmt_seconds

    def short(name: str) -> str:
        words = str(name).removeprefix("NVIDIA ").removeprefix("GeForce ").split()
        return " ".join(words[:2] if words and words[0] in ("RTX", "Tesla") else words[:1])

    bits = []
    if timing is not None:
        lo, hi = timing.range_seconds
        where = "this CPU" if timing.device.startswith("this CPU") else short(timing.device)
        bits.append(f"~{fmt_seconds(timing.total_seconds)} on {where} ({span(fmt_seconds(lo), fmt_seconds(hi))})")
    elif c.hours:
        many = f"{c.gpus}× " if c.gpus > 1 else ""
        bits.append(f"{span(fmt_hours(c.hours[0]), fmt_hours(c.hours[1]))} on {many}{short(c.gpu)}")
    rent = [r for r in c.rent if r.fits is not False]
    if rent:
        r = min(rent, key=lambda r: r.cost)
        bits.append(f"rent {short(r.gpu)} {money(r.cost, c.currency)}")
    if c.api:
        a = min(c.api, key=lambda a: a.cost)
        bits.append(f"API {money(a.cost, c.currency)}")
    tokens = f"{c.tokens / 1e6:,.1f}M tokens" if c.tokens >= 1e5 else f"{c.tokens:,.0f} tokens"
    return " · ".join([tokens, *bits])
