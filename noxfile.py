"""Sessions for the relnet monorepo: every package is tested in its own fresh environment.

nox -s tests                         # every package
nox -s "tests(package='geometry')"   # one package
nox -s lint typecheck layers         # ruff, mypy, import-linter
nox -s peers                         # dedup against torchvision and ensemble-boxes
nox -s build                         # wheels and sdists into dist/, relnet-dedup installed alone
nox -s demo                          # the main job on the built-in benchmark (runs/demo/)
nox -s bench                         # benchmarks that print tables
nox -s smoke                         # the headline and paper benchmarks end to end, few images
nox -s paper                         # the paper's ablation tables (hours; resumable)
nox -s viewer                        # the relation viewer in headless Chromium (apt chromium)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests", "lint", "typecheck", "layers"]

ROOT = Path(__file__).parent
PACKAGES = sorted(path.parent.name for path in ROOT.glob("packages/*/pyproject.toml"))
CONSTRAINTS = ["-c", str(ROOT / "constraints.txt")]


def local_requirements(package: str) -> list[str]:
    """Paths of the in-repo packages ``package`` needs, lowest layer first, then itself."""
    pyproject = tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())
    paths: list[str] = []
    for requirement in pyproject["project"]["dependencies"]:
        name = requirement.split(">")[0].split("<")[0].split("=")[0].strip()
        if name.startswith("relnet-"):
            for path in local_requirements(name.removeprefix("relnet-")):
                if path not in paths:
                    paths.append(path)
    paths.append(str(ROOT / "packages" / package))
    return paths


def all_local_requirements() -> list[str]:
    """Paths of every in-repo package, each once, lowest layer first."""
    return list(dict.fromkeys(path for pkg in PACKAGES for path in local_requirements(pkg)))


def install(session: nox.Session, package: str, extras: str = "test") -> None:
    """Install ``package`` with ``extras`` (none if empty) and only its declared dependencies."""
    *deps, own = local_requirements(package)
    session.install(*CONSTRAINTS, *deps, f"{own}[{extras}]" if extras else own)


@nox.session
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests in an environment holding only that package and its dependencies."""
    install(session, package)
    session.run("pytest", str(ROOT / "packages" / package / "tests"), "-q", *session.posargs)


PEERS = ["torchvision", "ensemble-boxes>=1.0.9,<2"]


@nox.session
def peers(session: nox.Session) -> None:
    """relnet-dedup's comparisons with its peers (torchvision NMS, ensemble-boxes Soft-NMS).

    ``nox -s tests`` tests dedup alone, without its peers, so these comparisons skip there; here
    the peers are installed and a comparison that still skips fails the session.
    """
    install(session, "dedup")
    session.install(*CONSTRAINTS, *PEERS)
    report = Path(session.create_tmp()) / "peers.xml"
    tests = ROOT / "packages" / "dedup" / "tests"
    session.run("pytest", str(tests), "-q", f"--junitxml={report}", *session.posargs)
    skipped = [
        f"{case.get('classname')}::{case.get('name')}: {skip.get('message')}"
        for case in ET.parse(report).iter("testcase")
        for skip in case.iter("skipped")
        if "cuda" not in (skip.get("message") or "").lower()
    ]
    if skipped:
        session.error("peer comparisons skipped:\n" + "\n".join(skipped))


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: train ``tiny`` (2fc+RM head, learned remover end to end) on the built-in
    benchmark (generated into the cache on first use), evaluate it with NMS, Soft-NMS and the
    learned remover, and draw detections and relation weights, all into ``runs/demo/``.

    Run again, it resumes or reuses the finished run; extra arguments go to ``relnet train``
    (``nox -s demo -- --epochs 1``).
    """
    started = time.monotonic()
    install(session, "cli", extras="")
    run = ROOT / "runs" / "demo"
    fresh = not (run / "checkpoint.pt").is_file()
    resume = [] if fresh else ["--resume"]
    session.run("relnet", "train", "--out", str(run), *resume, *session.posargs)
    removers = "nms,soft-nms,e2e,oracle"
    session.run("relnet", "eval", str(run), "--dedup", removers, "--json", str(run / "eval.json"))
    (run / "eval.md").write_text(eval_markdown(json.loads((run / "eval.json").read_text())))
    data = Path(json.loads((run / "run.json").read_text())["data"])
    images = [str(p) for p in sorted((data / "images" / "val").glob("*.png"))[:4]]
    session.run("relnet", "predict", str(run), *images, "--out", str(run / "predict"))
    session.run("relnet", "explain", str(run), images[0], "--out", str(run / "explain.png"))
    if fresh:  # the time a user waits, from the environment to the pictures
        timing = {
            "seconds": time.monotonic() - started,
            "cpus": os.cpu_count(),
            "load_15min": os.getloadavg()[2],  # other work on the machine slows the demo
        }
        (run / "session.json").write_text(json.dumps(timing) + "\n")
    session.log(f"the run, its table (eval.json, eval.md) and pictures: {run}")


def eval_markdown(report: dict) -> str:
    """``relnet eval --json``'s numbers as the markdown table the root README quotes."""
    lines = [
        "| remover | mAP | mAP50 | mAP75 | crowd AP | crowd R@.5 | network ms/img "
        "| removal ms/img |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["removers"]:
        stats, crowd = row["stats"], row["crowd"]
        cells = [
            stats["AP"],
            stats["AP50"],
            stats["AP75"],
            crowd["crowd_AP"],
            crowd["crowd_recall50"],
        ]
        lines.append(
            f"| {row['name']} | " + " | ".join(f"{100 * v:.1f}" for v in cells)
            + f" | {row['network_ms']:.1f} | {row['removal_ms']:.2f} |"
        )  # fmt: skip
    return "\n".join(lines) + "\n"


PAPER_TABLES = ("## Table 1", "## Table 2", "## Table 3", "## Table 4")


@nox.session
def smoke(session: nox.Session) -> None:
    """``headline.py --smoke``: every arm trains a few steps on 16 images, every remover (the
    learned ones fitted for an epoch) is evaluated and the tables are written; under a minute.
    Then ``paper.py --smoke``: every arm of the paper's tables the same way, into a temporary
    folder, and the tables file must hold the four tables."""
    install(session, "detector", extras="bench")
    out = Path(session.create_tmp()) / "headline-smoke"
    script = ROOT / "packages" / "detector" / "benchmarks" / "headline.py"
    session.run("python", str(script), "--smoke", "--seeds", "0", "--out", str(out))
    table = (out / "table.md").read_text()
    for row in ("NMS", "Soft-NMS", "oracle", "learned, separate", "learned, end to end"):
        if row not in table:
            session.error(f"the smoke table has no row {row!r}:\n{table}")
    out = Path(session.create_tmp()) / "paper-smoke"
    shutil.rmtree(out, ignore_errors=True)  # a fresh run each time: nothing cached
    script = ROOT / "packages" / "detector" / "benchmarks" / "paper.py"
    session.run("python", str(script), "--smoke", "--seeds", "0", "--out", str(out))
    tables = (out / "paper-tables.md").read_text()
    for heading in PAPER_TABLES:
        if heading not in tables:
            session.error(f"the smoke's paper-tables.md has no {heading!r}:\n{tables}")


@nox.session
def viewer(session: nox.Session) -> None:
    """The relation viewer (``relnet explain --html``) in headless Chromium: Debian's
    ``chromium`` and ``chromium-driver`` must be installed (``.ci/run`` installs them); a
    missing browser fails here instead of skipping. Extra arguments pass to pytest."""
    install(session, "cli", extras="test,browser")
    session.run(
        "pytest",
        str(ROOT / "packages" / "cli" / "tests" / "test_viewer_browser.py"),
        "-q",
        "-m",
        "browser",
        *session.posargs,
        env={"RELNET_BROWSER_REQUIRED": "1"},
    )


@nox.session
def paper(session: nox.Session) -> None:
    """``paper.py``: the paper's ablation tables (Tables 1-4) on the built-in benchmark, every
    arm trained and evaluated (hours on two cores; resumable: run it again to go on), written to
    ``packages/detector/docs/paper-tables.md``; extra arguments pass through
    (``nox -s paper -- --arms nr1 nr4 --threads 1``, ``nox -s paper -- --table-only``)."""
    install(session, "detector", extras="bench")
    script = ROOT / "packages" / "detector" / "benchmarks" / "paper.py"
    session.run("python", str(script), "--out", str(ROOT / "runs" / "paper"), *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check, one configuration at the root; the root README's
    package table names every package at its version."""
    session.install("ruff>=0.6,<1")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    readme = (ROOT / "README.md").read_text()
    for package in PACKAGES:
        version = ROOT / "packages" / package / "src" / f"relnet_{package}" / "_version.py"
        number = re.search(r'__version__ = "(.+)"', version.read_text())
        row = f"| [`relnet-{package}`](packages/{package}) | {number and number.group(1)} |"
        if row not in readme:
            session.error(f"README.md's package table has no row starting {row!r}")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on each package's public API."""
    session.install("mypy>=1.10,<2", *CONSTRAINTS, *all_local_requirements())
    for package in PACKAGES:
        session.run("mypy", str(ROOT / "packages" / package / "src"))


@nox.session
def layers(session: nox.Session) -> None:
    """import-linter: a lower package never imports a higher one."""
    session.install("import-linter>=2,<3", *CONSTRAINTS, *all_local_requirements())
    session.run("lint-imports")


@nox.session
@nox.parametrize(
    "package", [p for p in PACKAGES if (ROOT / "packages" / p / "benchmarks").is_dir()]
)
def bench(session: nox.Session, package: str) -> None:
    """Run a package's benchmarks (each prints a table); extra arguments pass through."""
    install(session, package, extras="bench")
    for script in sorted((ROOT / "packages" / package / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


# What `pip install relnet-dedup` may bring besides torch and its own dependencies: nothing else.
DEDUP_ALONE = {"relnet-dedup", "relnet-attention", "relnet-geometry", "relnet-core"}
NOT_WITH_DEDUP = {"torchvision", "typer", "pycocotools", "relnet-detector", "relnet-cli"}


@nox.session
def build(session: nox.Session) -> None:
    """Wheel and sdist of every package into dist/, metadata checked; then relnet-dedup alone.

    A fresh environment installs ``relnet-dedup`` from dist/ as a user would
    (``pip install --find-links dist relnet-dedup``): it must bring relnet-attention,
    relnet-geometry and torch, nothing of the detector's stack, and run the README's drop-in.
    """
    dist = ROOT / "dist"
    session.install("twine>=6.1,<8", "pkginfo>=1.12")
    for old in dist.glob("relnet_*"):
        old.unlink()
    for package in session.posargs or PACKAGES:  # nox -s build -- dedup attention geometry
        session.run("uv", "build", "-q", "--out-dir", str(dist), str(ROOT / "packages" / package))
    session.run("twine", "check", "--strict", *map(str, sorted(dist.glob("relnet_*"))))

    venv = Path(session.create_tmp()) / "dedup-alone"
    python = venv / "bin" / "python"
    session.run("uv", "venv", "-q", "--clear", str(venv), external=True)
    session.run(
        "uv", "pip", "install", "-q", "--python", str(python), *CONSTRAINTS,
        "--find-links", str(dist), "relnet-dedup", external=True,
    )  # fmt: skip
    frozen = session.run("uv", "pip", "freeze", "--python", str(python), external=True, silent=True)
    names = {re.split(r"[=@ ]", line)[0].lower() for line in str(frozen).splitlines() if line}
    relnet = {name for name in names if name.startswith("relnet-")}
    if relnet != DEDUP_ALONE or names & NOT_WITH_DEDUP:
        session.error(f"relnet-dedup brought {sorted(relnet)} and {sorted(names & NOT_WITH_DEDUP)}")
    readme = (ROOT / "packages" / "dedup" / "README.md").read_text()
    drop_in = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)[0]
    session.run(str(python), "-c", drop_in, external=True)
