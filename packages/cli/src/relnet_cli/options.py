"""Option values shared by several commands, parsed into what the libraries take."""

from __future__ import annotations

import typer

from .errors import CliError


def resolve_device(name: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` after checking that it exists here."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise CliError(f"--device {name!r}: expected cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise CliError(f"--device {name}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise CliError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif device.type != "cpu":
        raise CliError(f"--device {name!r}: expected cpu, cuda or cuda:N")
    return str(device)


def split_list(value: str, choices: tuple[str, ...], option: str) -> list[str]:
    """``"a,b"`` as ``["a", "b"]``, each one of ``choices`` (else a usage error, exit code 2)."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise typer.BadParameter(f"give at least one of {', '.join(choices)}", param_hint=option)
    unknown = [v for v in items if v not in choices]
    if unknown:
        raise typer.BadParameter(
            f"unknown {', '.join(map(repr, unknown))}; choose from {', '.join(choices)}",
            param_hint=option,
        )
    return list(dict.fromkeys(items))
