"""Bar charts (PNG) for ``docs/benchmarks/``, drawn by matplotlib in a benchmark environment of its own.

matplotlib is never a dependency of the project: :func:`bar_chart` installs it into a cached virtual environment
(:mod:`benchmarks.venvs`) and runs a small drawing script there with the numbers on standard input. When it cannot
be installed (no registry reachable), the chart is skipped and the benchmark's table stands alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.venvs import VenvError, ensure_venv

__all__ = ["MATPLOTLIB", "bar_chart"]

MATPLOTLIB = "matplotlib==3.11.2"

_DRAW = """
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
spec = json.load(sys.stdin)
labels = [label for label, _ in spec["bars"]]
values = [value for _, value in spec["bars"]]
figure, axes = plt.subplots(figsize=(9, 0.6 * len(labels) + 1.4), dpi=110)
bars = axes.barh(labels, values, color=spec["colors"][: len(labels)])
axes.invert_yaxis()
axes.set_xlabel(spec["unit"])
axes.set_title(spec["title"], fontsize=11, loc="left")
axes.bar_label(bars, labels=[f"{value:,.0f}" for value in values], padding=3)
axes.set_xlim(0, max(values) * 1.2)
axes.spines[["top", "right"]].set_visible(False)
figure.tight_layout()
figure.savefig(spec["path"])
"""

_COLORS = ["#8c8c8c", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]


def bar_chart(path: Path, title: str, bars: Sequence[tuple[str, float]], unit: str) -> bool:
    """Draw a horizontal bar chart.

    :param path: the PNG to write (its folder is created).
    :param title: the chart's title.
    :param bars: label and value of each bar, top to bottom.
    :param unit: the value axis' label.
    :returns: whether the chart was written.
    """
    try:
        python = ensure_venv("charts", [MATPLOTLIB])
    except (VenvError, OSError, subprocess.SubprocessError) as error:
        print(f"chart skipped: {error}", file=sys.stderr)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = {"path": str(path), "title": title, "bars": list(bars), "unit": unit, "colors": _COLORS}
    completed = subprocess.run(
        [str(python), "-c", _DRAW], input=json.dumps(spec), capture_output=True, text=True, check=False, timeout=300
    )
    if completed.returncode != 0:
        print(f"chart skipped: {completed.stderr.strip()[-500:]}", file=sys.stderr)
        return False
    return True
