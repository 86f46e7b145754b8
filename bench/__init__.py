"""Benchmarks: every figure is a ratio against a baseline measured in the same run."""

import sys
from pathlib import Path

# The shared layer is /opt/python in Lambda; here it is a folder.
_LAYER = str(Path(__file__).resolve().parents[1] / "layers" / "common")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)
