"""`abr train`'s flags are derived from the config dataclass: one per setting, typed from it."""

import argparse
import dataclasses

import pytest

from abr.cli import build_parser
from abr.cli.train import _train_config
from abr.dqn.config import DqnConfig, load_config


def _config(*flags: str) -> DqnConfig:
    return _train_config(build_parser().parse_args(["train", *flags]))


def test_every_setting_has_a_flag() -> None:
    help_text = build_parser().parse_args(["train"])  # parses with every flag unset
    for field in dataclasses.fields(DqnConfig):
        assert getattr(help_text, field.name) is None, field.name


def test_every_setting_has_its_own_line_of_help_in_its_group() -> None:
    from abr.dqn.config import GROUPS, setting_groups, setting_help

    helps = setting_help()
    names = [field.name for field in dataclasses.fields(DqnConfig)]
    assert sorted(helps) == sorted(names)
    assert all(len(text) > 8 for text in helps.values())
    assert len(set(helps.values())) == len(helps)  # no two settings share a line
    grouped = setting_groups()
    assert list(grouped) == list(GROUPS)
    assert sorted(name for group in grouped.values() for name in group) == sorted(names)
    train = next(
        action.choices["train"]
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    text = train.format_help()
    for group in GROUPS:
        assert f"settings: {group}" in text
    assert "Double DQN targets (default: True)" in " ".join(text.split())


def test_flags_set_the_settings_they_name_with_the_dataclass_types() -> None:
    config = _config(
        "--no-per",
        "--learning-rate",
        "3e-4",
        "--sessions",
        "8",
        "--hidden",
        "64",
        "32",
        "--train-mbps-factors",
        "0.5",
        "1",
        "--demo-policy",
        "mpc",
    )
    expected = load_config(
        None,
        per=False,
        learning_rate=3e-4,
        n_sessions=8,
        hidden=[64, 32],
        train_mbps_factors=[0.5, 1.0],
        demo_policy="mpc",
    )
    assert config == expected
    assert _config() == load_config(None)  # no flag: the defaults
    assert _config("--double").double is True and _config("--no-double").double is False


def test_a_flag_overrides_the_toml_file(tmp_path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text("n_step = 5\nbatch_size = 32\n")
    config = _config("--config", str(toml), "--n-step", "2")
    assert (config.n_step, config.batch_size) == (2, 32)


def test_a_name_outside_the_choices_is_refused() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--val-score", "best"])
