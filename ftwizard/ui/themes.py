"""Themes registered with Textual's theme system (selectable from the command palette)."""

from __future__ import annotations

from textual.app import App
from textual.theme import Theme

THEMES = [
    Theme(name="ftwizard-dark", primary="#5fafff", secondary="#87d787", accent="#ffaf5f", background="#1c1c1c",
          surface="#262626", panel="#303030", success="#87d787", warning="#ffd75f", error="#ff5f5f", dark=True),
    Theme(name="ftwizard-light", primary="#005f af".replace(" ", ""), secondary="#008700", accent="#af5f00",
          background="#fafafa", surface="#ffffff", panel="#eeeeee", success="#008700", warning="#af8700",
          error="#d70000", dark=False),
    # the 16 ANSI colours: reads well on terminals without true colour
    Theme(name="ftwizard-ansi", primary="ansi_bright_blue", secondary="ansi_green", accent="ansi_yellow",
          background="ansi_black", surface="ansi_black", panel="ansi_black", foreground="ansi_white",
          success="ansi_green", warning="ansi_yellow", error="ansi_red", dark=True),
]


def register_themes(app: App) -> None:
    for theme in THEMES:
        app.register_theme(theme)
    app.theme = "ftwizard-dark"
