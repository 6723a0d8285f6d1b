"""Datasets: read (JSONL/JSON/CSV/Parquet/folders/Hub), detect the format, validate with locations,
report (lengths, duplicates, PII, balance), convert to what TRL takes, and split reproducibly."""

from ftwizard.core.data.formats import FAMILIES, detect_family
from ftwizard.core.data.reader import DataError, Record, read_records
from ftwizard.core.data.report import DatasetReport, analyze

__all__ = ["FAMILIES", "DataError", "DatasetReport", "Record", "analyze", "detect_family", "read_records"]
