"""relnet_core.files and relnet_core.checkpoints: atomic checksummed files, the umask,
temporary files, clear errors (issue 10, defects 4, 5, 6 and 9)."""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import relnet_core.files as ser
from relnet_core.checkpoints import load_file, load_versioned_file, save_file
from relnet_core.files import atomic_write, check_writable

FORMAT = "test/format"
PAYLOAD = {"weights": torch.arange(6.0).reshape(2, 3), "name": "x", "n": 3, "ok": True}


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


def write_outer(path: Path, data: bytes) -> None:
    """A file in save_file's layout around ``data``, with the right checksum."""
    digest = hashlib.sha256(data).hexdigest()
    torch.save({"format": FORMAT, "sha256": digest, "payload": data}, path)


def test_round_trip_and_layout(tmp_path: Path) -> None:
    path = save_file(PAYLOAD, tmp_path / "a.pt", format=FORMAT)
    assert path == tmp_path / "a.pt"
    loaded = load_file(path, format=FORMAT)
    assert loaded.keys() == PAYLOAD.keys()
    assert torch.equal(loaded["weights"], PAYLOAD["weights"])  # type: ignore[arg-type]
    outer = torch.load(path, weights_only=True)  # plain data at the outer level too
    assert outer["sha256"] == hashlib.sha256(outer["payload"]).hexdigest()
    inner = torch.load(io.BytesIO(outer["payload"]), weights_only=True)
    assert inner["name"] == "x"


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
@pytest.mark.usefixtures("umask")
def test_defect5_mode_follows_the_umask(tmp_path: Path, mask: int) -> None:
    """Issue 10, defect 5: files were 0600 whatever the umask; now like open() and torch.save."""
    os.umask(mask)
    path = save_file(PAYLOAD, tmp_path / "m.pt", format=FORMAT)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    plain = tmp_path / "plain.pt"
    torch.save(PAYLOAD, plain)
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = save_file(PAYLOAD, tmp_path / "a.pt", format=FORMAT)
    before = path.read_bytes()

    def fail(f: object) -> None:
        f.write(b"partial")  # type: ignore[attr-defined]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]


def test_defect9_stale_temporaries_are_removed_at_the_next_save(tmp_path: Path) -> None:
    """Issue 10, defect 9: the orphans of killed saves (0.1's mkstemp names too) are cleaned."""
    for name in [".a.pt.0123456789abcdef.tmp", ".a.pt.k2j3_h4g.tmp"]:
        (tmp_path / name).write_bytes(b"x" * 100)
    keep = [".b.pt.0123456789abcdef.tmp", "a.pt.tmp", ".a.pt.backup", "a.pt.0123.tmp"]
    for name in keep:
        (tmp_path / name).write_bytes(b"y")
    save_file(PAYLOAD, tmp_path / "a.pt", format=FORMAT)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.pt", *keep])


KILLED_WRITER = """
import sys, time
from relnet_core.files import atomic_write

def write(f):
    f.write(b"x" * 1_000_000)
    f.flush()
    print("writing", flush=True)
    time.sleep(60)

atomic_write(sys.argv[1], write)
"""


def test_defect9_a_write_killed_with_sigkill_is_cleaned_up_next_time(tmp_path: Path) -> None:
    path = save_file(PAYLOAD, tmp_path / "k.pt", format=FORMAT)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    orphans = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(orphans) == 1  # what kill -9 leaves behind
    assert torch.equal(load_file(path, format=FORMAT)["weights"], PAYLOAD["weights"])  # type: ignore[arg-type]
    save_file(PAYLOAD, path, format=FORMAT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pt"]


def test_defect6_check_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10, defect 6: the checkpoint's folder is checked before any work."""
    assert check_writable(tmp_path / "ok.pt") == tmp_path / "ok.pt"
    assert list(tmp_path.iterdir()) == []  # the probe is removed
    with pytest.raises(ValueError, match=r"write .*nope.*x\.pt: directory .* does not exist"):
        check_writable(tmp_path / "nope" / "x.pt")
    with pytest.raises(ValueError, match=r"cannot write .*: it is a directory"):
        check_writable(tmp_path)

    def denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ser.os, "open", denied)
    with pytest.raises(ValueError, match=r"cannot write .*ro\.pt: directory .* is not writable"):
        check_writable(tmp_path / "ro.pt")
    with pytest.raises(ValueError, match=r"cannot write .*ro\.pt: Permission denied"):
        save_file(PAYLOAD, tmp_path / "ro.pt", format=FORMAT)


def test_saving_to_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"directory .*missing does not exist"):
        save_file(PAYLOAD, tmp_path / "missing" / "a.pt", format=FORMAT)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="payload must be a dict, got list"):
        save_file([1], tmp_path / "a.pt", format=FORMAT)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="format must be a non-empty str"):
        save_file(PAYLOAD, tmp_path / "a.pt", format="")


def test_load_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no file at .*none\.pt"):
        load_file(tmp_path / "none.pt", format=FORMAT)
    with pytest.raises(ValueError, match=rf"cannot read {re.escape(str(tmp_path))}"):
        load_file(tmp_path, format=FORMAT)  # a directory
    path = save_file(PAYLOAD, tmp_path / "a.pt", format=FORMAT)
    with pytest.raises(
        ValueError,
        match=r"not a relnet checkpoint: .*a\.pt: expected a 'other' file, its format is 'test/",
    ):
        load_file(path, format="other")
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(
        ValueError,
        match=r"not a relnet checkpoint: .*a\.pt: expected a 'test/.*' file: corrupt",
    ):
        load_file(path, format=FORMAT)
    torch.save({"format": FORMAT, "sha256": "0" * 64, "payload": b"abc"}, path)
    with pytest.raises(ValueError, match=r"a\.pt is corrupt: checksum mismatch"):
        load_file(path, format=FORMAT)
    data = b"not a torch file"
    write_outer(path, data)
    with pytest.raises(ValueError, match=r"cannot load the payload of .*a\.pt"):
        load_file(path, format=FORMAT)


def test_random_bytes_are_not_a_relnet_checkpoint_in_one_short_line(tmp_path: Path) -> None:
    """Issue 17: torch's weights_only advice runs to pages; the message names the file and what
    was expected, on one line."""
    path = tmp_path / "random.pt"
    for seed in range(20):
        path.write_bytes(random.Random(seed).randbytes(3000))
        with pytest.raises(ValueError, match="not a relnet checkpoint") as err:
            load_file(path, format=FORMAT)
        message = str(err.value)
        assert str(path) in message
        assert f"expected a {FORMAT!r} file" in message
        assert "\n" not in message
        assert len(message) < 300 + len(str(path))


def test_the_payload_may_not_run_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("touch pwned",))

    buffer = io.BytesIO()
    torch.save({"x": Evil()}, buffer)
    data = buffer.getvalue()
    path = tmp_path / "evil.pt"
    write_outer(path, data)
    with pytest.raises(ValueError, match=r"cannot load the payload of .*evil\.pt"):
        load_file(path, format=FORMAT)
    assert not Path("pwned").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_an_unusable_map_location_is_not_called_corruption(tmp_path: Path) -> None:
    path = save_file(PAYLOAD, tmp_path / "a.pt", format=FORMAT)
    with pytest.raises(ValueError, match=r"cannot load the payload of .*a\.pt"):
        load_file(path, format=FORMAT, map_location="cuda")


@pytest.mark.parametrize(
    ("saved", "installed", "ok"),
    [
        ("0.4.0", "0.4.2", True),
        ("0.3.0", "0.4.0", False),
        ("1.1.0", "1.5.0", True),
        (None, "0.4.0", False),
    ],
)
def test_load_versioned_file(tmp_path: Path, saved: str | None, installed: str, ok: bool) -> None:
    path = tmp_path / "model.pt"
    save_file({**PAYLOAD, "version": saved}, path, format=FORMAT)
    if ok:
        payload = load_versioned_file(path, format=FORMAT, package="relnet-x", installed=installed)
        assert payload["version"] == saved
        assert torch.equal(payload["weights"], PAYLOAD["weights"])  # type: ignore[arg-type]
        return
    message = (
        rf"checkpoint {re.escape(str(path))} was written by relnet-x {saved}, incompatible with "
        rf"the installed {re.escape(installed)} \(0\.x versions are compatible within one minor "
        r"version\)"
    )
    with pytest.raises(ValueError, match=message):
        load_versioned_file(path, format=FORMAT, package="relnet-x", installed=installed)
    with pytest.raises(ValueError, match="expected a 'other' file"):
        load_versioned_file(path, format="other", package="relnet-x", installed=installed)
