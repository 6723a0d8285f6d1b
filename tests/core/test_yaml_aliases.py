"""Every YAML file a user can write (presets, themes, settings, price tables, fake GPU files) refuses aliases in
one line, before anything is expanded — the alias bomb that hung `--check` is answered the same everywhere."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ftwizard.core import wizard
from ftwizard.core.plan import cost
from ftwizard.core.plan.hardware import FakeProbe
from ftwizard.core.yamlsafe import YamlAliasError, load_yaml

BOMB = "\n".join(
    [f"a0: &a0 [{', '.join(['lol'] * 9)}]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
) + "\n"


def test_alias_refused_fast_with_line() -> None:
    t0 = time.monotonic()
    with pytest.raises(YamlAliasError, match=r"\*a0 at line 2"):
        load_yaml(BOMB)
    assert time.monotonic() - t0 < 2


def test_preset_alias_is_a_preset_error() -> None:
    with pytest.raises(wizard.PresetError, match="aliases are not allowed"):
        wizard.Answers.from_yaml(BOMB)


def test_theme_alias_one_line(tmp_path: Path) -> None:
    from ftwizard.ui.themes import theme_from_file

    f = tmp_path / "bomb.yaml"
    f.write_text("name: x\nprimary: '#ffffff'\n" + BOMB, encoding="utf-8")
    with pytest.raises(ValueError, match=r"bomb.yaml: not readable YAML \(YAML aliases are not allowed"):
        theme_from_file(f)


def test_settings_alias_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "ftwizard").mkdir()
    (tmp_path / "ftwizard" / "settings.yaml").write_text(BOMB, encoding="utf-8")
    assert wizard.load_settings() == {}


def test_price_file_alias_refused(tmp_path: Path) -> None:
    f = tmp_path / "prices.yaml"
    f.write_text(BOMB, encoding="utf-8")
    with pytest.raises(ValueError, match="aliases are not allowed"):
        cost.price_tables(f)


def test_fake_gpu_file_alias_refused(tmp_path: Path) -> None:
    f = tmp_path / "gpus.yaml"
    f.write_text(BOMB, encoding="utf-8")
    with pytest.raises(ValueError, match="aliases are not allowed"):
        FakeProbe.from_file(f)
