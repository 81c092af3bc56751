"""relnet_core.deprecation: an old module path imports as the new module, with one warning that
points at the importer."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def make_package(root: Path) -> None:
    (root / "moved_pkg" / "sub").mkdir(parents=True)
    (root / "moved_pkg" / "__init__.py").write_text(
        "from relnet_core.deprecation import redirect_modules\n"
        "redirect_modules(__name__, {'old': 'sub.new'}, removed_in='moved-pkg 2')\n"
    )
    (root / "moved_pkg" / "sub" / "__init__.py").write_text("")
    (root / "moved_pkg" / "sub" / "new.py").write_text("VALUE = object()\n")


def test_the_old_path_is_the_new_module_with_one_warning(tmp_path: Path) -> None:
    make_package(tmp_path)
    script = textwrap.dedent(
        """
        import importlib, sys, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from moved_pkg.old import VALUE
            import moved_pkg.old
            import moved_pkg.sub.new as new
        assert VALUE is new.VALUE
        assert sys.modules["moved_pkg.old"] is new
        assert new.__spec__.name == "moved_pkg.sub.new"  # its own spec, not the old path's
        importlib.reload(new)
        assert len(caught) == 1, [str(w.message) for w in caught]
        assert caught[0].category is DeprecationWarning
        assert caught[0].filename == "<string>"  # the importer's line, not the import system's
        print(caught[0].message)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == (
        "moved_pkg.old moved to moved_pkg.sub.new; import it from there "
        "(moved_pkg.old is removed in moved-pkg 2)"
    )


def test_other_missing_modules_still_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("moved_pkg")
    with pytest.raises(ModuleNotFoundError, match=r"moved_pkg\.nothing"):
        importlib.import_module("moved_pkg.nothing")
