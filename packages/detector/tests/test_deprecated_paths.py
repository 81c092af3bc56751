"""The module paths of 0.2.0 still import until 0.3: each warns once, naming its new home, and gives
the very objects of the new module; ``import relnet_detector`` itself does not warn."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

import relnet_detector

MOVED = {
    "relnet_detector.backbone": "relnet_detector.modeling.backbone",
    "relnet_detector.checkpoint": "relnet_detector.engine.checkpoint",
    "relnet_detector.distributed": "relnet_detector.engine.distributed",
    "relnet_detector.end_to_end": "relnet_detector.modeling.end_to_end",
    "relnet_detector.evaluate": "relnet_detector.evaluation.evaluate",
    "relnet_detector.explain": "relnet_detector.modeling.explain",
    "relnet_detector.metrics": "relnet_detector.evaluation.metrics",
    "relnet_detector.metrics_log": "relnet_detector.engine.metrics_log",
    "relnet_detector.model": "relnet_detector.modeling.model",
    "relnet_detector.optim": "relnet_detector.engine.optim",
    "relnet_detector.padding": "relnet_detector.modeling.padding",
    "relnet_detector.progress": "relnet_detector.engine.progress",
    "relnet_detector.removers": "relnet_detector.modeling.removers",
    "relnet_detector.rng_state": "relnet_detector.engine.rng_state",
    "relnet_detector.roi_heads": "relnet_detector.modeling.roi_heads",
    "relnet_detector.run_folder": "relnet_detector.engine.run_folder",
    "relnet_detector.schedule": "relnet_detector.engine.schedule",
    "relnet_detector.seeding": "relnet_detector.engine.seeding",
    "relnet_detector.train": "relnet_detector.engine.train",
    "relnet_detector.train_loop": "relnet_detector.engine.train_loop",
    "relnet_detector.training_data": "relnet_detector.engine.training_data",
    "relnet_detector.datasets.categories": "relnet_detector.datasets.coco.categories",
    "relnet_detector.datasets.coco_file": "relnet_detector.datasets.coco.annotations",
    "relnet_detector.datasets.images": "relnet_detector.datasets.coco.images",
}
# names an old module had that now live beside its new home
ALSO = {
    "relnet_detector.run_folder": ("relnet_detector.engine.checkpoint", ["TrainState"]),
    "relnet_detector.model": ("relnet_detector.modeling.checks", ["check_model_config"]),
    "relnet_detector.roi_heads": ("relnet_detector.modeling.raw_output", ["MIN_BOX_SIZE"]),
    "relnet_detector.schedule": ("relnet_detector.config", ["scale_lr_steps", "describe_schedule"]),
}


def test_import_relnet_detector_does_not_warn() -> None:
    code = "import relnet_detector, relnet_detector.config, relnet_detector.datasets"
    subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code], check=True)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_warns_once_and_gives_the_same_objects(old: str) -> None:
    new = importlib.import_module(MOVED[old])
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
        importlib.import_module(old)  # a second import: no second warning
    moved = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(moved) == 1
    assert f"{old} moved to {MOVED[old]}" in str(moved[0].message)
    assert new.__all__
    for name in new.__all__:
        assert getattr(module, name) is getattr(new, name)
    if old in ALSO:
        home, names = ALSO[old]
        for name in names:
            assert getattr(module, name) is getattr(importlib.import_module(home), name)


def test_functions_named_like_old_modules_stay_functions() -> None:
    """``relnet_detector.train`` and ``.evaluate`` are the functions, also after their old
    module paths were imported."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        importlib.import_module("relnet_detector.train")
        importlib.import_module("relnet_detector.evaluate")
    assert relnet_detector.train is importlib.import_module("relnet_detector.engine.train").train
    assert relnet_detector.evaluate is relnet_detector.evaluation.evaluate.evaluate


def test_lazy_attribute_of_an_old_path() -> None:
    sys.modules.pop("relnet_detector.optim", None)
    vars(relnet_detector).pop("optim", None)
    with pytest.warns(DeprecationWarning, match="relnet_detector.optim moved"):
        optim = relnet_detector.optim  # type: ignore[attr-defined]
    assert optim.build_optimizer is relnet_detector.engine.optim.build_optimizer
