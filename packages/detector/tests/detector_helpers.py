"""Helpers shared by the model, roi-heads, remover and evaluation tests: rectangle images with
their targets and a briefly trained tiny detector."""

from __future__ import annotations

import torch
from conftest import tiny_config
from torch import Tensor

from relnet_detector import RelationDetector, build_detector
from relnet_detector.config import ModelConfig

NUM_CLASSES = 3


def rectangles(
    n: int, size: tuple[int, int] = (64, 64), seed: int = 0, objects: tuple[int, int] = (1, 4)
) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    """``n`` images ``[3, H, W]`` of coloured rectangles on grey (one colour per class) and
    their targets (``boxes`` float ``(x1, y1, x2, y2)``, ``labels`` 1..NUM_CLASSES)."""
    g = torch.Generator().manual_seed(seed)
    colours = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.8, 0.2], [0.2, 0.3, 0.9]])
    h, w = size
    images, targets = [], []
    for _ in range(n):
        image = torch.full((3, h, w), 0.5)
        count = int(torch.randint(objects[0], objects[1] + 1, (1,), generator=g))
        boxes, labels = [], []
        for _ in range(count):
            bw = int(torch.randint(w // 5, w // 2, (1,), generator=g))
            bh = int(torch.randint(h // 5, h // 2, (1,), generator=g))
            x = int(torch.randint(0, w - bw, (1,), generator=g))
            y = int(torch.randint(0, h - bh, (1,), generator=g))
            label = int(torch.randint(1, NUM_CLASSES + 1, (1,), generator=g))
            image[:, y : y + bh, x : x + bw] = colours[label - 1][:, None, None]
            boxes.append([x, y, x + bw, y + bh])
            labels.append(label)
        images.append(image)
        targets.append(
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor(labels, dtype=torch.int64),
            }
        )
    return images, targets


def model_config(remover: str = "e2e") -> ModelConfig:
    """The shrunk tiny preset of the shared conftest with ``remover``."""
    return tiny_config(remover=remover).model


def train(model: RelationDetector, steps: int, seed: int = 0, lr: float = 0.02) -> list[float]:
    """``steps`` SGD steps on four fixed rectangle images; the total loss of each step."""
    images, targets = rectangles(4, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    history = []
    for _ in range(steps):
        losses = model(images, targets)
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
    return history


def trained_model(remover: str = "e2e", steps: int = 6, seed: int = 0) -> RelationDetector:
    """A tiny detector trained ``steps`` steps, in eval mode."""
    torch.manual_seed(seed)
    model = build_detector(model_config(remover), NUM_CLASSES)
    train(model, steps, seed)
    return model.eval()
