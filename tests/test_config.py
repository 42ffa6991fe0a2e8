"""Configuration: the example file documents every key, env overrides win, typos fail."""

from __future__ import annotations

import tomllib
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from detector.config import Config, ConfigError, example_toml, load_config

EXAMPLE = Path(__file__).parent.parent / "smsguard.example.toml"


def test_the_example_file_lists_every_key_with_its_default() -> None:
    # Regenerate with: python -m detector.config > smsguard.example.toml
    assert EXAMPLE.read_text() == example_toml()
    documented = tomllib.loads(EXAMPLE.read_text())
    defaults = Config()
    for section in fields(defaults):
        value = getattr(defaults, section.name)
        if not is_dataclass(value):
            continue
        for key in fields(value):
            assert documented[section.name][key.name] == getattr(value, key.name), (
                f"{section.name}.{key.name}")
    assert load_config(EXAMPLE) == defaults


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[policy]\ndry_run = false\n[sensitivity]\n"acct_1" = 0.5\n')
    cfg = load_config(path, env={"SMSGUARD_POLICY__DRY_RUN": "true",
                                 "SMSGUARD_ALLOWLIST__PREFIXES": "+4477,+3361"})
    assert cfg.policy.dry_run is True
    assert cfg.allowlist.prefixes == ["+4477", "+3361"]
    assert cfg.sensitivity_of("acct_1") == 0.5 and cfg.sensitivity_of("other") == 1.0


@pytest.mark.parametrize("text", ["[policy]\ndry_runn = true\n", "[nope]\nx = 1\n",
                                  '[policy]\ncooldown_s = "soon"\n'])
def test_unknown_keys_and_wrong_types_are_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path, env={})
