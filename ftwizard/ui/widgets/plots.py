"""Training curves on textual-plot, fed from a RunState; redrawn on a timer with downsampled points."""

from __future__ import annotations

from textual_plot import HiResMode, PlotWidget

from ftwizard.core.run.state import Series, downsample, ema

MAX_POINTS = 400


class CurvePlot(PlotWidget):
    """A plot of one or two series. `draw` is cheap: at most MAX_POINTS points per series."""

    DEFAULT_CSS = "CurvePlot { height: 1fr; min-height: 6; }"

    def __init__(self, title: str, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, allow_pan_and_zoom=True)
        self.title = title
        self.drawn_points = 0

    def on_mount(self) -> None:
        self.set_ylabel(self.title)

    def draw(self, series: list[tuple[str, Series, str]], smooth: bool = False) -> None:
        self.clear()
        total = 0
        for label, s, style in series:
            if not len(s):
                continue
            raw_ys = ema(list(s.ys)) if smooth and len(s) > 3 else s.ys  # smooth every point, then pick
            xs, ys = downsample(s.xs, raw_ys, MAX_POINTS)
            total += len(xs)
            if len(xs) == 1:
                self.scatter(xs, ys, marker="●", marker_style=style, label=label)
            else:
                self.plot(xs, ys, line_style=style, hires_mode=HiResMode.BRAILLE, label=label)
        self.drawn_points = total
        # one point (or a flat line) would autoscale to a 1e-7 wide axis: give it a readable range instead
        ys_all = [y for _l, s, _st in series for y in s.ys]
        xs_all = [x for _l, s, _st in series for x in s.xs]
        if ys_all and max(ys_all) - min(ys_all) < 1e-9:
            pad = max(abs(ys_all[0]) * 0.1, 1e-3)
            self.set_ylimits(ys_all[0] - pad, ys_all[0] + pad)
        else:
            self.set_ylimits(None, None)
        if xs_all and max(xs_all) == min(xs_all):
            self.set_xlimits(xs_all[0] - 1, xs_all[0] + 1)
        else:
            self.set_xlimits(None, None)
        if len(series) > 1:
            self.show_legend()
