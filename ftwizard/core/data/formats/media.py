"""Images, audio and video in a dataset. ftwizard trains text-only models, so a multimodal dataset is refused with
one line instead of training on its text with the media silently left out.

Recognised: media columns (`images`, `videos`, `audios`, as LLaMA-Factory, TRL and most vision-language datasets
name them, with a non-empty value), media content parts (`{"type": "image_url" | "image" | "input_audio" …}`), and
the placeholders LLaMA-Factory puts in the text for them (`<image>`, `<video>`, `<audio>`): those alone are a
warning (the media are gone, the tags are trained on as text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MEDIA_COLUMNS = {"images": "images", "image": "images", "videos": "videos", "video": "videos", "audios": "audio",
                 "audio": "audio"}
MEDIA_PARTS = {"image": "images", "image_url": "images", "input_image": "images", "video": "videos",
               "video_url": "videos", "audio": "audio", "audio_url": "audio", "input_audio": "audio"}
_TAG = re.compile(r"<(image|video|audio)>")


@dataclass
class MediaScan:
    kinds: dict[str, int] = field(default_factory=dict)  # images|videos|audio → rows that carry them
    first: dict[str, str] = field(default_factory=dict)  # kind → where (file:line) it was first seen
    columns: set[str] = field(default_factory=set)
    tag_rows: int = 0  # rows with <image>/<video>/<audio> placeholders
    tag_first: str = ""
    tags: set[str] = field(default_factory=set)  # which of them

    @property
    def multimodal(self) -> bool:
        return bool(self.kinds)

    def refusal(self) -> str:
        kinds = ", ".join(f"{k}: {n:,} rows, e.g. {self.first[k]}" for k, n in self.kinds.items())
        cols = f"remove the {', '.join(sorted(self.columns))} column{'s' if len(self.columns) > 1 else ''}" \
            if self.columns else "remove the media content parts"
        tags = f" and the {'/'.join(sorted(self.tags))} tags" if self.tags else ""
        return (f"this is a multimodal dataset ({kinds}): ftwizard trains text-only models, so the media would be "
                f"silently left out — {cols}{tags} to train on the text alone, or use a vision/audio-language "
                "trainer (LLaMA-Factory, TRL with a VLM)")

    def tag_warning(self) -> str:
        return (f"{self.tag_rows:,} rows contain {'/'.join(sorted(self.tags))} placeholders (e.g. {self.tag_first}) but no "
                "media: they would be trained on as plain text — remove them, or restore the media and use a "
                "vision/audio-language trainer")


def _parts_kinds(v: Any, found: set[str], depth: int = 0) -> None:
    if depth > 6:
        return
    if isinstance(v, list):
        for x in v:
            _parts_kinds(x, found, depth + 1)
    elif isinstance(v, dict):
        t = v.get("type")
        if isinstance(t, str) and t in MEDIA_PARTS:
            found.add(MEDIA_PARTS[t])
        for x in v.values():
            if isinstance(x, list | dict):
                _parts_kinds(x, found, depth + 1)


def _tags(v: Any, found: set[str], depth: int = 0) -> None:
    if isinstance(v, str):
        found.update(f"<{m}>" for m in _TAG.findall(v))
    elif depth <= 6 and isinstance(v, list):
        for x in v:
            _tags(x, found, depth + 1)
    elif depth <= 6 and isinstance(v, dict):
        for x in v.values():
            _tags(x, found, depth + 1)


def scan(records: list[tuple[str, dict[str, Any]]]) -> MediaScan:
    """Scan (where, record) pairs."""
    out = MediaScan()
    for where, rec in records:
        found: set[str] = set()
        for col, kind in MEDIA_COLUMNS.items():
            v = rec.get(col)
            if v not in (None, "", [], {}):
                found.add(kind)
                out.columns.add(col)
        _parts_kinds(rec, found)
        for kind in found:
            out.kinds[kind] = out.kinds.get(kind, 0) + 1
            out.first.setdefault(kind, where)
        tags: set[str] = set()
        _tags(rec, tags)
        if tags:
            out.tags |= tags
            out.tag_rows += 1
            out.tag_first = out.tag_first or where
    return out
