"""UI tests never touch the real ~/.config/ftwizard: the autosave, settings and user themes go to a tmp dir."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home / "ftwizard"
