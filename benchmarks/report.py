"""Write one benchmark's section into ``docs/benchmarks.md``, replacing that section if it is already there.

Every benchmark script calls :func:`write_section` with its title, the command that reproduces it and a Markdown
body; the rest of the file (other benchmarks' sections) is left as it is.
"""

from __future__ import annotations

import platform
import re
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["BENCHMARKS_MD", "machine_line", "write_section"]

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

_HEADER = """# Benchmarks

Measured by the scripts in `benchmarks/`, each against one sandbox started for it. Numbers are ratios against a
baseline measured in the same run where a comparison is meaningful; absolute rates describe this machine only.
Each section gives the command that reproduces it. Tests never assert timings.
"""


def machine_line() -> str:
    """:returns: one line describing where the numbers were measured."""
    import os

    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}."
    )


def write_section(key: str, title: str, command: str, body: str) -> None:
    """Replace or append a section.

    :param key: a stable identifier, kept in an HTML comment that marks the section.
    :param title: the section's heading.
    :param command: the command that reproduces the numbers.
    :param body: Markdown (tables, notes).
    """
    text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else _HEADER
    section = (
        f"<!-- benchmark:{key} -->\n## {title}\n\n```sh\n{command}\n```\n\n{machine_line()}\n\n{body.strip()}\n"
        f"<!-- /benchmark:{key} -->\n"
    )
    pattern = re.compile(rf"<!-- benchmark:{re.escape(key)} -->.*?<!-- /benchmark:{re.escape(key)} -->\n", re.DOTALL)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    BENCHMARKS_MD.write_text(text, encoding="utf-8")
