"""Training: :func:`relnet_detector.train` (one process or many under torchrun, exact resume),
its loop, schedule, optimiser, seeded sampling, checkpoints, run folder, training-data checks
and metrics log.

- :mod:`~relnet_detector.engine.train`: ``train`` (not re-exported here, so that
  ``relnet_detector.engine.train`` stays the module), ``TrainResult``, ``NonFiniteLossError``.
- :mod:`~relnet_detector.engine.train_loop`: ``TrainLoop`` built from a ``TrainLoopConfig``.
- :mod:`~relnet_detector.engine.checkpoint`: every checkpoint read and write (model and training).
- :mod:`~relnet_detector.engine.run_folder`, :mod:`~relnet_detector.engine.training_data`,
  :mod:`~relnet_detector.engine.metrics_log`, :mod:`~relnet_detector.engine.progress`: the run.
- :mod:`~relnet_detector.engine.schedule`, :mod:`~relnet_detector.engine.optim`,
  :mod:`~relnet_detector.engine.seeding`, :mod:`~relnet_detector.engine.rng_state`,
  :mod:`~relnet_detector.engine.distributed`: how each step is taken and reproduced.
"""

from .checkpoint import LoadedDetector, load_detector, save_detector
from .train import NonFiniteLossError, TrainResult

__all__ = [
    "LoadedDetector",
    "NonFiniteLossError",
    "TrainResult",
    "load_detector",
    "save_detector",
]
