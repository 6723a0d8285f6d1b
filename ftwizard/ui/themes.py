"""Themes: the built-in ones are files in the top-level `themes/` folder; the person's own are YAML files in
~/.config/ftwizard/themes/ (a broken file is reported and skipped). The chosen theme is remembered."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml
from textual.app import App
from textual.theme import Theme

from ftwizard.core.resources import data_dir
from ftwizard.core.wizard import config_dir, load_settings, save_setting
from ftwizard.core.yamlsafe import YamlAliasError, load_yaml

DEFAULT_THEME = "ftwizard-dark"
_THEME_FIELDS = {f.name for f in fields(Theme)}


def theme_from_file(path: Path) -> Theme:
    """One theme file → a Theme; ValueError in one line for a broken one."""
    try:
        raw: Any = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        why = exc if isinstance(exc, YamlAliasError) else exc.__class__.__name__
        raise ValueError(f"{path.name}: not readable YAML ({why})") from None
    if not isinstance(raw, dict) or not raw.get("name") or not raw.get("primary"):
        raise ValueError(f"{path.name}: a theme needs at least `name:` and `primary:`")
    unknown = set(raw) - _THEME_FIELDS
    if unknown:
        raise ValueError(f"{path.name}: unknown keys {', '.join(sorted(unknown))}")
    try:
        theme = Theme(**raw)
        from textual.color import Color

        for key in ("primary", "secondary", "accent", "background", "surface", "panel", "foreground",
                    "success", "warning", "error"):
            if raw.get(key):
                Color.parse(str(raw[key]))
    except Exception as exc:  # noqa: BLE001 - any bad colour/type: reported as one line, the theme skipped
        raise ValueError(f"{path.name}: {exc}") from None
    return theme


def load_themes(folder: Path) -> tuple[list[Theme], list[str]]:
    """Every *.yaml theme in `folder` (sorted), and one line per broken file."""
    themes: list[Theme] = []
    errors: list[str] = []
    if not folder.is_dir():
        return themes, errors
    for path in sorted(folder.glob("*.y*ml")):
        try:
            themes.append(theme_from_file(path))
        except ValueError as exc:
            errors.append(str(exc))
    return themes, errors


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def register_themes(app: App[Any]) -> list[str]:
    """Register built-in and user themes, apply the remembered one; returns the problems to show."""
    builtin, errors = load_themes(data_dir("themes"))
    user, user_errors = load_themes(user_themes_dir())
    for theme in [*builtin, *user]:
        app.register_theme(theme)
    errors = [f"theme {e}" for e in errors] + [f"your theme {e} (skipped)" for e in user_errors]
    wanted = str(load_settings().get("theme") or DEFAULT_THEME)
    names = set(app.available_themes)
    app.theme = wanted if wanted in names else (DEFAULT_THEME if DEFAULT_THEME in names else "textual-dark")
    return errors


def remember_theme(theme: Theme) -> None:
    save_setting("theme", theme.name)
