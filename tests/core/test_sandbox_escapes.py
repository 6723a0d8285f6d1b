"""Generated code must not get out of the sandbox: each escape runs for real inside it and must fail.

Where this machine cannot start a sandbox at all, the escape tests are skipped (with the reason) and the
refusal is what is tested."""

from __future__ import annotations

import ast
import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from ftwizard.core.eval import sandbox
from ftwizard.core.eval.sandbox import CodingProblem, evaluate_code, run_python

ISO = sandbox.isolation()
needs_sandbox = pytest.mark.skipif(not ISO.sandboxed, reason=f"no sandbox on this machine: {ISO.reason}")


def _marked_processes(marker: str) -> list[str]:
    """Host processes whose command line holds `marker` (a /proc scan, as `ps` would)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


@needs_sandbox
def test_isolation_is_bubblewrap_and_named_in_words():
    assert ISO.name == "bubblewrap" and ISO.description == sandbox.SANDBOXED
    assert "no network" in ISO.description and "pid namespace" in ISO.description


@needs_sandbox
def test_a_no_token_in_the_environment_or_in_any_visible_process(monkeypatch):
    token = "hf_fake_" + uuid.uuid4().hex
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv("WANDB_API_KEY", token)
    program = f"""
import os
print("ENV", dict(os.environ))
for pid in [{os.getpid()}, {os.getppid()}] + [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        print("PROC", pid, open(f"/proc/{{pid}}/environ", "rb").read())
    except OSError as exc:
        print("PROC", pid, "unreadable", type(exc).__name__)
"""
    res = run_python(program)
    assert res.ok, res.reason
    assert token not in res.stdout and "HF_TOKEN" not in res.stdout and "WANDB" not in res.stdout
    env = ast.literal_eval(res.stdout.splitlines()[0][4:])  # the program's own environment: four safe values
    assert set(env) - {"PWD"} == {"PATH", "HOME", "TMPDIR", "LANG"} and env["TMPDIR"] == "/tmp"
    # its own pid namespace: the test process is not there (its pid is missing or someone else's)
    pids = {line.split()[1] for line in res.stdout.splitlines() if line.startswith("PROC")}
    assert len(pids) < 10


@needs_sandbox
def test_b_cannot_write_outside_its_folder_nor_read_host_files(tmp_path):
    secret = "SECRET-" + uuid.uuid4().hex
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    (ssh / "id_rsa").write_text(secret)
    outside = tmp_path / "escaped.txt"
    home = str(Path.home())
    program = f"""
import os
for target in [{str(outside)!r}, "/usr/escaped.txt", "/etc/escaped.txt", {home + "/escaped.txt"!r}]:
    try:
        with open(target, "w") as fh:
            fh.write("x")
        print("WROTE", target)
    except OSError as exc:
        print("NOWRITE", target, type(exc).__name__)
for target in [{str(ssh / "id_rsa")!r}, {home + "/.ssh/id_rsa"!r}, "/etc/shadow", "/etc/passwd"]:
    try:
        print("READ", target, open(target).read())
    except OSError as exc:
        print("NOREAD", target, type(exc).__name__)
print("HOME", sorted(os.listdir({home!r})) if os.path.isdir({home!r}) else None)
print("ROOT", sorted(os.listdir("/")))
open("inside.txt", "w").write("fine")  # its own folder is writable
print("OWN", open("inside.txt").read())
"""
    res = run_python(program)
    assert res.ok, res.reason
    assert "WROTE" not in res.stdout and res.stdout.count("NOWRITE") == 4
    assert "\nREAD " not in res.stdout and secret not in res.stdout and res.stdout.count("NOREAD") == 4
    assert not outside.exists() and not Path("/usr/escaped.txt").exists() and not Path(home, "escaped.txt").exists()
    assert "OWN fine" in res.stdout
    # the home folder is not visible: at most the folders on the way to the Python install are there
    line = next(x for x in res.stdout.splitlines() if x.startswith("HOME"))
    listed = ast.literal_eval(line[5:]) or []
    allowed = {Path(p).relative_to(home).parts[0] for p in sandbox._python_dirs() if p.startswith(home + "/")}
    assert set(listed) <= allowed, listed
    root = set(ast.literal_eval(next(x for x in res.stdout.splitlines() if x.startswith("ROOT"))[5:]))
    assert not root & {"home", "sys", "run", "var", "mnt", "media", "opt", "srv", "boot", "work"} - allowed


@needs_sandbox
def test_c_no_network_not_even_to_a_host_listener():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    program = f"""
import socket
for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 53), ("8.8.8.8", 443)]:
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        print("CONNECTED", host, port)
    except OSError as exc:
        print("REFUSED", host, port, type(exc).__name__, exc.errno)
"""
    try:
        res = run_python(program)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody came
    finally:
        listener.close()
    assert res.ok, res.reason
    assert "CONNECTED" not in res.stdout and res.stdout.count("REFUSED") == 3


@needs_sandbox
def test_d_a_fork_bomb_is_capped():
    program = """
import os, time
n = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(5)
            os._exit(0)
        n += 1
except OSError as exc:
    print("CAPPED", n, exc.errno)
else:
    print("FORKED", n)
"""
    start = time.monotonic()
    res = run_python(program, timeout_s=20)
    assert res.ok, res.reason
    assert res.stdout.startswith("CAPPED") and int(res.stdout.split()[1]) < sandbox.MAX_PROCS, res.stdout
    assert time.monotonic() - start < 5  # the sleeping children did not outlive the program


@needs_sandbox
@pytest.mark.parametrize("ends", ["exits", "times out"])
def test_e_a_double_forked_grandchild_dies_with_the_sandbox(ends):
    marker = "ftwizard-escape-" + uuid.uuid4().hex
    program = f"""
import os, sys, time
if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", {marker!r}])
    os._exit(0)
os.wait()
time.sleep(0.5)  # the grandchild has started
print("SPAWNED")
if {ends == "times out"}:
    while True:
        pass
"""
    res = run_python(program, timeout_s=3)
    if ends == "exits":
        assert res.ok and res.stdout.strip() == "SPAWNED", res.reason
    else:
        assert res.reason.startswith("timeout")
    assert _marked_processes(marker) == []


@needs_sandbox
def test_f_normal_code_passes_and_fails_as_before(monkeypatch):
    assert run_python("print(1 + 1)") == sandbox.ExecResult(True, "2\n", "passed")
    assert run_python("assert 1 == 2").reason == "exit 1: AssertionError"
    assert run_python("import sys; sys.exit(3)").reason == "exit 3"
    assert run_python("while True: pass", timeout_s=1).reason == "timeout after 1 s"
    assert "MemoryError" in run_python("x = bytearray(3 << 30)", memory_mb=256).reason
    assert "File too large" in run_python("open('big', 'wb').write(b'x' * (2 << 20))").reason
    assert run_python("import json, math; print(json.dumps(math.pi))").stdout.startswith("3.14")
    # the same score, sandboxed or not: one problem solved in both samples, one never
    probs = [CodingProblem("add", test="assert add(2, 3) == 5"), CodingProblem("hi", reference="print('hi')")]
    answers = {"add": ["def add(a, b):\n    return a + b"] * 2, "hi": ["print('hello')", "```python\nprint('hi')\n```"]}
    res = evaluate_code(probs, lambda p, n: answers[p][:n], n=2, k=(1, 2))
    assert [p["passed"] for p in res.problems] == [2, 1] and res.scores() == {"pass@1": 0.75, "pass@2": 1.0}


@needs_sandbox
def test_the_report_names_the_isolation():
    from ftwizard.train.checks import pass_at_k

    checks = {"pass_at_k": {"baseline": {"pass@1": 0.0}, "tuned": {"pass@1": 0.5}, "problems": 2, "n_samples": 1,
                            "isolation": ISO.description}}
    assert pass_at_k.summary(checks) == ("pass@1 0.00 → 0.50 (2 problems, 1 samples each); isolation: bubblewrap "
                                         "(no network, read-only system, empty environment, pid namespace)")


def test_without_a_sandbox_code_is_refused_unless_the_risk_is_accepted(monkeypatch, tmp_path):
    from ftwizard.train.checks import Options, pass_at_k
    from ftwizard.train.checks._base import Context

    monkeypatch.setenv("FTWIZARD_BWRAP", str(tmp_path / "no-such-bwrap"))
    monkeypatch.setenv("HF_TOKEN", "hf_fake_refusal")
    iso = sandbox.isolation()
    assert not iso.sandboxed and iso.description == "none" and "no-such-bwrap" in iso.reason
    ran = tmp_path / "ran.txt"
    res = run_python(f"open({str(ran)!r}, 'w').write('x')")
    assert not res.ok and res.reason.startswith("refused: no sandbox") and not ran.exists()
    res = run_python("import os; print(sorted(os.environ)); print(1 + 1)", allow_unsandboxed=True)
    assert res.ok and res.stdout.endswith("2\n") and "HF_TOKEN" not in res.stdout  # runs as before, env still empty

    ctx = Context(tmp_path, Options(allow_code_exec=True))
    out = pass_at_k.run(ctx)["pass_at_k"]
    line = pass_at_k.summary({"pass_at_k": out})
    assert line.startswith("skipped: no sandbox for generated code") and "--allow-unsandboxed-code" in line
    assert "\n" not in line
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    accepted = Options(allow_code_exec=True, code_tests=str(empty))
    accepted.allow_unsandboxed_code = True  # type: ignore[attr-defined]  # what --allow-unsandboxed-code sets
    assert pass_at_k.run(Context(tmp_path, accepted))["pass_at_k"]["skipped"].startswith("no code problems")


def test_the_cli_has_the_flag(capsys):
    from ftwizard.cli import main

    with pytest.raises(SystemExit):
        main(["check", "--help"])
    assert "--allow-unsandboxed-code" in capsys.readouterr().out
