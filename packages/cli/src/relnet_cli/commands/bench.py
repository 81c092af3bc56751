"""``relnet bench``: the speed tables of the attention, dedup and detector benchmarks.

The benchmark scripts live in a checkout of the repository (``packages/*/benchmarks/``), not in
the installed wheels; each runs in its own Python process and prints its own rich table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..console import stderr, stdout
from ..errors import CliError
from ..options import split_list

SCRIPTS: dict[str, str] = {
    "attention": "packages/attention/benchmarks/bench_relation.py",
    "dedup": "packages/dedup/benchmarks/bench_speed.py",
    "detector": "packages/detector/benchmarks/bench_speed.py",
}


def find_repo(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that holds ``packages/*/benchmarks``."""
    for folder in (start, *start.parents):
        if any((folder / script).parent.is_dir() for script in SCRIPTS.values()):
            return folder
    return None


def bench(
    repo: Annotated[
        Path | None,
        typer.Option(
            help="A checkout of the relnet repository (default: the nearest one above the "
            "current folder).",
            show_default=False,
        ),
    ] = None,
    only: Annotated[
        str, typer.Option(help="Which benchmarks, comma-separated: attention, dedup, detector.")
    ] = ",".join(SCRIPTS),
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, help="CPU threads (each script's --threads); default: each script's own."
        ),
    ] = None,
) -> None:
    """Print the speed tables of the attention, dedup and detector benchmarks.

    The benchmark scripts are part of the repository, not of the installed
    packages: run this inside a checkout or give [bold]--repo[/bold].

    [bold]Example:[/bold]

        relnet bench --only attention,dedup --threads 2
    """
    names = split_list(only, tuple(SCRIPTS), "--only")
    if repo is None:
        found = find_repo(Path.cwd().resolve())
        if found is None:
            raise CliError(
                f"no relnet checkout (packages/*/benchmarks) at or above {Path.cwd()}; "
                "run inside a clone of the repository or pass --repo PATH"
            )
        repo = found
    elif not repo.is_dir():
        raise CliError(f"--repo {repo} is not a directory")
    scripts = {name: repo / SCRIPTS[name] for name in names}
    missing = [name for name, path in scripts.items() if not path.is_file()]
    if len(missing) == len(scripts):
        raise CliError(
            f"no benchmark script in {repo}: looked for "
            + ", ".join(SCRIPTS[name] for name in missing)
        )
    env = dict(os.environ)
    extra: list[str] = []
    if threads is not None:  # every script takes --threads; its subprocesses read the env
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        extra = ["--threads", str(threads)]
    notes, out = stderr(), stdout()
    failed = []
    for name, path in scripts.items():
        if name in missing:
            notes.print(f"[yellow]skipped {name}: {path} not found[/yellow]")
            continue
        out.rule(f"{name}: {path.relative_to(repo)}")
        code = _run([str(path), *extra], repo, env)
        if code != 0:
            failed.append(f"{path.name} ({name}) exited with code {code}")
    if failed:
        raise CliError("benchmark failed: " + "; ".join(failed))


def _run(script: list[str], repo: Path, env: dict[str, str]) -> int:
    """Run ``python SCRIPT ARGS``; on a terminal it prints directly, else through our stdout."""
    command = [sys.executable, *script]
    try:
        interactive = sys.stdout.isatty() and sys.stdout.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        interactive = False
    if interactive:
        return subprocess.run(command, cwd=repo, env=env, check=False).returncode
    with subprocess.Popen(
        command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            typer.echo(line, nl=False)
    return process.returncode
