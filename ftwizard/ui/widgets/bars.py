"""Text bars: a usage bar and the stacked memory bar (weights / optimizer / … / overhead)."""

from __future__ import annotations

PART_STYLES = {"weights": "blue", "gradients": "magenta", "optimizer": "yellow", "activations": "green",
               "logits": "cyan", "overhead": "bright_black"}


def usage_bar(frac: float, width: int = 30) -> str:
    n = max(0, min(width, round(frac * width)))
    return "█" * n + "░" * (width - n)


def stacked_bar(parts_gib: dict[str, float], total_gib: float, width: int = 50) -> str:
    """Rich markup: each part a coloured run, scaled to the GPU's memory (or the peak, if larger)."""
    scale = max(total_gib, sum(parts_gib.values()), 1e-9)
    out, used = [], 0
    for name, v in parts_gib.items():
        n = round(v / scale * width)
        n = min(n, width - used)
        used += n
        if n:
            out.append(f"[{PART_STYLES.get(name, 'white')}]{'█' * n}[/]")
    out.append("░" * (width - used))
    return "".join(out)
