"""GPU probe: real NVML (nvidia-ml-py) by default, a fake backend from JSON/YAML for tests and demos.

No driver, no GPU and NVML errors are normal outcomes: the probe returns no GPUs and a plain reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

GIB = 1024**3


@dataclass(frozen=True)
class GPU:
    index: int
    name: str
    total_bytes: int
    free_bytes: int
    used_bytes: int
    compute_capability: tuple[int, int] | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    mig_mode: bool | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    temperature_c: int | None = None
    utilization_pct: int | None = None

    @property
    def total_gib(self) -> float:
        return self.total_bytes / GIB

    @property
    def free_gib(self) -> float:
        return self.free_bytes / GIB

    @property
    def bf16(self) -> bool:
        """bf16 tensor-core math needs Ampere (compute capability 8.0) or newer."""
        return self.compute_capability is not None and self.compute_capability >= (8, 0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["compute_capability"] = (
            f"{self.compute_capability[0]}.{self.compute_capability[1]}" if self.compute_capability else None
        )
        d["total_gib"] = round(self.total_gib, 2)
        d["free_gib"] = round(self.free_gib, 2)
        d["used_gib"] = round(self.used_bytes / GIB, 2)
        d["bf16"] = self.bf16
        return d


@dataclass(frozen=True)
class ProbeResult:
    gpus: list[GPU] = field(default_factory=list)
    backend: str = "nvml"
    reason: str | None = None  # why there are no GPUs, in plain words

    @property
    def count(self) -> int:
        return len(self.gpus)

    @property
    def min_total_gib(self) -> float:
        return min((g.total_gib for g in self.gpus), default=0.0)

    @property
    def bf16(self) -> bool:
        return bool(self.gpus) and all(g.bf16 for g in self.gpus)

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "count": self.count,
            "gpus": [g.to_dict() for g in self.gpus],
            "reason": self.reason,
        }


class GpuProbe(Protocol):
    def probe(self) -> ProbeResult: ...


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlProbe:
    """Reads the local NVIDIA GPUs through NVML. Every optional field is best effort."""

    def __init__(self, nvml: Any = None) -> None:
        self._nvml = nvml

    def probe(self) -> ProbeResult:
        nv: Any = self._nvml
        try:
            if nv is None:
                import pynvml  # nvidia-ml-py

                nv = pynvml
        except ImportError:
            return ProbeResult(reason="nvidia-ml-py is not installed, so GPUs cannot be read.")
        try:
            nv.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, …
            return ProbeResult(reason=_no_driver_reason(exc))
        try:
            count = nv.nvmlDeviceGetCount()
            driver = _try(lambda: _s(nv.nvmlSystemGetDriverVersion()))
            cuda = _try(lambda: _cuda_version(nv.nvmlSystemGetCudaDriverVersion_v2()))
            gpus = [self._one(nv, i, driver, cuda) for i in range(count)]
        except Exception as exc:
            return ProbeResult(reason=f"NVML answered with an error while reading the GPUs: {exc}")
        finally:
            _try(nv.nvmlShutdown)
        if not gpus:
            return ProbeResult(reason="The NVIDIA driver is loaded but reports no GPUs.")
        return ProbeResult(gpus=gpus)

    @staticmethod
    def _one(nv: Any, i: int, driver: str | None, cuda: str | None) -> GPU:
        h = nv.nvmlDeviceGetHandleByIndex(i)
        mem = nv.nvmlDeviceGetMemoryInfo(h)
        cc = _try(lambda: tuple(nv.nvmlDeviceGetCudaComputeCapability(h)))
        mig = _try(lambda: nv.nvmlDeviceGetMigMode(h)[0] == 1)
        power = _try(lambda: nv.nvmlDeviceGetPowerUsage(h) / 1000.0)
        limit = _try(lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0)
        temp = _try(lambda: int(nv.nvmlDeviceGetTemperature(h, 0)))  # NVML_TEMPERATURE_GPU
        util = _try(lambda: int(nv.nvmlDeviceGetUtilizationRates(h).gpu))
        return GPU(
            index=i, name=_s(nv.nvmlDeviceGetName(h)), total_bytes=int(mem.total),
            free_bytes=int(mem.free), used_bytes=int(mem.used),
            compute_capability=(int(cc[0]), int(cc[1])) if cc else None,
            driver_version=driver, cuda_driver_version=cuda, mig_mode=mig,
            power_w=power, power_limit_w=limit, temperature_c=temp, utilization_pct=util,
        )


def _cuda_version(v: int) -> str:
    return f"{v // 1000}.{(v % 1000) // 10}"


def _try(fn: Any) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _no_driver_reason(exc: Exception) -> str:
    name = type(exc).__name__
    if "LibraryNotFound" in name:
        return "No NVIDIA driver was found on this machine (libnvidia-ml is missing), so there is no GPU to use."
    if "DriverNotLoaded" in name:
        return "The NVIDIA driver is installed but not loaded; no GPU is available right now."
    if "NoPermission" in name:
        return "This user may not read the NVIDIA GPUs (permission denied)."
    return f"NVML could not start ({name}: {exc}); no GPU can be used."


# ---- fake backend ----------------------------------------------------------------------------------

# Known cards: name (as NVML reports it) → (total GiB, compute capability). A card sold with two memory sizes is
# listed at the size people fine-tune on; "RTX 4060 Ti 8GB" (a size in the name) overrides it.
KNOWN_GPUS: dict[str, tuple[float, tuple[int, int]]] = {
    "NVIDIA GeForce RTX 2080 Ti": (11.0, (7, 5)),
    "NVIDIA GeForce RTX 3060": (12.0, (8, 6)),
    "NVIDIA GeForce RTX 3070": (8.0, (8, 6)),
    "NVIDIA GeForce RTX 3080": (10.0, (8, 6)),
    "NVIDIA GeForce RTX 3090": (24.0, (8, 6)),
    "NVIDIA GeForce RTX 3090 Ti": (24.0, (8, 6)),
    "NVIDIA GeForce RTX 4060": (8.0, (8, 9)),
    "NVIDIA GeForce RTX 4060 Ti": (16.0, (8, 9)),
    "NVIDIA GeForce RTX 4070": (12.0, (8, 9)),
    "NVIDIA GeForce RTX 4070 SUPER": (12.0, (8, 9)),
    "NVIDIA GeForce RTX 4070 Ti": (12.0, (8, 9)),
    "NVIDIA GeForce RTX 4070 Ti SUPER": (16.0, (8, 9)),
    "NVIDIA GeForce RTX 4080": (16.0, (8, 9)),
    "NVIDIA GeForce RTX 4080 SUPER": (16.0, (8, 9)),
    "NVIDIA GeForce RTX 4090": (24.0, (8, 9)),
    "NVIDIA GeForce RTX 5060 Ti": (16.0, (12, 0)),
    "NVIDIA GeForce RTX 5070 Ti": (16.0, (12, 0)),
    "NVIDIA GeForce RTX 5080": (16.0, (12, 0)),
    "NVIDIA GeForce RTX 5090": (32.0, (12, 0)),
    "NVIDIA RTX A4000": (16.0, (8, 6)),
    "NVIDIA RTX A5000": (24.0, (8, 6)),
    "NVIDIA RTX A6000": (48.0, (8, 6)),
    "NVIDIA RTX 6000 Ada Generation": (48.0, (8, 9)),
    "NVIDIA L4": (22.5, (8, 9)),
    "NVIDIA A10": (22.5, (8, 6)),
    "NVIDIA A10G": (22.5, (8, 6)),
    "NVIDIA A40": (45.0, (8, 6)),
    "NVIDIA L40": (45.0, (8, 9)),
    "NVIDIA L40S": (45.0, (8, 9)),
    "Tesla T4": (15.0, (7, 5)),
    "Tesla V100-SXM2-16GB": (16.0, (7, 0)),
    "Tesla V100-SXM2-32GB": (32.0, (7, 0)),
    "NVIDIA A100-SXM4-40GB": (40.0, (8, 0)),
    "NVIDIA A100-SXM4-80GB": (80.0, (8, 0)),
    "NVIDIA A100 80GB PCIe": (80.0, (8, 0)),
    "NVIDIA H100 80GB HBM3": (79.6, (9, 0)),
    "NVIDIA H100 PCIe": (79.6, (9, 0)),
    "NVIDIA H100 NVL": (93.6, (9, 0)),
    "NVIDIA H200": (140.0, (9, 0)),
    "NVIDIA B200": (179.0, (10, 0)),
}
_PLAIN = {"nvidia", "geforce", "tesla", "rtx", "sxm2", "sxm4", "hbm3", "pcie", "generation"}
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:gb|gib|g)$", re.IGNORECASE)


def gpu_from_name(name: str, index: int = 0) -> GPU:
    """A fake GPU for 'plan for this GPU': a known card matched by its words (e.g. '4090', 'A100-80', '4070 ti
    super'; the card with the fewest extra words wins), a size in the name sets its memory ('RTX 4060 Ti 8GB'), and
    a card not in the table is accepted with its size ('MI300X 192GB'; compute capability 8.0 is assumed)."""
    words = [t for t in re.split(r"[^a-z0-9.]+", name.lower()) if t]
    sizes = [float(m.group(1)) for t in words if (m := _MEMORY.match(t))]
    size = sizes[-1] if sizes else None
    if size is None:  # "16 GB": the number and the unit as two words
        for a, b in zip(words, words[1:], strict=False):
            if b in ("gb", "gib", "g") and re.fullmatch(r"\d+(?:\.\d+)?", a):
                size = float(a)
    tokens = [t for t in re.split(r"[^a-z0-9]+", name.lower())
              if t and not _MEMORY.match(t) and t not in ("gb", "gib") and not (size and t == f"{size:g}")]
    found = [full for full in KNOWN_GPUS if tokens and all(t in _words(full) for t in tokens)]
    if not found:  # a word inside a name ('a100' in 'A100-SXM4-80GB', '80' in it too)
        found = [full for full in KNOWN_GPUS if tokens and all(t in full.lower() for t in tokens)]
    if found:
        # the card with the fewest words beyond those asked wins ('4070' is the RTX 4070, not the 4070 Ti), the
        # vendor, form factor and size not counted; ties go to the first in the table ('H100' is the SXM card)
        full = min(found, key=lambda f: (size is not None and abs(KNOWN_GPUS[f][0] - size) > 0.6,
                                         sum(w not in tokens and w not in _PLAIN and not w.endswith("gb")
                                             for w in _words(f)), list(KNOWN_GPUS).index(f)))
        gib, cc = KNOWN_GPUS[full]
        if size is not None and abs(size - gib) > 0.6:
            gib = size
        total = int(gib * GIB)
        return GPU(index=index, name=full, total_bytes=total, free_bytes=total, used_bytes=0, compute_capability=cc)
    if size is not None and 1 <= size <= 4096:
        label = " ".join(w for w in name.split() if not _MEMORY.match(w.lower())).strip() or "GPU"
        total = int(size * GIB)
        return GPU(index=index, name=f"{label} ({size:g} GiB)", total_bytes=total, free_bytes=total, used_bytes=0,
                   compute_capability=(8, 0))
    raise ValueError(f"unknown GPU '{name}': give its memory to plan for it anyway ('{name} 24GB'), or a known "
                     f"card: {', '.join(short_gpu_names())}")


def short_gpu_names() -> list[str]:
    """The known cards as a person types them: 'RTX 4090', 'A100-SXM4-80GB', 'T4'."""
    return [re.sub(r"^(NVIDIA |Tesla )?(GeForce )?", "", full) for full in KNOWN_GPUS]


def _words(full: str) -> list[str]:
    """A card's name as words: 'NVIDIA A100-SXM4-80GB' → nvidia, a100, sxm4, 80gb."""
    return [t for t in re.split(r"[^a-z0-9]+", full.lower()) if t]


class FakeProbe:
    """GPUs from a description: `{"gpus": [{"name": …, "total_gib": …, "count": 2, …}]}` or `{"reason": …}`."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    @classmethod
    def from_file(cls, path: str | Path) -> FakeProbe:
        text = Path(path).read_text(encoding="utf-8")
        if str(path).endswith((".yaml", ".yml")):
            from ftwizard.core.yamlsafe import load_yaml

            return cls(load_yaml(text) or {})
        return cls(json.loads(text))

    @classmethod
    def of(cls, name: str, count: int = 1) -> FakeProbe:
        return cls({"gpus": [{"name": name, "count": count}]})

    def probe(self) -> ProbeResult:
        gpus: list[GPU] = []
        for entry in self.spec.get("gpus", []):
            for _ in range(int(entry.get("count", 1))):
                gpus.append(self._gpu(entry, len(gpus)))
        reason = self.spec.get("reason")
        if not gpus and not reason:
            reason = "The fake description lists no GPUs."
        return ProbeResult(gpus=gpus, backend="fake", reason=reason)

    @staticmethod
    def _gpu(entry: dict[str, Any], index: int) -> GPU:
        name = str(entry["name"])
        base = None
        try:  # a known card fills in what the description leaves out (memory, compute capability)
            base = gpu_from_name(name, index)
        except ValueError:
            if "total_gib" not in entry:
                raise
        total = int(float(entry["total_gib"]) * GIB) if "total_gib" in entry else base.total_bytes  # type: ignore[union-attr]
        used = int(float(entry.get("used_gib", 0.0)) * GIB)
        cc_raw = entry.get("compute_capability")
        if cc_raw is not None:
            major, minor = str(cc_raw).split(".")
            cc: tuple[int, int] | None = (int(major), int(minor))
        else:
            cc = base.compute_capability if base else None
        return GPU(
            index=index, name=name if "total_gib" in entry or base is None else base.name, total_bytes=total,
            free_bytes=max(total - used, 0), used_bytes=used, compute_capability=cc,
            driver_version=entry.get("driver_version", "fake"), cuda_driver_version=entry.get("cuda", None),
            mig_mode=entry.get("mig_mode", False),
        )


def default_probe(fake: str | Path | None = None) -> GpuProbe:
    """The real NVML probe unless a fake description file is given (or FTWIZARD_FAKE_GPUS is set)."""
    import os

    fake = fake or os.environ.get("FTWIZARD_FAKE_GPUS")
    return FakeProbe.from_file(fake) if fake else NvmlProbe()
