"""bertscore: semantic similarity of base and tuned answers to the references (BERTScore F1: greedy cosine
matching of contextual token embeddings, no idf weighting, no baseline rescaling). Runs only when its model is
on this machine (a folder, or a Hub id already in the cache); nothing is downloaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftwizard.core.eval.metrics import bertscore_greedy
from ftwizard.train.checks._base import Context, free

LAYERS = {"roberta-large": 17, "FacebookAI/roberta-large": 17}  # bert-score's default layer for its default model


def local_model(name: str) -> str | None:
    """A local folder for `name`, or None when it is neither a folder nor in the Hub cache."""
    if Path(name).is_dir():
        return name
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - LocalEntryNotFoundError, bad ids, …: not available locally
        return None


def _embed(model: Any, tok: Any, text: str, layer: int | None, torch: Any) -> Any:
    enc = tok(text or " ", return_tensors="pt", truncation=True, max_length=510).to(model.device)
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    hidden = out.hidden_states[layer if layer is not None else -1][0]
    special = set(tok.all_special_ids)
    keep = [i for i, t in enumerate(enc["input_ids"][0].tolist()) if t not in special] or [0]
    h = hidden[keep].float()
    return h / h.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def run(ctx: Context) -> dict[str, Any]:
    name = ctx.options.bertscore_model
    path = local_model(name)
    if path is None:
        return {"bertscore": {"skipped": f"needs {name} locally (download it once, e.g. `hf download {name}`, or "
                                         "pass --bertscore-model FOLDER)"}}
    prompts, refs, answers = ctx.predictions(ctx.options.limit)
    if not prompts:
        return {"bertscore": {"skipped": "the test split has no chat rows with an answer"}}
    from transformers import AutoModel, AutoTokenizer

    torch = ctx.torch
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).to("cuda" if torch.cuda.is_available() else "cpu").eval()
    layer = LAYERS.get(name)
    ref_emb = [_embed(model, tok, r, layer, torch) for r in refs]
    out: dict[str, Any] = {"model": name, "layer": layer if layer is not None else "last", "n": len(refs)}
    for side in ("baseline", "tuned"):
        f1s = []
        for ans, r in zip(answers[side], ref_emb, strict=True):
            sim = (_embed(model, tok, ans, layer, torch) @ r.T).tolist()
            f1s.append(bertscore_greedy(sim)[2])
        out[side] = round(sum(f1s) / len(f1s), 4)
    del model
    free(torch)
    return {"bertscore": out, "baseline": {"bertscore": out["baseline"]}, "tuned": {"bertscore": out["tuned"]}}


def summary(checks: dict[str, Any]) -> str:
    res = checks["bertscore"]
    if "skipped" in res:
        return "skipped: " + res["skipped"]
    return f"BERTScore F1 {res['baseline']:.3f} → {res['tuned']:.3f} ({res['model']}, n={res['n']})"
