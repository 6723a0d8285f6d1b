"""Text bars: a usage bar and the stacked memory bar (weights / optimizer / … / overhead)."""

from __future__ import annotations

PART_STYLES = {"weights": "blue", "gradients": "magenta", "optimizer": "yellow", "optimizer_step": "bright_yellow",
               "activations": "green", "logits": "cyan", "overhead": "bright_black"}


def part_style(name: str) -> str:
    return PART_STYLES.get(name, "white")


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


def fmt_gib(v: float) -> str:
    """GiB, always (no mixed units next to each other): 12.3 · 1.25 · 0.08."""
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def fmt_count(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else (f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.0f} K")
