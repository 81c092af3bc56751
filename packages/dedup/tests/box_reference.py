"""Slow pure-Python IoU shared by the NMS and Soft-NMS references."""


def iou_py(a: list[float], b: list[float]) -> float:
    """IoU of two ``(x1, y1, x2, y2)`` boxes; 0 when the union is empty."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
