"""Training curves on textual-plot, fed from a RunState; redrawn on a timer with downsampled points."""

from __future__ import annotations

from textual_plot import HiResMode, LegendLocation, PlotWidget

from ftwizard.core.run.state import Series, downsample, ema

MAX_POINTS = 400


class CurvePlot(PlotWidget):
    """A plot of one or two series. `draw` is cheap: at most MAX_POINTS points per series."""

    DEFAULT_CSS = "CurvePlot { height: 1fr; min-height: 6; }"

    def __init__(self, title: str, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, allow_pan_and_zoom=True)
        self.title = title
        self.drawn_points = 0
        self._two_series = False

    def on_mount(self) -> None:
        self.set_ylabel(self.title)
        self.set_xlabel("step")
        self.show_legend(is_visible=False)  # an empty legend drew a stray box before the first step

    def on_resize(self) -> None:
        self._place_legend()

    def _place_legend(self) -> None:
        """The legend in the top-right corner, placed once the plot has its size: placed before layout (width 0)
        textual-plot moved it to the nearest corner, over the y axis's labels."""
        if self._two_series and self.size.width > 0:
            self.show_legend(location=LegendLocation.TOPRIGHT)
        else:
            self.show_legend(is_visible=False)

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
        self._two_series = sum(1 for _l, s, _st in series if len(s)) > 1  # a legend only to tell two curves apart
        self._place_legend()
