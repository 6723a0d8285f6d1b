"""`python -m ftwizard.train.gguf_convert FILE.gguf OUT`: a GGUF file → a bf16 Hugging Face checkpoint in OUT.

Run by `ftwizard.core.plan.gguf.convert` (which caches the result). transformers dequantizes the GGUF weights
on load; the quantization entry is dropped from the config so the folder loads as an ordinary model, with the
GGUF's tokenizer and chat template. Written to OUT.tmp-<pid> and renamed, so a killed conversion leaves no
half folder that looks finished. One progress line per stage on stdout.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from ftwizard.core.plan.gguf import MARKER


def convert(src: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftwizard.train.threads import set_cpu_threads

    set_cpu_threads(torch)
    t0 = time.time()
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"reading {src.name}: the tokenizer and chat template", flush=True)
    tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    print("reading the weights (dequantizing every tensor; a 1B model takes about a minute)", flush=True)
    model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name, dtype=torch.float32)
    # an ordinary checkpoint from here on: no GGUF quantizer, no quantization_config in config.json
    model.hf_quantizer = None  # type: ignore[assignment]
    model.is_quantized = False  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.bfloat16)  # type: ignore[arg-type]
    model.config.dtype = "bfloat16"
    print(f"saving a bf16 checkpoint to {out}", flush=True)
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    st = src.stat()
    (tmp / MARKER).write_text(json.dumps({"source": str(src), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                          "seconds": round(time.time() - t0, 1)}), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"converted in {time.time() - t0:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m ftwizard.train.gguf_convert FILE.gguf OUT", file=sys.stderr)
        return 2
    try:
        convert(Path(args[0]), Path(args[1]))
    except Exception as exc:  # noqa: BLE001 - the parent shows this one line
        print(f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
