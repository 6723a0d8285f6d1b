"""Run generated code for pass@k: only when the user turned it on, never in the caller's process.

Each program runs in a fresh `python -I` subprocess, in an empty temporary directory that is deleted after,
with a wall-clock time limit, CPU-time/memory/file-size/process limits set by `resource.setrlimit` inside the
child before the program starts, and an environment holding only PATH (no tokens, no HOME). This limits
accidents (an infinite loop, a memory bomb, writing files around); it is not a security boundary against
hostile code — do not turn code execution on for models or data you do not trust.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ftwizard.core.eval.metrics import extract_code, pass_at_k

# Runs in the child: set the limits, then run the program as __main__.
_PRELUDE = """
import resource, runpy, sys
mem, cpu = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
try:
    resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))
except (ValueError, OSError):
    pass
sys.argv = [sys.argv[3]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@dataclass(frozen=True)
class ExecResult:
    ok: bool  # exit status 0 within the limits
    stdout: str
    reason: str  # "passed", "timeout", "exit 1: AssertionError …"


def run_python(program: str, timeout_s: float = 10.0, memory_mb: int = 512) -> ExecResult:
    """Run `program` under the limits above; never raises for anything the program does."""
    if sys.platform == "win32":  # pragma: no cover - resource is POSIX only
        return ExecResult(False, "", "code execution needs Linux or macOS (resource limits)")
    with tempfile.TemporaryDirectory(prefix="ftwizard-exec-") as tmp:
        path = os.path.join(tmp, "program.py")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(program)
        cmd = [sys.executable, "-I", "-c", _PRELUDE, str(memory_mb << 20), str(max(1, int(timeout_s))), path]
        try:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout_s,
                                  env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return ExecResult(False, "", f"timeout after {timeout_s:g} s")
    if proc.returncode == 0:
        return ExecResult(True, proc.stdout, "passed")
    last = (proc.stderr.strip().splitlines() or [""])[-1][:200]
    return ExecResult(False, proc.stdout, f"exit {proc.returncode}: {last}".rstrip(": "))


@dataclass(frozen=True)
class Problem:
    """A code task: the prompt, and either a test (asserts appended to the answer) or a reference program
    whose output the answer must reproduce."""

    prompt: Any  # text, or chat messages — whatever the generator takes
    test: str | None = None
    reference: str | None = None
    id: str = ""


@dataclass
class CodeEval:
    k: list[int]
    n: int
    problems: list[dict[str, Any]] = field(default_factory=list)

    def scores(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for k in self.k:
            if k <= self.n:
                vals = [pass_at_k(self.n, p["passed"], k) for p in self.problems]
                out[f"pass@{k}"] = round(sum(vals) / len(vals), 4) if vals else 0.0
        return out


def evaluate_code(problems: Sequence[Problem], generate: Callable[[Any, int], list[str]], n: int,
                  k: Sequence[int] = (1,), execute: Callable[[str], ExecResult] = run_python) -> CodeEval:
    """pass@k over `problems`: `generate(prompt, n)` gives n answers; each is run with the problem's test (or
    compared with the reference program's output). The caller must have the user's consent to execute."""
    res = CodeEval(k=list(k), n=n)
    for i, prob in enumerate(problems):
        answers = generate(prob.prompt, n)
        want = execute(prob.reference) if prob.test is None and prob.reference is not None else None
        outcomes: list[str] = []
        for ans in answers:
            code = extract_code(ans)
            if prob.test is not None:
                r = execute(code + "\n\n" + prob.test + "\n")
                outcomes.append(r.reason)
            elif want is not None and want.ok:
                r = execute(code)
                same = r.ok and r.stdout.strip() == want.stdout.strip()
                outcomes.append("passed" if same else (r.reason if not r.ok else "different output"))
            else:
                outcomes.append("no test and no runnable reference")
        res.problems.append({"id": prob.id or str(i), "passed": outcomes.count("passed"), "outcomes": outcomes[:5]})
    return res
