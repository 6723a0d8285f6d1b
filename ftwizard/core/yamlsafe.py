"""YAML for every file a user can write or edit (run configs, presets, themes, settings, price tables, fake GPU
descriptions): PyYAML's safe loader, without aliases.

Nested aliases expand exponentially (nine lists of nine aliases are 9⁹ items — a "billion laughs") and none of
ftwizard's files needs one, so `*name` is refused where it is read, before anything is built."""

from __future__ import annotations

from typing import Any

import yaml


class YamlAliasError(yaml.YAMLError, ValueError):
    """A YAML alias (`*name`); `str()` is the one line to show. A YAMLError, so callers that already catch invalid
    YAML answer this too."""

    def __init__(self, anchor: str, line: int) -> None:
        self.anchor, self.line = anchor, line
        super().__init__(f"YAML aliases are not allowed (*{anchor} at line {line}): write the value out where it "
                         "is used")


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            ev = self.peek_event()
            raise YamlAliasError(str(ev.anchor), ev.start_mark.line + 1)
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """Safe YAML without aliases. YamlAliasError (a yaml.YAMLError) for an alias, yaml.YAMLError for invalid YAML."""
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Where YAML broke, in the user's line numbers: an unclosed bracket or quote is named at the line it opened on
    (the parser only notices it lines later, where the next key appears)."""
    mark, opened = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = str(getattr(exc, "context", "") or "")
    if opened is not None and mark is not None and opened.line < mark.line:
        what = ("a quote" if "quoted" in context else "a [" if "sequence" in context else "a {" if "mapping" in context
                and "flow" in context else None)
        if what:
            return f"invalid YAML at line {opened.line + 1}: {what} opened there is not closed ({problem} at line " \
                   f"{mark.line + 1})"
    where = f" at line {mark.line + 1}" if mark is not None else ""
    if problem.startswith("mapping values are not allowed"):
        problem += " (a line indented by mistake, or a ':' inside a value: put the value in quotes)"
    return f"invalid YAML{where}: {problem}"
