"""Hub look-ups for a model that is not in the local cache: size, gated state and token first, then the
config. Only called when the user allowed downloads; tokens are never printed or written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


class HubError(ValueError):
    """The Hub could not be reached or refused the model."""


@dataclass(frozen=True)
class HubModel:
    repo_id: str
    weights_bytes: int
    gated: bool
    has_token: bool

    def summary(self) -> str:
        size = f"{self.weights_bytes / 1e9:.1f} GB of weights" if self.weights_bytes else "size unknown"
        gate = "gated (licence must be accepted on the Hub)" if self.gated else "not gated"
        token = "a Hugging Face token is set" if self.has_token else "no Hugging Face token set"
        return f"{self.repo_id} on the Hub: {size}, {gate}, {token}"


def _offline_message(repo_id: str, exc: Exception) -> str:
    return (f"could not reach the Hugging Face Hub for '{repo_id}' ({type(exc).__name__}); this machine looks "
            f"offline — download it where there is network (`hf download {repo_id}`) and copy the cache, "
            "or pass a local folder with config.json")


def model_status(repo_id: str, timeout: float = 10.0) -> HubModel:
    """Size of the weights, gated state and whether a token is available (one metadata request)."""
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.utils import GatedRepoError, RepositoryNotFoundError

    try:
        info = HfApi().model_info(repo_id, files_metadata=True, timeout=timeout)
    except RepositoryNotFoundError as exc:
        raise HubError(f"'{repo_id}' is not a model on the Hugging Face Hub (or it is private and no token "
                       "is set): check the spelling, or log in with `hf auth login`") from exc
    except GatedRepoError as exc:
        raise HubError(f"'{repo_id}' is gated: accept its licence on https://huggingface.co/{repo_id} and log "
                       "in with `hf auth login`") from exc
    except Exception as exc:  # offline, DNS, proxy, timeout …
        raise HubError(_offline_message(repo_id, exc)) from exc
    size = sum(int(s.size or 0) for s in info.siblings or [] if s.rfilename.endswith(WEIGHT_SUFFIXES))
    return HubModel(repo_id, size, bool(info.gated), get_token() is not None)


def fetch_config(repo_id: str) -> tuple[Path, HubModel]:
    """Check the model on the Hub (size, gated, token), then download only its config.json."""
    from huggingface_hub import hf_hub_download

    status = model_status(repo_id)
    if status.gated and not status.has_token:
        raise HubError(f"{status.summary()}: accept its licence on https://huggingface.co/{repo_id} and log in "
                       "with `hf auth login` first")
    try:
        return Path(hf_hub_download(repo_id, "config.json")), status
    except Exception as exc:
        raise HubError(_offline_message(repo_id, exc)) from exc
