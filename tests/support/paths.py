"""Where the repository's files are, for tests that read docs, schemas or the interop server's files."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository's root: the folder that holds ``pyproject.toml``."""
