"""Hub datasets: which one (subset, split, revision) and whether downloading is allowed.

Nothing is downloaded unless `allow_download` is set; then the size is reported first when the Hub API
says it. Without it, only a copy already in the local Hugging Face cache is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ftwizard.core.data.errors import DataError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class HubOptions:
    """Which Hub dataset to read. The trainer config carries these as data_subset, data_split,
    data_revision and data_allow_download."""

    subset: str | None = None
    split: str = "train"
    revision: str | None = None
    allow_download: bool = False

    @classmethod
    def from_config(cls, cfg: Any) -> HubOptions:
        """From any object with data_subset / data_split / data_revision / data_allow_download attributes."""
        return cls(subset=getattr(cfg, "data_subset", None) or None,
                   split=getattr(cfg, "data_split", None) or "train",
                   revision=getattr(cfg, "data_revision", None) or None,
                   allow_download=bool(getattr(cfg, "data_allow_download", False)))

    def describe(self, repo_id: str) -> str:
        extra = [f"subset {self.subset}"] if self.subset else []
        extra += [f"split {self.split}"] + ([f"revision {self.revision}"] if self.revision else [])
        return f"{repo_id} ({', '.join(extra)})"


class HubDataError(DataError):
    """A Hub dataset cannot be read; the message says what to do."""


def looks_like_hub_id(source: str) -> bool:
    return bool(_HUB_ID.match(source)) and not source.startswith((".", "/", "~"))


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def hub_size(repo_id: str, revision: str | None) -> int | None:
    """Total size of the dataset repository's files in bytes, when the Hub API tells it (needs network)."""
    from huggingface_hub import HfApi

    info = HfApi().dataset_info(repo_id, revision=revision, files_metadata=True)
    sizes = [s.size for s in (info.siblings or []) if isinstance(getattr(s, "size", None), int)]
    return sum(x for x in sizes if x is not None) if sizes else None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def local_snapshot(repo_id: str, opts: HubOptions, on_size: Callable[[int | None], None] | None = None) -> str:
    """The local folder of the dataset: from the cache, or downloaded when allowed (size reported first).
    Raises HubDataError with one line saying what to do."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(repo_id, repo_type="dataset", revision=opts.revision, local_files_only=True)
    except LocalEntryNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001 - a broken cache entry: say it in one line
        raise HubDataError(f"{opts.describe(repo_id)}: the cached copy cannot be read ({_one_line(exc)})") from exc
    if not opts.allow_download:
        raise HubDataError(f"{opts.describe(repo_id)} is not in the local Hugging Face cache and downloading is off: "
                           "pass --allow-download to fetch it (its size is shown first)")
    try:
        size = hub_size(repo_id, opts.revision)
    except Exception as exc:  # noqa: BLE001 - offline, not found, gated: one line
        raise HubDataError(f"cannot reach Hub dataset {opts.describe(repo_id)}: {_one_line(exc)} — check the name, "
                           "your network, and for gated datasets `huggingface-cli login`") from exc
    if on_size is not None:
        on_size(size)
    try:
        return snapshot_download(repo_id, repo_type="dataset", revision=opts.revision)
    except Exception as exc:  # noqa: BLE001
        raise HubDataError(f"downloading {opts.describe(repo_id)} failed: {_one_line(exc)}") from exc


def load_rows(repo_id: str, opts: HubOptions,
              on_size: Callable[[int | None], None] | None = None) -> list[dict[str, Any]]:
    """The rows of one split of a Hub dataset (a lazy `datasets` import, from a local folder only)."""
    folder = local_snapshot(repo_id, opts, on_size)
    try:
        import datasets
    except ImportError as exc:
        raise HubDataError("reading a Hub dataset needs the `datasets` package (pip install datasets)") from exc
    try:
        ds = datasets.load_dataset(folder, name=opts.subset, split=opts.split)
    except Exception as exc:  # noqa: BLE001 - unknown subset/split etc.
        raise HubDataError(f"cannot load {opts.describe(repo_id)}: {_one_line(exc)} — check --subset and --split"
                           ) from exc
    return [dict(r) for r in ds]
