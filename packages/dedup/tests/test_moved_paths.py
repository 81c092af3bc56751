"""The module paths of 0.3 (one flat package) still import, each warning once that it moved, and
give the very objects of their new modules; ``import relnet_dedup`` itself does not warn."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import types

import pytest

import relnet_dedup

# old module -> where it moved
MOVED = {
    "validation": ("relnet_core.checks",),
    "serialization": ("relnet_core.checkpoints", "relnet_core.files"),
    "nms": ("relnet_dedup.classic.nms",),
    "soft_nms": ("relnet_dedup.classic.soft_nms",),
    "oracle": ("relnet_dedup.classic.oracle",),
    "inference": ("relnet_dedup.network.inference",),
    "ranked": ("relnet_dedup.network.ranked",),
    "targets": ("relnet_dedup.training.targets",),
    "loss": ("relnet_dedup.training.loss",),
    "fit": ("relnet_dedup.training.fit",),
    "training_data": ("relnet_dedup.training.batches",),
    "coco": ("relnet_dedup.io.coco", "relnet_dedup.io.cocoeval"),
    "checkpoint": ("relnet_dedup.io.checkpoint",),
    "export": ("relnet_dedup.io.export",),
}


def public_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    return list(names) if names is not None else [n for n in vars(module) if not n.startswith("_")]


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_the_old_module_paths_warn_once_and_still_work(
    old: str, new: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.modules.pop(f"relnet_dedup.{old}", None)
    attribute = relnet_dedup.__dict__.get(old)
    if isinstance(attribute, types.ModuleType):  # bound by an earlier import of the old path
        monkeypatch.delattr(relnet_dedup, old)
    function = callable(attribute)  # relnet_dedup.fit, .nms, .soft_nms: functions of the package
    message = rf"relnet_dedup\.{old} moved to {re.escape(' and '.join(new))}"
    if function:
        with pytest.warns(DeprecationWarning, match=message):
            module = importlib.import_module(f"relnet_dedup.{old}")
    else:  # the lazy attribute of the package (its module __getattr__)
        with pytest.warns(DeprecationWarning, match=message):
            module = getattr(relnet_dedup, old)
    assert module is importlib.import_module(f"relnet_dedup.{old}")
    targets = [importlib.import_module(name) for name in new]
    if hasattr(module, "__all__"):
        names = list(module.__all__)
        for name in names:
            assert any(getattr(t, name, None) is getattr(module, name) for t in targets), name
    else:
        (target,) = targets
        names = public_names(target)
        for name in names:
            assert getattr(module, name) is getattr(target, name), name
    assert names
    if function:  # importing the module did not replace the function of the same name
        assert relnet_dedup.__dict__[old] is attribute
        assert callable(getattr(relnet_dedup, old))


def test_the_package_and_its_new_paths_import_without_warnings() -> None:
    code = (
        "import relnet_dedup, relnet_dedup.classic.nms, relnet_dedup.network, "
        "relnet_dedup.training.fit, relnet_dedup.io.coco, relnet_dedup.io.cocoeval, "
        "relnet_dedup.grouping, relnet_dedup.data; "
        "assert callable(relnet_dedup.fit) and callable(relnet_dedup.nms)"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


# relnet_dedup.__all__ of 0.3
API_03 = """
    DedupConfig DuplicateRemovalNetwork EpochStats FitResult ImageDetections SyntheticConfig
    __version__ assign_duplicate_targets batched_assign_duplicate_targets batched_nms
    batched_soft_nms build_dedup_network coco_ground_truth coco_results dedup_loss evaluate_coco
    export_onnx fit fit_coco learned_batched_nms load_checkpoint load_coco_detections
    make_synthetic nms oracle_batched_nms save_checkpoint soft_nms testing to_coco_results
""".split()  # noqa: SIM905 (a list literal would repeat __all__ line for line)


def test_the_top_level_api() -> None:
    """0.3's names, plus select_candidates and coco_eval (0.3.1)."""
    assert set(relnet_dedup.__all__) == {
        *API_03,
        "select_candidates",
        "coco_eval",
        "fixed_groups_learned_nms",
    }
    assert all(hasattr(relnet_dedup, name) for name in relnet_dedup.__all__)
