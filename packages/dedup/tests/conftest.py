"""Register the ``cuda`` mark (tests that need a CUDA device, skipped without one) and the
``hide_imports`` fixture."""

from __future__ import annotations

import builtins
from collections.abc import Callable

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped on CPU-only machines")


@pytest.fixture
def hide_imports(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``hide_imports("rich")``: from then on (until the test ends) importing ``rich`` or any of
    its submodules raises ``ImportError``, as if it were not installed."""
    real_import = builtins.__import__

    def hide(prefix: str) -> None:
        def fake_import(name: str, *args: object, **kwargs: object) -> object:
            if name.startswith(prefix):
                raise ImportError(name)
            return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(builtins, "__import__", fake_import)

    return hide
