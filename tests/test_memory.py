"""The huge page setting follows the kernel's defrag mode and respects the user's choice."""

from __future__ import annotations

import subprocess
import sys

from journeymap import memory


def test_defrag_modes(tmp_path):
    f = tmp_path / "defrag"
    for text, stalls in [("always defer defer+madvise [madvise] never", True),
                         ("[always] defer defer+madvise madvise never", True),
                         ("always defer [defer+madvise] madvise never", False),
                         ("always defer defer+madvise madvise [never]", False), ("", False)]:
        f.write_text(text)
        assert memory.stalls_on_huge_pages(f) is stalls
    assert memory.stalls_on_huge_pages(tmp_path / "missing") is False


def test_an_explicit_numpy_setting_is_left_alone():
    code = "import journeymap.memory as m; print(m.tune())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"NUMPY_MADVISE_HUGEPAGE": "1", "PATH": ""})
    assert out.stdout.strip() == "False"
