"""Configuration: presets, TOML round trips, partial files, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from relnet_detector.config import PRESETS, DetectorConfig, load_config, save_config


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_toml(name: str, tmp_path: Path) -> None:
    config = load_config(name)
    path = save_config(config, tmp_path / f"{name}.toml")
    assert load_config(path) == config
    assert DetectorConfig.from_dict(config.to_dict()) == config


def test_a_partial_file_keeps_the_presets_other_values(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[model.remover]\nmethod = "nms"\n[model.head]\nhidden_dim = 128\n[train]\nepochs = 1\n'
    )
    config, tiny = load_config(path), load_config("tiny")
    assert config.model.remover.method == "nms"
    assert config.model.head.hidden_dim == 128
    assert config.train.epochs == 1
    # what the file leaves out is tiny's, not the nested classes' own defaults
    assert config.model.remover.dedup == tiny.model.remover.dedup
    assert config.model.remover.first_n == tiny.model.remover.first_n
    assert config.model.head.fc1_relations == tiny.model.head.fc1_relations
    assert config.model.backbone == tiny.model.backbone


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train]\nfoo = 1\n", "train.foo"),
        ("[model.rpn]\nnms_thresh = 'x'\n", "model.rpn.nms_thresh must be a number"),
        ("[model.head]\nkind = '4fc'\n", "model.head.kind must be one of"),
        ("[model]\nmin_size = 1.5\n", "model.min_size must be an integer"),
        ("[train]\namp = 1\n", "train.amp must be true or false"),
        ("[model]\nimage_mean = [0.5, 0.5]\n", "model.image_mean must have 3 entries"),
        ("[model.head]\nhidden_dim = 0\n", "hidden_dim must be a positive int"),
        ("model = 3\n", "model must be a table"),
        ("[train\n", "mine.toml"),
    ],
)
def test_bad_files_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"mine\.toml") as err:
        load_config(path)
    assert message in str(err.value)


def test_unknown_preset_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown preset 'huge'.*r50-fpn"):
        load_config("huge")
    with pytest.raises(FileNotFoundError, match=r"absent\.toml"):
        load_config(tmp_path / "absent.toml")
