"""Seeds derived from other seeds: one well-mixed 63-bit seed from any integers.

The detector seeds each image's augmentation and sampling with ``mix_seed(run_seed, epoch,
image)``, so that what a run draws depends on the image and not on the process or the order.

Example:
    >>> mix_seed(0, 1, 2) == mix_seed(0, 1, 2) != mix_seed(0, 2, 1)
    True
"""

from __future__ import annotations

import numpy as np

__all__ = ["mix_seed"]

_MASK64 = (1 << 64) - 1


def mix_seed(*values: int) -> int:
    """A well-mixed seed in ``[0, 2**63)`` from integers (``numpy.random.SeedSequence``); every
    value is taken modulo ``2**64``."""
    entropy = [int(v) & _MASK64 for v in values]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)
