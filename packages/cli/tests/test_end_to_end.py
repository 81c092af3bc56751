"""``relnet data synth`` -> ``train`` (a tiny TOML preset, 1 epoch on 8 images) -> ``eval``,
``predict``, ``explain`` on its output; the files are checked (PNGs decode, JSON loads, category
ids are the dataset's)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import assert_usage_error, assert_user_error, invoke
from PIL import Image
from typer.testing import CliRunner


def dataset_ids(data: Path) -> set[int]:
    annotations = json.loads((data / "annotations" / "instances_val.json").read_text())
    return {c["id"] for c in annotations["categories"]}


def decodes(png: Path) -> tuple[int, int]:
    with Image.open(png) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


def test_train_writes_the_run_folder(run: Path, data: Path) -> None:
    for name in ("config.toml", "checkpoint.pt", "metrics.jsonl", "curves.png", "run.json"):
        assert (run / name).is_file(), name
    assert decodes(run / "curves.png") == (920, 300)
    assert json.loads((run / "run.json").read_text())["data"] == str(data.absolute())
    kinds = [
        json.loads(line)["kind"] for line in (run / "metrics.jsonl").read_text().split("\n")[:-1]
    ]
    assert kinds[-1] == "epoch"
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0.0 <= last["mAP"] <= 1.0  # the curves' mAP panel
    assert last["val_images"] == 4


def test_train_refuses_a_used_run_folder_and_resumes(
    runner: CliRunner, run: Path, data: Path, preset: Path
) -> None:
    args = ["--data", data, "--preset", preset, "--out", run, "--device", "cpu"]
    assert_user_error(invoke(runner, "train", *args), str(run), "--resume")
    result = invoke(runner, "train", *args, "--resume", "--epochs", "2")
    assert result.exit_code == 0, result.output
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in epochs if r["kind"] == "epoch"] == [1, 2]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_refused_resume_changes_nothing_in_the_run_folder(
    runner: CliRunner, run: Path, data: Path, preset: Path, tmp_path: Path
) -> None:
    """Issue 17: another data folder, another configuration, other images under the same
    categories: each refused, and the folder byte-identical afterwards."""
    before = snapshot(run)
    other = tmp_path / "other"
    args = ["--out", other, "--train", "6", "--val", "2", "--workers", "1", "--seed", "9"]
    assert invoke(runner, "data", "synth", *args).exit_code == 0
    base = ["--out", run, "--resume", "--device", "cpu"]
    refusals = {
        "other images": [*base, "--data", other, "--preset", preset],
        "other config": [*base, "--data", data, "--preset", preset, "--seed", "5"],
        "other steps": [*base, "--data", data, "--preset", preset, "--lr-steps", "2",
                        "--epochs", "3"],
    }  # fmt: skip
    messages = {
        "other images": "trained on other data",
        "other config": "train.seed",
        "other steps": "train.lr_steps",
    }
    for name, argv in refusals.items():
        assert_user_error(invoke(runner, "train", *argv), messages[name])
        assert snapshot(run) == before, name


def test_a_refused_train_leaves_no_folder(
    runner: CliRunner, data: Path, preset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "new-run"
    args = ["--data", data, "--preset", preset, "--out", out, "--device", "cpu"]
    assert_user_error(invoke(runner, "train", *args, "--lr-steps", "1"), "train.lr_steps[0] is 1")
    assert not out.exists()
    broken = tmp_path / "broken.toml"
    broken.write_text(preset.read_text() + '\n[model.remover]\nmethod = "oracle"\n')
    result = invoke(runner, "train", "--data", data, "--preset", broken, "--out", out)
    assert result.exit_code == 1, result.output
    assert not out.exists()  # the model failed to build after the checks: the folder is removed


def test_out_naming_a_file(runner: CliRunner, data: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    result = invoke(runner, "train", "--data", data, "--out", afile)
    assert_user_error(result, str(afile), "is a file, not a run folder")
    assert afile.read_text() == "mine"


def test_the_schedule_follows_the_epochs(
    runner: CliRunner, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--epochs 12`` moves tiny's step (after epoch 3 of 4) to after epoch 9; the resolved
    schedule is printed and written to config.toml; ``--lr-steps`` sets it."""
    from relnet_cli.commands import train as train_command

    seen: list[Any] = []

    def fake_train(config: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(config)
        raise ValueError("stop here")  # the CLI's part is done

    monkeypatch.setattr(
        importlib.import_module("relnet_detector.engine.train"), "train", fake_train
    )
    result = invoke(runner, "train", "--data", data, "--out", tmp_path / "r", "--epochs", "12")
    assert "schedule: lr 0.02, warm-up 100 steps, x0.1 after epoch 9 of 12" in result.stdout
    assert seen[-1].train.lr_steps == (9,)
    invoke(runner, "train", "--data", data, "--out", tmp_path / "r", "--epochs", "12",
           "--lr-steps", "8,11")  # fmt: skip
    assert seen[-1].train.lr_steps == (8, 11)
    invoke(runner, "train", "--data", data, "--out", tmp_path / "r", "--lr-steps", "none")
    assert seen[-1].train.lr_steps == ()
    assert_usage_error(invoke(runner, "train", "--lr-steps", "three"))
    assert train_command._parse_steps(" 2, 5 ") == (2, 5)


def test_resume_with_more_epochs_extends_the_run_keeping_its_steps(
    runner: CliRunner, run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--resume --epochs N`` continues the run's own config with N epochs and the run's
    learning-rate steps where they were (not moved): an uninterrupted N-epoch run's schedule."""
    import shutil
    import tomllib

    seen: list[Any] = []

    def fake_train(config: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(config)
        raise ValueError("stop here")

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    saved = tomllib.loads((copy / "config.toml").read_text())["train"]
    monkeypatch.setattr(
        importlib.import_module("relnet_detector.engine.train"), "train", fake_train
    )
    invoke(runner, "train", "--out", copy, "--resume", "--epochs", str(saved["epochs"] + 3))
    assert seen[-1].train.epochs == saved["epochs"] + 3
    assert list(seen[-1].train.lr_steps) == list(saved.get("lr_steps", []))
    invoke(runner, "train", "--out", copy, "--epochs", "12")  # not a resume: the steps move
    assert seen[-1].train.lr_steps == (9,)


def test_a_time_budget_stops_with_a_checkpoint_that_resume_continues(
    runner: CliRunner, data: Path, preset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "budget"
    args = ["train", "--data", data, "--preset", preset, "--out", out, "--device", "cpu"]
    result = invoke(runner, *args, "--time-budget", "0.000001")
    assert result.exit_code == 0, result.output
    assert "--resume (stopped before the last epoch)" in " ".join(result.stdout.split())
    assert (out / "checkpoint.pt").is_file()
    result = invoke(runner, *args, "--resume")
    assert result.exit_code == 0, result.output
    assert f"relnet eval {out}" in " ".join(result.stdout.split())
    assert_usage_error(invoke(runner, *args, "--time-budget", "0"))


def test_tensorboard_holds_the_scalars_of_the_metrics_log(
    runner: CliRunner, data: Path, preset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    args = ["train", "--data", data, "--preset", preset, "--out", out, "--device", "cpu"]
    result = invoke(runner, *args, "--tensorboard")
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    logged = sorted((s.step, s.value) for s in events.Scalars("train/loss"))
    assert logged == [(r["step"], pytest.approx(r["loss"], rel=1e-6)) for r in steps]
    m_ap = events.Scalars("epoch/mAP")
    assert [(s.step, s.value) for s in m_ap] == [
        (r["epoch"], pytest.approx(r["mAP"], rel=1e-6)) for r in epochs
    ]
    assert json.loads((out / "tensorboard" / "mirrored.json").read_text()) == {
        "records": len(records)
    }
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # the extra not installed
    result = invoke(runner, *args[:-4], "--out", tmp_path / "none", "--tensorboard")
    assert_user_error(result, 'pip install "relnet-cli[tensorboard]"')
    assert not (tmp_path / "none").exists()


def test_random_bytes_are_not_a_relnet_checkpoint(
    runner: CliRunner, data: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "random.pt"
    bad.write_bytes(bytes(range(256)) * 40)
    line = assert_user_error(invoke(runner, "eval", bad, "--data", data), "not a relnet checkpoint")
    assert str(bad) in line
    assert len(line) < 300 + len(str(bad))


def test_predict_writes_results_and_pictures(
    runner: CliRunner, run: Path, data: Path, tmp_path: Path
) -> None:
    images = sorted((data / "images" / "val").glob("*.png"))[:2]
    out = tmp_path / "pred"
    args = [run, *images, "--out", out, "--dedup", "nms", "--score-threshold", "0"]
    result = invoke(runner, "predict", *args)
    assert result.exit_code == 0, result.output
    detections = json.loads((out / "detections.json").read_text())
    assert detections, "an untrained model still scores every class above 0"
    assert {d["category_id"] for d in detections} <= dataset_ids(data)
    assert {d["image_id"] for d in detections} <= {1, 2}
    for image in images:
        assert decodes(out / image.name)[0] >= 480  # small images are drawn enlarged


def test_predict_errors(runner: CliRunner, run: Path, data: Path, tmp_path: Path) -> None:
    image = next((data / "images" / "val").glob("*.png"))
    missing = tmp_path / "nope.png"
    assert_user_error(invoke(runner, "predict", run, missing, "--out", tmp_path), str(missing))
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    result = invoke(runner, "predict", run, not_image, "--out", tmp_path / "p")
    assert_user_error(result, str(not_image), "not an image")
    no_run = tmp_path / "empty-run"
    no_run.mkdir()
    assert_user_error(invoke(runner, "predict", no_run, image, "--out", tmp_path), str(no_run))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    assert_user_error(invoke(runner, "predict", bad, image, "--out", tmp_path), str(bad))
    result = invoke(runner, "predict", run, image, "--out", tmp_path, "--dedup", "learned")
    assert_user_error(result, "--dedup-model")
    assert_usage_error(invoke(runner, "predict", run, image, "--out", tmp_path, "--dedup", "x"))
    assert_usage_error(invoke(runner, "predict", run, image))


def test_eval_prints_a_table_and_writes_json(
    runner: CliRunner, run: Path, data: Path, tmp_path: Path
) -> None:
    report = tmp_path / "eval.json"
    result = invoke(runner, "eval", run, "--json", report, "--device", "cpu")
    assert result.exit_code == 0, result.output
    for row in ("nms-0.5", "soft-nms-0.5", "e2e", "oracle", "mAP50", "crowd AP", "ms/img"):
        assert row in result.stdout
    numbers = json.loads(report.read_text())
    assert numbers["data"] == str(data.absolute())  # the run's data by default
    names = [r["name"] for r in numbers["removers"]]
    assert names == ["nms-0.5", "soft-nms-0.5", "e2e", "oracle"]
    for row in numbers["removers"]:
        assert len(row["stats"]) == 12
        assert set(row["crowd"]) == {"crowd_AP", "crowd_AP50", "crowd_AP75", "crowd_recall50",
                                     "crowd_recall75"}  # fmt: skip
        detections = json.loads(Path(row["results_file"]).read_text())
        assert Path(row["results_file"]).parent == tmp_path
        assert {d["category_id"] for d in detections} <= dataset_ids(data)


def test_eval_prints_ap_per_category_as_cocoeval_gives_it(
    runner: CliRunner, run: Path, data: Path, tmp_path: Path
) -> None:
    """The per-category table names every category (id and name) and --json holds AP, AP50 and
    AP75 per category: each equal to COCOeval with ``params.catIds`` set to that category."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    report = tmp_path / "eval.json"
    args = ["eval", run, "--dedup", "nms", "--json", report, "--device", "cpu"]
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    annotations = json.loads((data / "annotations" / "instances_val.json").read_text())
    assert "AP per category" in result.stdout
    for category in annotations["categories"]:
        assert category["name"] in result.stdout
    numbers = json.loads(report.read_text())
    assert numbers["categories"] == {str(c["id"]): c["name"] for c in annotations["categories"]}
    (row,) = numbers["removers"]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(data / "annotations" / "instances_val.json"))
        found = coco.loadRes(row["results_file"])
    for category in annotations["categories"]:
        with contextlib.redirect_stdout(io.StringIO()):
            reference = COCOeval(coco, found, "bbox")
            reference.params.catIds = [category["id"]]
            reference.evaluate()
            reference.accumulate()
            reference.summarize()
        key = str(category["id"])
        for field, stat in (("per_category", 0), ("per_category50", 1), ("per_category75", 2)):
            value, expected = row[field][key], float(reference.stats[stat])
            assert value == pytest.approx(expected, abs=1e-9) or (value != value and expected < 0)


def test_eval_takes_the_best_or_the_last_checkpoint_and_says_which(
    runner: CliRunner, run: Path, tmp_path: Path
) -> None:
    info = json.loads((run / "run.json").read_text())
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    scores = [e["mAP"] for e in epochs if e.get("kind") == "epoch"]
    best = scores.index(max(scores))  # the first of equals
    assert info["best"] == {"checkpoint": "best.pt", "epoch": best + 1, "mAP": scores[best]}
    report = tmp_path / "eval.json"
    args = ["eval", run, "--dedup", "nms", "--device", "cpu", "--json", report]
    result = invoke(runner, *args, "--checkpoint", "best")
    assert result.exit_code == 0, result.output
    assert f"best (epoch {best + 1}, val mAP {100 * scores[best]:.1f})" in result.stdout
    assert json.loads(report.read_text())["checkpoint"] == str(run / "best.pt")
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    assert f"checkpoint {run / 'checkpoint.pt'}: last" in " ".join(result.stdout.split())
    result = invoke(runner, "eval", run / "checkpoint.pt", "--checkpoint", "best")
    assert_user_error(result, "--checkpoint best needs a run folder")
    assert_user_error(invoke(runner, "eval", run, "--checkpoint", "first"), "best or last")
    empty = tmp_path / "no-best"
    empty.mkdir()
    (empty / "checkpoint.pt").write_bytes((run / "checkpoint.pt").read_bytes())
    assert_user_error(invoke(runner, "eval", empty, "--checkpoint", "best"), "holds no best.pt")


def test_eval_plots_curves_and_confusion_per_remover(
    runner: CliRunner, run: Path, tmp_path: Path
) -> None:
    plots = tmp_path / "plots"
    result = invoke(runner, "eval", run, "--dedup", "nms,oracle", "--plots", plots)
    assert result.exit_code == 0, result.output
    for name in ("nms-0.5", "oracle"):
        assert decodes(plots / f"pr_{name}.png")[0] >= 400
        assert decodes(plots / f"confusion_{name}.png")[0] >= 100
    (plots / "file").write_text("x")
    assert_user_error(invoke(runner, "eval", run, "--plots", plots / "file"), "--plots")


def test_eval_one_remover_on_a_checkpoint_file(runner: CliRunner, run: Path, data: Path) -> None:
    args = [run / "checkpoint.pt", "--data", data, "--dedup", "nms", "--device", "cpu"]
    result = invoke(runner, "eval", *args)
    assert result.exit_code == 0, result.output
    assert "nms-0.5" in result.stdout
    assert "soft-nms" not in result.stdout


def test_eval_errors(runner: CliRunner, run: Path, data: Path, tmp_path: Path) -> None:
    assert_usage_error(invoke(runner, "eval", run, "--dedup", "nms,fast"))
    assert_user_error(invoke(runner, "eval", run, "--dedup", "learned"), "--dedup-model")
    missing = tmp_path / "coco"
    assert_user_error(invoke(runner, "eval", run, "--data", missing), str(missing))
    assert_user_error(invoke(runner, "eval", tmp_path / "run"), str(tmp_path / "run"))
    result = invoke(runner, "eval", run, "--json", tmp_path / "no" / "eval.json")
    assert_user_error(result, "eval.json")
    result = invoke(runner, "eval", run, "--split", "test")
    assert_user_error(result, "instances_test.json")
    # A COCO folder of other categories than the checkpoint's.
    other = tmp_path / "other"
    (other / "images").mkdir(parents=True)
    (other / "annotations").mkdir()
    Image.new("RGB", (32, 32)).save(other / "images" / "a.png")
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 32}],
        "annotations": [],
        "categories": [{"id": 1, "name": "thing"}],
    }
    (other / "annotations" / "instances_val.json").write_text(json.dumps(coco))
    assert_user_error(invoke(runner, "eval", run, "--data", other), "classes")


class _Found:
    """The shape of ``relnet_detector.modeling.explain.relation_weights``' result."""

    def __init__(self, detections: dict[str, Any], rois: int, modules: int = 2) -> None:
        count = len(detections["scores"])
        self.detections = detections
        self.roi_index = torch.arange(count) % rois  # [K]
        self.roi_boxes = torch.tensor(
            [[4.0 * i, 4.0 * i, 4.0 * i + 20, 4.0 * i + 16] for i in range(rois)]
        )
        self.roi_labels = torch.ones(rois, dtype=torch.long)
        gen = torch.Generator().manual_seed(0)
        self.weights = [
            torch.rand(4, rois, rois, generator=gen).softmax(-1) for _ in range(modules)
        ]
        self.modules = [f"fc{m + 1} relation module" for m in range(modules)]


@pytest.fixture
def stand_in_explain(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for the library's relation_weights: the model's detections, random weights."""
    from relnet_detector.modeling.explain import top_related

    module = types.ModuleType("relnet_detector.modeling.explain")
    module.top_related = top_related  # type: ignore[attr-defined]

    def relation_weights(model: Any, image: torch.Tensor) -> _Found:
        (detections,) = model([image])
        return _Found(detections, rois=10)

    module.relation_weights = relation_weights  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "relnet_detector.modeling.explain", module)


def test_explain_draws_every_module(
    runner: CliRunner, run: Path, data: Path, tmp_path: Path, stand_in_explain: None
) -> None:
    image = sorted((data / "images" / "val").glob("*.png"))[0]
    png = tmp_path / "fig4.png"
    result = invoke(runner, "explain", run, image, "--out", png, "--device", "cpu")
    assert result.exit_code == 0, result.output
    width, _ = decodes(png)
    assert width > 2 * 480  # two modules side by side, each enlarged
    result = invoke(runner, "explain", run, image, "--out", png, "--module", "1", "--relation", "3")
    assert result.exit_code == 0, result.output
    assert decodes(png)[0] < width


def test_explain_errors(
    runner: CliRunner, run: Path, data: Path, tmp_path: Path, stand_in_explain: None
) -> None:
    image = sorted((data / "images" / "val").glob("*.png"))[0]
    png = tmp_path / "fig4.png"
    for option, value, message in [
        ("--object", "100000", "--object 100000"),
        ("--module", "2", "--module 2"),
        ("--relation", "4", "--relation 4"),
    ]:
        result = invoke(runner, "explain", run, image, "--out", png, option, value)
        assert_user_error(result, message)
    assert not png.exists()
    assert_user_error(invoke(runner, "explain", run, tmp_path / "x.png"), "x.png")
    assert_user_error(invoke(runner, "explain", run, image, "--out", tmp_path / "a" / "b.png"))
    assert_usage_error(invoke(runner, "explain", run, image, "--object", "-1"))
    # the page: --out and --html exclusive, the PNG of one image only, the page's folder exists
    html = tmp_path / "page.html"
    assert_user_error(invoke(runner, "explain", run, image, "--out", png, "--html", html), "--out")
    assert_user_error(invoke(runner, "explain", run, image, image, "--out", png), "--html")
    assert_user_error(invoke(runner, "explain", run, image, "--html", tmp_path / "a" / "b.html"))
    assert_usage_error(invoke(runner, "explain", run, image, "--html", html, "--min-score", "2"))
    assert not html.exists()
    assert not png.exists()


def test_explain_with_the_library(runner: CliRunner, run: Path, data: Path, tmp_path: Path) -> None:
    pytest.importorskip("relnet_detector.modeling.explain")
    image = sorted((data / "images" / "val").glob("*.png"))[0]
    png = tmp_path / "fig4.png"
    result = invoke(runner, "explain", run, image, "--out", png, "--device", "cpu")
    assert result.exit_code == 0, result.output
    decodes(png)


def test_explain_draws_the_weights_the_library_returns(
    runner: CliRunner, run: Path, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: the objects and numbers drawn are the library's top weights of the reference."""
    from relnet_cli.render import boxes as render_boxes
    from relnet_detector import load_detector
    from relnet_detector.modeling.explain import relation_weights

    drawn: list[Any] = []
    monkeypatch.setattr(render_boxes, "draw_relations", lambda *args: drawn.append(args))
    image = sorted((data / "images" / "val").glob("*.png"))[0]
    args = ["--out", tmp_path / "fig4.png", "--device", "cpu", "--object", "1", "--top", "3"]
    result = invoke(runner, "explain", run, image, *args)
    assert result.exit_code == 0, result.output
    (call,) = drawn
    panels = call[3]
    model = load_detector(run / "checkpoint.pt").model.eval()
    pixels = torch.from_numpy(np.array(Image.open(image).convert("RGB"))).permute(2, 0, 1)
    with torch.inference_mode():
        found = relation_weights(model, pixels.float() / 255)
    reference = int(found.roi_index[1])
    assert len(panels) == len(found.weights)
    for weights, panel in zip(found.weights, panels, strict=True):
        row = weights[:, reference, :].sum(0).clone()  # [N], all relations
        row[reference] = float("-inf")
        top = row.topk(3)
        assert panel.weights == pytest.approx(top.values.tolist())
        assert torch.equal(panel.boxes, found.roi_boxes[top.indices])


@pytest.mark.parametrize("dedup", [None, "nms", "learned"])
def test_export_gives_the_eager_detections(
    runner: CliRunner, run: Path, data: Path, tmp_path: Path, dedup: str | None
) -> None:
    """The TorchScript file gives the run's detections with the chosen remover (by default the
    run's own, e2e) on every val image; the ONNX file is written (its equality in onnxruntime:
    relnet-detector's test_export)."""
    from relnet_dedup import DedupConfig, build_dedup_network, save_checkpoint
    from relnet_detector import load_detector

    loaded = load_detector(run / "checkpoint.pt")
    model = loaded.model.eval()
    remover = dataclasses.replace(loaded.config.model.remover, method=dedup or "e2e")
    options: list[object] = [] if dedup is None else ["--dedup", dedup]
    if dedup == "learned":  # a network of the head's feature size, untrained
        torch.manual_seed(0)
        network = build_dedup_network(
            DedupConfig(feat_dim=model.box_head.out_dim, embed_dim=16, num_relations=2, key_dim=8)
        )
        save_checkpoint(network, tmp_path / "dedup.pt")
        remover = dataclasses.replace(remover, checkpoint=str(tmp_path / "dedup.pt"))
        options += ["--dedup-model", tmp_path / "dedup.pt"]
    model.set_remover(remover)
    images = sorted((data / "images" / "val").glob("*.png"))
    for image in images:  # the first image the 1-epoch model detects something in
        result = invoke(runner, "export", run, "--image", image, "--out", tmp_path / "d.pt",
                        "--format", "torchscript", *options)  # fmt: skip
        if result.exit_code == 0:
            break
        assert_user_error(result, "detects nothing")
    else:
        pytest.skip("the 1-epoch run detects nothing in the val images")
    assert f"remover {remover.method}" in " ".join(result.stdout.split())  # rich wraps lines
    traced = torch.jit.load(str(tmp_path / "d.pt"))
    for other in images:
        pixels = torch.from_numpy(np.array(Image.open(other).convert("RGB"))).permute(2, 0, 1)
        pixels = pixels.float() / 255
        with torch.inference_mode():
            (expected,) = model([pixels])
        boxes, labels, scores = traced(pixels)
        assert torch.equal(labels, expected["labels"])
        torch.testing.assert_close(boxes, expected["boxes"], rtol=0, atol=1e-3)
        torch.testing.assert_close(scores, expected["scores"], rtol=0, atol=1e-5)
    onnx_file = tmp_path / "d.onnx"
    result = invoke(runner, "export", run, "--image", image, "--out", onnx_file, *options)
    assert result.exit_code == 0, result.output
    assert onnx_file.stat().st_size > 0


def test_export_errors(runner: CliRunner, run: Path, data: Path, tmp_path: Path) -> None:
    image = sorted((data / "images" / "val").glob("*.png"))[0]
    out = tmp_path / "d.onnx"
    result = invoke(runner, "export", run, "--image", image, "--out", out, "--format", "tflite")
    assert_user_error(result, "'tflite'")
    assert_usage_error(invoke(runner, "export", run, "--image", image, "--out", out, "--dedup",
                              "soft-nms"))  # fmt: skip
    result = invoke(runner, "export", run, "--image", image, "--out", out, "--dedup", "learned")
    assert_user_error(result, "--dedup-model")
    assert_user_error(
        invoke(runner, "export", run, "--image", tmp_path / "x.png", "--out", out), "x.png"
    )
    assert_user_error(
        invoke(runner, "export", run, "--image", image, "--out", tmp_path / "a" / "d.onnx")
    )
    assert not out.exists()
