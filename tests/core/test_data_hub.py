"""Hub datasets: subset/split/revision options, nothing downloaded without --allow-download, the size shown
before a download, and one line when offline. There is no network here: the download path is exercised
with a local folder standing in for the Hub snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ftwizard.core.data import hub as hubmod
from ftwizard.core.data.errors import DataError
from ftwizard.core.data.hub import HubOptions
from ftwizard.core.data.report import analyze


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def test_not_cached_and_no_download_is_one_line(empty_cache):
    with pytest.raises(DataError, match="not in the local Hugging Face cache and downloading is off: pass "
                                        "--allow-download"):
        analyze("someorg/somedata", hub=HubOptions(subset="en", split="test", revision="v1"))


def test_cli_offline_messages(empty_cache):
    env = {**os.environ}
    for args, needle in ((["someorg/somedata"], "--allow-download"),
                         (["someorg/somedata", "--allow-download", "--subset", "en", "--split", "test",
                           "--revision", "v1"], "cannot reach Hub dataset someorg/somedata (subset en, split test, "
                                                "revision v1)")):
        out = subprocess.run([sys.executable, "-m", "ftwizard", "data", *args], capture_output=True, text=True,
                             env=env, timeout=120)
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert needle in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_download_path_shows_size_first_then_reads_the_split(tmp_path, monkeypatch):
    snap = tmp_path / "snapshot"
    snap.mkdir()
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(15)]
    (snap / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    calls: list[str] = []

    def fake_snapshot(repo_id, repo_type=None, revision=None, local_files_only=False):  # noqa: ANN001, ANN202
        from huggingface_hub.errors import LocalEntryNotFoundError

        calls.append("cache" if local_files_only else f"download {repo_id}@{revision}")
        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        return str(snap)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.setattr(hubmod, "hub_size", lambda repo, rev: (calls.append("size"), 2_500_000)[1])
    sizes: list[int | None] = []
    rep = analyze("org/chat", hub=HubOptions(split="train", revision="main", allow_download=True), on_size=sizes.append)
    assert calls == ["cache", "size", "download org/chat@main"] and sizes == [2_500_000]
    assert rep.usable and rep.rows == 15 and rep.family == "openai"
    with pytest.raises(DataError, match="check --subset and --split"):
        analyze("org/chat", hub=HubOptions(split="nope", allow_download=True))
    assert hubmod.human_size(2_500_000) == "2.4 MB"


def test_options_from_a_trainer_config():
    class Cfg:
        data_subset, data_split, data_revision, data_allow_download = "en", "validation", "abc123", True

    assert HubOptions.from_config(Cfg()) == HubOptions("en", "validation", "abc123", True)
    assert HubOptions.from_config(object()) == HubOptions()  # a config without the fields: defaults
    assert hubmod.looks_like_hub_id("org/name") and not hubmod.looks_like_hub_id("./org/name")
