"""RelationModule against a direct transliteration of the authors' MXNet formulation (paper §3).

The direct form (the authors' ``extract_position_matrix`` + ``extract_position_embedding`` +
``attention_module_multi_head``, with ``w = x2 - x1`` as in DESIGN.md) materialises the
``[N, N, d_g]`` geometry embedding, aggregates the raw ``d_f``-wide features for each relation
(``[N_r, N, N] @ [N, d_f]``) and then applies the grouped 1x1 projection. ``RelationModule``
projects the values first and computes the geometry weight chunk by chunk, recomputing it in
backward. Both use the same parameters (copied from the module). Precision: the largest absolute
error of each one's float32 output against the direct form evaluated in float64 on the same
inputs; the module's may exceed the direct form's by at most 1e-5 (DESIGN.md), or the run fails.

Method:
    * Time: the median of ``--repeats`` calls after one warm-up call, wall clock
      (``time.perf_counter``), with ``torch.get_num_threads()`` threads, in this process; the two
      implementations alternate call by call, so a change of machine load hits both alike.
      ``forward`` runs under
      ``torch.no_grad()``; ``fwd+bwd`` runs the forward with gradients for the features and every
      parameter, then ``backward`` with a fixed random output gradient.
    * Peak memory: every (implementation, N, mode) runs in a fresh subprocess whose glibc returns
      every allocation of 1 MiB or more to the system when it is freed
      (``MALLOC_MMAP_THRESHOLD_=1048576``), so the resident set follows the live tensors. After
      building the inputs and parameters and one warm-up call (one-time caches: BLAS buffers, code
      pages), the process resets its resident-set high-water mark (writing ``5`` to
      ``/proc/self/clear_refs``, Linux), reads its resident set ``VmRSS``, makes the measured call
      once and reports ``VmHWM - VmRSS`` from ``/proc/self/status``: the extra physical memory the
      call needed at its peak (forward and, in ``fwd+bwd``, backward). Where the mark cannot be
      reset (not Linux) it reports the increase of ``ru_maxrss`` instead, which can under-estimate.

    * Fresh process (``--fresh [N ...]``, issue 9): what a user sees. Each implementation alone
      in a new interpreter with the default allocator (no ``MALLOC_*`` variables), the paper's
      module, forward+backward: the rise of ``VmHWM`` over the first four calls above ``VmRSS``
      before the first (one-time costs included: torch's first ``backward(grad)`` imports sympy,
      about 70 MB for either implementation); the time columns are the side-by-side medians.

Run standalone (``python bench_relation.py --sizes 100 300``) or through
``nox -s "bench(package='attention')"``.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch import Tensor

from relnet_attention import RelationModule

IMPLS = ("relation", "direct")
MODES = ("forward", "fwd+bwd")
SLACK = 1e-5  # float32: no further from float64 than the direct form is, plus this (DESIGN.md)
TIME_TARGET, MEMORY_TARGET = 0.7, 0.5  # at N >= 1000, forward+backward, relation / direct
FRESH_CALLS, FRESH_TIME_TARGET = 4, 0.5  # the fresh-process measure (issue 9)


def direct_relation(module: RelationModule) -> Callable[[Tensor, Tensor], Tensor]:
    """The authors' formulation with ``module``'s parameters: ``f -> f + attention(f)``."""
    nr, df, dg = module.num_relations, module.feat_dim, module.geo_dim
    assert module.geo_proj is not None
    params = {
        name: p.detach().clone().requires_grad_(True)
        for name, p in [
            ("wq", module.query.weight),
            ("bq", module.query.bias),
            ("wk", module.key.weight),
            ("bk", module.key.bias),
            ("wg", module.geo_proj.weight),
            ("bg", module.geo_proj.bias),
            # Grouped 1x1 convolution: group r maps the r-th aggregate (d_f) to d_f / N_r outputs.
            ("wo", module.value.weight.view(nr, df // nr, df)),  # [Nr, df/Nr, df]
            ("bo", module.value.bias),
        ]
    }

    def position_embedding(boxes: Tensor) -> Tensor:
        x1, y1, x2, y2 = (boxes[:, i : i + 1] for i in range(4))  # [N, 1] each
        w, h = x2 - x1, y2 - y1
        cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2)
        dx = torch.log(torch.clamp(((cx - cx.t()) / w).abs(), min=1e-3))  # [N, N]
        dy = torch.log(torch.clamp(((cy - cy.t()) / h).abs(), min=1e-3))  # [N, N]
        dw, dh = torch.log(w / w.t()), torch.log(h / h.t())  # [N, N]
        pos = torch.stack([dx, dy, dw, dh], dim=2)  # [N, N, 4]
        feat_range = torch.arange(dg // 8, dtype=boxes.dtype)  # [dg/8]
        dim_mat = 1000.0 ** ((8.0 / dg) * feat_range)  # [dg/8]
        div = (100.0 * pos)[..., None] / dim_mat  # [N, N, 4, dg/8]
        emb = torch.cat([div.sin(), div.cos()], dim=3)  # [N, N, 4, dg/4]
        return emb.reshape(*emb.shape[:2], dg)  # [N, N, dg]

    def forward(features: Tensor, boxes: Tensor) -> Tensor:
        n = features.shape[0]
        emb = position_embedding(boxes)  # [N, N, dg]
        aff_weight = F.relu(F.linear(emb.reshape(n * n, dg), params["wg"], params["bg"]))
        aff_weight = aff_weight.view(n, n, nr).permute(0, 2, 1)  # [N, Nr, N]
        q = F.linear(features, params["wq"], params["bq"]).view(n, nr, -1).transpose(0, 1)
        k = F.linear(features, params["wk"], params["bk"]).view(n, nr, -1).transpose(0, 1)
        aff = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])  # [Nr, N, N]
        weighted = torch.log(torch.clamp(aff_weight, min=1e-6)) + aff.transpose(0, 1)
        soft = weighted.softmax(dim=2)  # [N, Nr, N]
        out_t = soft.reshape(n * nr, n) @ features  # [N * Nr, df]
        out_t = out_t.view(n, nr, df).transpose(0, 1)  # [Nr, N, df]
        linear = out_t @ params["wo"].transpose(1, 2)  # [Nr, N, df/Nr]
        return features + linear.transpose(0, 1).reshape(n, df) + params["bo"]  # [N, df]

    return forward


def make_inputs(n: int, seed: int = 0) -> tuple[RelationModule, Tensor, Tensor]:
    """The paper's default module and ``n`` random boxes (pixels) and features."""
    torch.manual_seed(seed)
    module = RelationModule(feat_dim=1024, num_relations=16, key_dim=64, geo_dim=64)
    torch.nn.init.normal_(module.query.weight, std=0.05)  # a less uniform attention than std 0.01
    torch.nn.init.normal_(module.key.weight, std=0.05)
    xy = torch.rand(n, 2) * 800
    boxes = torch.cat([xy, xy + 8 + torch.rand(n, 2) * 200], dim=1)  # [N, 4]
    return module, torch.randn(n, 1024), boxes


def make_call(impl: str, n: int, mode: str) -> Callable[[], None]:
    """One call of ``impl`` at size ``n``: ``forward`` without gradients, or ``fwd+bwd``."""
    module, features, boxes = make_inputs(n)
    fn = module if impl == "relation" else direct_relation(module)
    grad_out = torch.randn_like(features)

    def call() -> None:
        if mode == "forward":
            with torch.no_grad():
                fn(features, boxes)
        else:
            out = fn(features.detach().requires_grad_(True), boxes)
            out.backward(grad_out)

    return call


def peak_memory(impl: str, n: int, mode: str) -> float:
    """The resident-set increase in MiB during one warm call (run in a fresh process)."""
    call = make_call(impl, n, mode)
    call()  # warm-up: one-time caches
    before = reset_peak_rss()
    call()
    return (peak_rss() - before) / 1024


def fresh_rise(impl: str, n: int, calls: int = FRESH_CALLS) -> tuple[float, float]:
    """In this (fresh) process: the rise of peak resident memory over the first ``calls``
    forward+backward calls, in MiB, and the median time of the calls after the first, in ms.

    The rise is ``VmHWM`` after the calls minus ``VmRSS`` before the first (inputs and parameters
    built): what a user sees, one-time caches and the C allocator's retained heap included.
    """
    call = make_call(impl, n, "fwd+bwd")
    before = _proc_status("VmRSS")
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return (_proc_status("VmHWM") - before) / 1024, 1e3 * statistics.median(times[1:])


def measure_fresh(impl: str, n: int) -> tuple[float, float]:
    """:func:`fresh_rise` in a fresh interpreter with the default allocator (no ``MALLOC_*``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    cmd = [sys.executable, __file__, "--fresh-worker", impl, str(n)]
    cmd += ["--threads", str(torch.get_num_threads())]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    rise, ms = out.stdout.strip().splitlines()[-1].split()
    return float(rise), float(ms)


def fresh_table(console: Console, sizes: list[int], repeats: int) -> list[str]:
    """The fresh-process table (issue 9): each implementation alone in a new process, default
    allocator, ``RelationModule()`` defaults, forward+backward; returns the target lines."""
    table = Table(
        title=f"Fresh process, default allocator: rise of peak resident memory over the first "
        f"{FRESH_CALLS} fwd+bwd calls (torch threads: {torch.get_num_threads()})"
    )
    for column in ["N", "relation MiB", "direct MiB", "memory ratio"]:
        table.add_column(column, justify="right")
    for column in ["relation ms", "direct ms", "time ratio"]:
        table.add_column(column, justify="right")
    targets = []
    for n in sizes:
        rise = {impl: measure_fresh(impl, n)[0] for impl in IMPLS}
        ms = median_times(n, "fwd+bwd", repeats)  # side by side, in this process
        mem = rise["relation"] / max(rise["direct"], 1e-9)
        ratio = ms["relation"] / ms["direct"]
        table.add_row(
            str(n),
            f"{rise['relation']:.0f}",
            f"{rise['direct']:.0f}",
            f"{mem:.2f}x",
            f"{ms['relation']:.0f}",
            f"{ms['direct']:.0f}",
            f"{ratio:.2f}x",
        )
        targets.append(
            f"N={n} fresh process: memory {mem:.2f}x (target <= {MEMORY_TARGET}x) "
            f"{'met' if mem <= MEMORY_TARGET else 'MISSED'}, time {ratio:.2f}x (target <= "
            f"{FRESH_TIME_TARGET}x) {'met' if ratio <= FRESH_TIME_TARGET else 'MISSED'}"
        )
    console.print(table)
    console.print(
        "memory: VmHWM after the calls minus VmRSS before the first, one process per "
        "implementation and N; time: median of warm calls, the two alternating, in this process"
    )
    return targets


def median_times(n: int, mode: str, repeats: int) -> dict[str, float]:
    """Median time in ms of each implementation, the two alternating call by call."""
    calls = {impl: make_call(impl, n, mode) for impl in IMPLS}
    times: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    for impl in IMPLS:
        calls[impl]()  # warm-up
    for _ in range(repeats):
        for impl in IMPLS:
            start = time.perf_counter()
            calls[impl]()
            times[impl].append(time.perf_counter() - start)
    return {impl: 1e3 * statistics.median(t) for impl, t in times.items()}


def reset_peak_rss() -> int:
    """Reset the resident-set high-water mark where Linux allows it; the current mark in KiB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _proc_status("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def peak_rss() -> int:
    """The resident-set high-water mark in KiB (``VmHWM``, or ``ru_maxrss`` without ``/proc``)."""
    try:
        return _proc_status("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _proc_status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # "VmHWM:   123456 kB"
    raise OSError(f"{key} not in /proc/self/status")


def float64_errors(n: int) -> tuple[float, float]:
    """Largest absolute error of the relation module's and the direct form's float32 outputs
    against the direct form evaluated in float64 on the same (float32) inputs and weights."""
    module, features, boxes = make_inputs(n)
    with torch.no_grad():
        truth = direct_relation(copy.deepcopy(module).double())(features.double(), boxes.double())
        ours = module(features, boxes).double()
        direct = direct_relation(module)(features, boxes).double()
    return float((ours - truth).abs().max()), float((direct - truth).abs().max())


def measure_memory(impl: str, n: int, mode: str) -> float:
    """:func:`peak_memory` in a fresh interpreter whose glibc returns large blocks when freed."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}
    cmd = [sys.executable, __file__, "--worker", impl, str(n), mode]
    cmd += ["--threads", str(torch.get_num_threads())]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's)"
    )
    parser.add_argument(
        "--fresh",
        type=int,
        nargs="*",
        default=None,
        help="only the fresh-process table, at these N (default 300 1000)",
    )
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)  # IMPL N MODE: memory
    parser.add_argument("--fresh-worker", nargs=2, help=argparse.SUPPRESS)  # IMPL N
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.worker:
        impl, n, mode = args.worker
        print(peak_memory(impl, int(n), mode))
        return
    if args.fresh_worker:
        rise, ms = fresh_rise(args.fresh_worker[0], int(args.fresh_worker[1]))
        print(f"{rise} {ms}")
        return
    if args.fresh is not None:
        for line in fresh_table(Console(width=140), args.fresh or [300, 1000], args.repeats):
            print(line)
        return

    console = Console(width=140)
    table = Table(
        title=f"RelationModule vs direct form (d_f 1024, N_r 16, d_k 64, d_g 64; "
        f"CPU, torch threads: {torch.get_num_threads()}, torch {torch.__version__})"
    )
    for column in ["N", "mode", "relation ms", "direct ms", "time ratio"]:
        table.add_column(column, justify="right")
    for column in ["relation MiB", "direct MiB", "memory ratio", "error: relation / direct"]:
        table.add_column(column, justify="right")
    worst_excess = -math.inf
    targets = []
    for n in args.sizes:
        error, direct_error = float64_errors(n)
        worst_excess = max(worst_excess, error - direct_error)
        for mode in MODES:
            ms = median_times(n, mode, args.repeats)
            mib = {impl: measure_memory(impl, n, mode) for impl in IMPLS}
            if n >= 1000 and mode == "fwd+bwd":
                time_ratio = ms["relation"] / ms["direct"]
                memory_ratio = mib["relation"] / max(mib["direct"], 1e-9)
                targets.append(
                    f"N={n} fwd+bwd: time {time_ratio:.2f}x (target <= {TIME_TARGET}x) "
                    f"{'met' if time_ratio <= TIME_TARGET else 'MISSED'}, memory "
                    f"{memory_ratio:.2f}x (target <= {MEMORY_TARGET}x) "
                    f"{'met' if memory_ratio <= MEMORY_TARGET else 'MISSED'}"
                )
            table.add_row(
                str(n),
                mode,
                f"{ms['relation']:.1f}",
                f"{ms['direct']:.1f}",
                f"{ms['relation'] / ms['direct']:.2f}x",
                f"{mib['relation']:.1f}",
                f"{mib['direct']:.1f}",
                f"{mib['relation'] / max(mib['direct'], 1e-9):.2f}x",
                f"{error:.1e} / {direct_error:.1e}",
            )
    console.print(table)
    console.print(
        "time: median wall clock of warm calls; memory: peak resident-set increase during one warm "
        "call, fresh process (see the docstring)"
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    console.print(
        f"load average after the run: {load} on {os.cpu_count()} CPUs (other processes slow the "
        "many small kernels of the chunked form more than the direct form's few large ones; "
        "compare on a quiet machine or with --threads 1)"
    )
    for line in targets:
        console.print(line)
    if worst_excess > SLACK:
        console.print(
            f"[red]float32 error exceeds the direct form's by {worst_excess:.1e} "
            f"> {SLACK:.0e}[/red]"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
