"""Register the ``cuda`` mark: tests that need a CUDA device (skipped without one)."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped on CPU-only machines")
