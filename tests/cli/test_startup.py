"""The `journeymap` command's start-up leaves out numba's BLAS check (SciPy's linear
algebra, which no kernel calls); a program importing journeymap keeps numba as it is."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

KERNEL = """
import json, sys
import numpy as np
from journeymap.measure.kernels.windows import windows
n = 3
lo, hi, cell = (np.empty(n, np.int64) for _ in range(3))
got = windows(np.array([0, 5, -1]), np.array([9, -1, -1]), np.ones(n, np.bool_), np.zeros(n, np.int64), 4,
              lo, hi, cell, np.zeros(2, np.int64))
import numba.np.arraymath as arraymath
print(json.dumps({"blas": arraymath._HAVE_BLAS, "linalg": "scipy.linalg" in sys.modules,
                  "counts": list(got), "hi": hi.tolist()}))
"""


def run(prelude: str) -> dict:
    out = subprocess.run([sys.executable, "-c", prelude + KERNEL], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def test_the_command_starts_numba_without_the_blas_check():
    lean = run("from journeymap.cli.startup import lean_numba\nlean_numba()\n")
    assert lean["blas"] is False and lean["linalg"] is False
    plain = run("")
    assert (lean["counts"], lean["hi"]) == (plain["counts"], plain["hi"]) == ([2, 3, 1], [4, 9, 3])


def test_a_library_keeps_numba_as_it_is():
    pytest.importorskip("scipy.linalg")
    assert run("")["blas"] is True
