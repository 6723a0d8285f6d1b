"""Read records from local files, folders or Hub datasets, keeping where each came from.

Tolerates what real files have: a UTF-8 BOM, CRLF line ends, blank lines, pretty-printed JSON arrays,
a JSON object wrapping the list (`{"data": [...]}`). Problems are collected, never raised mid-file,
so one bad line does not hide the others.

Plain text (.txt) is split into documents by one rule, stated in the report's notes:
- lines of 200+ characters (median of the non-empty lines) → one document per line: a one-document-per-line
  corpus (LLaMA-Factory's wiki_demo.txt; what `datasets`' text loader does);
- else, with blank lines in the file → one document per blank-line separated paragraph (hard-wrapped prose);
- else (short lines, no blank lines) → one document per line, with a note saying how to mark documents.

A LLaMA-Factory `dataset_info.json` (or a folder holding one) is read through one of its entries (`dataset=`,
or `PATH#NAME`): see `formats/llamafactory.py`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftwizard.core.data.errors import DataError

if TYPE_CHECKING:
    from ftwizard.core.data.hub import HubOptions

SUPPORTED = (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".txt", ".ndjson")


__all__ = ["SUPPORTED", "DataError", "DataProblem", "ReadResult", "Record", "read_records"]


@dataclass
class Record:
    file: str
    loc: int  # 1-based line (JSONL, CSV) or record index (JSON array, Parquet)
    data: dict[str, Any]
    loc_kind: str = "line"  # line | record | row

    @property
    def where(self) -> str:
        return f"{self.file}:{self.loc}" if self.loc_kind == "line" else f"{self.file} {self.loc_kind} {self.loc}"


@dataclass
class DataProblem:
    file: str
    loc: int | None
    message: str
    loc_kind: str = "line"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"file": self.file, "line": self.loc, "message": self.message}
        if self.loc_kind != "line":
            d["location"] = f"{self.loc_kind} {self.loc}"
        return d

    def __str__(self) -> str:
        where = self.file if self.loc is None else (
            f"{self.file}:{self.loc}" if self.loc_kind == "line" else f"{self.file} {self.loc_kind} {self.loc}")
        return f"{where}: {self.message}"


@dataclass
class ReadResult:
    records: list[Record] = field(default_factory=list)
    problems: list[DataProblem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # read, but with a guess the user should know about
    notes: list[str] = field(default_factory=list)  # how the data was read (text split rule, dataset_info entry)


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


def _legacy(raw: bytes, name: str, res: ReadResult) -> str | None:
    """Text that is not UTF-8 and has no UTF-8 characters at all (Excel's CSV export on Windows): read as
    Windows-1252, with a warning naming the file. None when that guess is not safe (a UTF-8 file with a bad byte)."""
    if _UTF8_MULTIBYTE.search(raw):
        return None
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        return None
    res.warnings.append(f"{name} is not UTF-8: read as Windows-1252 (Excel's encoding); check that accented "
                        "letters look right, or save the file as UTF-8")
    return text


def _decode(raw: bytes, name: str, res: ReadResult, legacy_ok: bool = False) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = _legacy(raw, name, res) if legacy_ok else None
        if text is not None:
            return text
        line = raw[: exc.start].count(b"\n") + 1
        res.problems.append(DataProblem(name, line, f"invalid UTF-8 (byte 0x{raw[exc.start]:02x}); "
                                                "save the file as UTF-8"))
        return raw.decode("utf-8", errors="replace")


def _binary(raw: bytes, path: Path, res: ReadResult) -> bool:
    """Report a binary file once (rather than every line as invalid UTF-8)."""
    head = raw[:8192]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        res.problems.append(DataProblem(str(path), None, "this is a binary file, not text: export the data as "
                                                     f"{path.suffix or 'JSONL'} text (UTF-8)"))
        return True
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        res.problems.append(DataProblem(str(path), None, "the file is UTF-16; save it as UTF-8"))
        return True
    return False


def _read_nonempty_text(path: Path, res: ReadResult, legacy_ok: bool = False) -> str | None:
    """The file's text (BOM stripped, bad bytes reported), or None after reporting an empty file.
    `legacy_ok`: a file with no UTF-8 in it may be Windows-1252 (CSV and plain text; JSON is UTF-8 by its spec)."""
    raw = path.read_bytes()
    if _binary(raw, path, res):
        return None
    text = _decode(raw, str(path), res, legacy_ok)
    if not text.strip():
        res.problems.append(DataProblem(str(path), None, "the file is empty"))
        return None
    return text


def _read_jsonl(path: Path, res: ReadResult) -> None:
    name = str(path)
    raw = path.read_bytes()
    if _binary(raw, path, res):
        return
    # decode line by line so an invalid byte is pinned to its line and the rest still reads
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = raw.split(b"\n")
    if not raw.strip():
        res.problems.append(DataProblem(name, None, "the file is empty"))
        return
    for i, bline in enumerate(lines, start=1):
        bline = bline.rstrip(b"\r")
        if not bline.strip():
            continue
        try:
            line = bline.decode("utf-8")
        except UnicodeDecodeError as exc:
            res.problems.append(DataProblem(name, i, f"invalid UTF-8 (byte 0x{bline[exc.start]:02x} at column "
                                                 f"{exc.start + 1}); save the file as UTF-8"))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            res.problems.append(DataProblem(name, i, _json_error(exc)))
            continue
        except RecursionError:
            res.problems.append(DataProblem(name, i, TOO_DEEP))
            continue
        if not isinstance(obj, dict):
            res.problems.append(DataProblem(name, i, f"expected a JSON object, got {type(obj).__name__}"))
            continue
        res.records.append(Record(name, i, obj))


def _read_json(path: Path, res: ReadResult) -> None:
    name = str(path)
    text = _read_nonempty_text(path, res)
    if text is None:
        return
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        # maybe it is really JSONL with a .json name
        if text.lstrip().startswith("{") and "\n{" in text:
            _read_jsonl(path, res)
            return
        res.problems.append(DataProblem(name, exc.lineno, _json_error(exc)))
        return
    except RecursionError:
        res.problems.append(DataProblem(name, None, TOO_DEEP))
        return
    if isinstance(obj, dict):
        obj = _rows_of_object(obj)
    if not isinstance(obj, list):
        res.problems.append(DataProblem(name, None, "expected a JSON array of objects"))
        return
    if not obj:
        res.problems.append(DataProblem(name, None, "the JSON array is empty"))
    for i, item in enumerate(obj, start=1):
        if not isinstance(item, dict):
            res.problems.append(DataProblem(name, i, f"expected an object, got {type(item).__name__}", "record"))
            continue
        res.records.append(Record(name, i, item, "record"))


def _json_error(exc: json.JSONDecodeError) -> str:
    """json's message with its column ("Unterminated string starting at" already ends with "at")."""
    return f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"


_TURN_KEYS = ("role", "from")  # a list of these is one conversation, not a list of rows


def _rows_of_object(obj: dict[str, Any]) -> list[Any]:
    """A JSON file holding one object: rows wrapped under one key (`{"data": [{...}, ...]}`) → those rows; one
    conversation (`{"messages": [{"role": ...}, ...]}`, axolotl's `{"conversations": [{"from": ...}]}`) or any other
    single example → a file of one row."""
    lists = [v for v in obj.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
    if len(lists) == 1 and not any(k in lists[0][0] for k in _TURN_KEYS):
        return lists[0]
    return [obj]


def _delimiter(path: Path, text: str) -> str:
    """`\t` for .tsv; else what the header line is split by: `,`, `;` (Excel in many locales), tab or `|`."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    header = text.lstrip("\r\n").split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:  # one column, or no clear separator: count them
        counts = {d: header.count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _read_csv(path: Path, res: ReadResult) -> None:
    name = str(path)
    text = _read_nonempty_text(path, res, legacy_ok=True)
    if text is None:
        return
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=_delimiter(path, text))
    for row in reader:
        line = reader.line_num  # physical line where the row ended
        if None in row:
            res.problems.append(DataProblem(name, line, "more values than column headers"))
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        res.records.append(Record(name, line, {k.strip(): v for k, v in row.items() if k is not None}))


def _read_parquet(path: Path, res: ReadResult) -> None:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        res.problems.append(DataProblem(str(path), None, "reading Parquet needs pyarrow (pip install pyarrow)"))
        return
    try:
        table = pq.read_table(path)
    except Exception as exc:  # corrupt file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        res.problems.append(DataProblem(str(path), None, f"cannot read Parquet ({first}): re-export the file"))
        return
    for i, row in enumerate(table.to_pylist(), start=1):
        res.records.append(Record(str(path), i, row, "row"))


def _read_text(path: Path, res: ReadResult) -> None:
    name = str(path)
    text = _read_nonempty_text(path, res, legacy_ok=True)
    if text is None:
        return
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    lengths = sorted(len(x) for x in lines if x.strip())
    long_lines = bool(lengths) and lengths[len(lengths) // 2] >= LONG_LINE
    if not long_lines and re.search(r"\n[ \t]*\n", text.strip()):
        line, n = 1, 0  # paragraphs separated by blank lines are documents
        for block in re.split(r"\n(?=[ \t]*\n)", text):
            if block.strip():
                lead = len(block) - len(block.lstrip("\n \t"))
                res.records.append(Record(name, line + block[:lead].count("\n"), {"text": block.strip()}))
                n += 1
            line += block.count("\n") + 1
        res.notes.append(f"{name}: {n:,} documents, one per paragraph (blank lines separate them)")
        return
    n = 0
    for i, x in enumerate(lines, start=1):
        if x.strip():
            res.records.append(Record(name, i, {"text": x.strip()}))
            n += 1
    how = ("its lines are long: each is a document" if long_lines else
           "short lines and no blank lines; if it is wrapped prose, separate the documents with blank lines")
    res.notes.append(f"{name}: {n:,} documents, one per line ({how})")


LONG_LINE = 200  # median line length (characters) from which each line of a .txt file is a document

TOO_DEEP = ("JSON nested too deeply to read (hundreds of levels of [ or {); a training row needs only a few: "
            "flatten it or remove the row")


def _unreadable(path: Path, exc: OSError) -> DataProblem:
    why = "permission denied" if isinstance(exc, PermissionError) else (
        "it is a folder" if isinstance(exc, IsADirectoryError) else (exc.strerror or type(exc).__name__).lower())
    return DataProblem(str(path), None, f"cannot read the file ({why}): check it exists and is readable "
                                    f"(e.g. chmod u+r), or move it out of the dataset")


_READERS = {".jsonl": _read_jsonl, ".ndjson": _read_jsonl, ".json": _read_json, ".csv": _read_csv, ".tsv": _read_csv,
            ".parquet": _read_parquet, ".txt": _read_text}


class DatasetChoiceError(DataError):
    """A LLaMA-Factory dataset_info.json was given without saying which of its datasets to read."""

    def __init__(self, message: str, names: list[str]) -> None:
        super().__init__(message)
        self.names = names


def _split_ref(source: str | Path) -> tuple[str, str | None]:
    """`data/dataset_info.json#identity` → (the path, the dataset name); other sources are returned as they are."""
    source = str(source)
    if "#" in source and not Path(source).expanduser().exists():
        base, _, name = source.rpartition("#")
        if name and Path(base).expanduser().exists():
            return base, name
    return source, None


def read_records(source: str, split: str = "train", allow_download: bool = False,
                 hub: HubOptions | None = None, on_size: Callable[[int | None], None] | None = None,
                 dataset: str | None = None) -> ReadResult:
    """Read a file, a folder of files, or a Hub dataset id (`org/name`; `hub` picks subset/split/revision,
    else `split` and `allow_download` are used). A file that cannot be read is reported and the rest of a
    folder is still read. `dataset`: the entry of a LLaMA-Factory dataset_info.json to read (also written
    `PATH#NAME`)."""
    from ftwizard.core.data.formats.llamafactory import INFO_NAME

    source, ref = _split_ref(source)
    dataset = dataset or ref
    res = ReadResult()
    path = Path(source).expanduser()
    info = path / INFO_NAME if path.is_dir() and (path / INFO_NAME).is_file() else (
        path if path.is_file() and (path.name == INFO_NAME or dataset) else None)
    if info is not None:
        return _read_info(info, dataset, allow_download, hub, on_size)
    if dataset:
        raise DataError(f"--dataset {dataset}: {source} is not a LLaMA-Factory {INFO_NAME} (nor a folder holding one)")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED and p.is_file())
        if not files:
            raise DataError(f"{path} has no {', '.join(SUPPORTED)} files")
    elif path.is_file():
        if path.suffix.lower() not in _READERS:
            raise DataError(f"{path}: unsupported file type '{path.suffix}' (use {', '.join(SUPPORTED)})")
        files = [path]
    else:
        from ftwizard.core.data.hub import HubOptions, looks_like_hub_id

        if path.exists() or not looks_like_hub_id(source):
            raise DataError(f"{source}: no such file or folder")
        return _read_hub(source, hub or HubOptions(split=split, allow_download=allow_download), on_size)
    for f in files:
        res.files.append(str(f))
        try:
            _READERS[f.suffix.lower()](f, res)
        except OSError as exc:
            res.problems.append(_unreadable(f, exc))
    return res


def _read_hub(repo_id: str, opts: HubOptions, on_size: Callable[[int | None], None] | None) -> ReadResult:
    from ftwizard.core.data.hub import load_rows

    res = ReadResult(files=[repo_id])
    for i, row in enumerate(load_rows(repo_id, opts, on_size), start=1):
        res.records.append(Record(repo_id, i, row, "row"))
    return res


def _read_info(path: Path, dataset: str | None, allow_download: bool, hub: HubOptions | None,
               on_size: Callable[[int | None], None] | None) -> ReadResult:
    """One entry of a LLaMA-Factory dataset_info.json, its rows converted to our families (formats/llamafactory.py),
    each keeping the file and line it came from."""
    from ftwizard.core.data.formats import llamafactory as lf

    try:
        info = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read it as a LLaMA-Factory dataset list ({exc})") from None
    if not lf.looks_like_info(info):
        raise DataError(f"{path} is not a LLaMA-Factory dataset list (an object of entries with file_name or "
                        "hf_hub_url)" + (": leave out --dataset to read it as data" if dataset else ""))
    if not dataset or dataset not in info:
        head = (f"{path} has no dataset '{dataset}'" if dataset else
                f"{path} lists {len(info)} LLaMA-Factory datasets: pick one with --dataset NAME")
        raise DatasetChoiceError(f"{head} ({lf.choices(info, path.parent)})", list(info))
    try:
        entry = lf.parse_entry(dataset, info[dataset])
    except lf.EntryError as exc:
        raise DataError(f"{path}: {exc}") from None
    if entry.file_name:
        target = path.parent / entry.file_name
        if not target.exists():
            raise DataError(f"{path}: dataset '{dataset}' reads {entry.file_name}, which is not in {path.parent}")
        sub = read_records(str(target))
    else:
        from ftwizard.core.data.hub import HubOptions

        opts = HubOptions(subset=entry.subset, split=entry.split, revision=hub.revision if hub else None,
                          allow_download=allow_download or bool(hub and hub.allow_download))
        sub = _read_hub(str(entry.hub_id), opts, on_size)
    records = sub.records[:entry.num_samples] if entry.num_samples else sub.records
    res = ReadResult(problems=sub.problems, files=sub.files, warnings=sub.warnings, notes=sub.notes)
    res.records = [Record(r.file, r.loc, lf.convert_row(r.data, entry), r.loc_kind) for r in records]
    cols = ", ".join(f"{k}={v}" for k, v in entry.columns.items() if v)
    res.notes.append(f"LLaMA-Factory dataset '{dataset}' ({path}): {entry.formatting}"
                     f"{', ranking' if entry.ranking else ''}, columns {cols}"
                     + (f", {entry.num_samples:,} rows (num_samples)" if entry.num_samples else ""))
    extra = lf.unmapped([r.data for r in records], entry)
    if extra:
        res.warnings.append(f"the rows' field(s) {', '.join(extra)} are not in the '{dataset}' entry's columns, so "
                            "they are left out (as LLaMA-Factory does): add them to its columns to use them")
    return res
