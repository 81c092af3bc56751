"""DDP: two gloo processes on batches of B take the step one process takes on 2B images.

What makes the two runs comparable (and is how training works, not a test-only patch):

- the weights start from the same seed (and DDP broadcasts rank 0's anyway);
- ``DistributedSampler`` deals the epoch's shuffled indices round-robin, so the two processes'
  first batches together hold exactly the single process's first batch;
- augmentation and the RPN's and RoI heads' positive/negative sampling draw from a generator per
  image seeded by (seed, epoch, image) (:mod:`relnet_detector.engine.seeding`), so every image gets
  the same flips and the same sampled anchors and RoIs whichever process handles it;
- the losses are means over sampled anchors / RoIs, and every image samples as many (the test's
  images are all 96x96 and give enough proposals), so the mean of two half-batch means is the
  full-batch mean, which is what DDP's gradient averaging computes.

The end-to-end remover's loss is a mean over (image, class) groups of varying size, so the mean
of two half-batch means is not the full-batch mean: with it, only the parameters it does not
reach (the backbone and the RPN: its gradient stops at the pooled features) match exactly; the
rest differ by that weighting.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from conftest import tiny_config, write_coco_folder

from relnet_detector.config import DetectorConfig
from relnet_detector.engine.checkpoint import load_detector
from relnet_detector.engine.metrics_log import read_metrics
from relnet_detector.engine.rng_state import seed_everything
from relnet_detector.engine.train import train
from relnet_detector.modeling.model import build_detector


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(
    rank: int, world: int, port: int, config: DetectorConfig, data: Path, out: Path
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    train(config, data, out, device="cpu", progress=False, max_steps=1)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_detector(run / "checkpoint.pt").model.state_dict()


@pytest.mark.parametrize("remover", ["nms", "e2e"])
def test_two_processes_equal_one_process_on_the_combined_batch(
    tmp_path: Path, remover: str
) -> None:
    data = write_coco_folder(tmp_path / "coco", num_images=6, category_ids=(4, 8, 15))
    per_process = tiny_config(remover, batch_size=2, hflip=0.5, lr=0.05, clip_grad_norm=0.0)
    combined = tiny_config(remover, batch_size=4, hflip=0.5, lr=0.05, clip_grad_norm=0.0)
    mp.start_processes(
        _worker,
        args=(2, _free_port(), per_process, data, tmp_path / "ddp"),
        nprocs=2,
        join=True,
        # fork: no second import of torch (seconds instead of tens of seconds on a busy CPU)
        start_method="fork" if "fork" in mp.get_all_start_methods() else "spawn",
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(combined, data, tmp_path / "one", device="cpu", progress=False, max_steps=1)
        train(per_process, data, tmp_path / "half", device="cpu", progress=False, max_steps=1)
    finally:
        torch.set_num_threads(threads)

    ddp, one, half = (
        _weights(tmp_path / "ddp"),
        _weights(tmp_path / "one"),
        _weights(tmp_path / "half"),
    )
    moved = max(float((ddp[k].float() - half[k].float()).abs().max()) for k in ddp)
    assert moved > 1e-4  # one process on half the batch takes a clearly different step
    exact = [n for n in one if remover == "nms" or n.startswith(("backbone.", "rpn."))]
    assert len(exact) > 10
    for name in exact:
        torch.testing.assert_close(ddp[name], one[name], rtol=1e-5, atol=1e-6, msg=name)
    if remover == "e2e":  # the dedup loss's group weighting: close, not equal
        seed_everything(combined.train.seed)
        start = build_detector(combined.model, 3).state_dict()  # train()'s initial weights
        for name in ("roi_heads.dedup.classifier.weight", "roi_heads.box_head.fc6.weight"):
            step_ddp, step_one = ddp[name] - start[name], one[name] - start[name]
            assert float((step_ddp - step_one).norm()) < 0.5 * float(step_one.norm()), name
    (ddp_log,) = read_metrics(tmp_path / "ddp" / "metrics.jsonl")
    (one_log,) = read_metrics(tmp_path / "one" / "metrics.jsonl")
    keys = ["loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"]
    for key in keys if remover == "e2e" else ["loss", *keys]:
        assert ddp_log[key] == pytest.approx(one_log[key], rel=1e-5), key
    if remover == "e2e":
        assert ddp_log["loss_dedup"] == pytest.approx(one_log["loss_dedup"], rel=0.5)
