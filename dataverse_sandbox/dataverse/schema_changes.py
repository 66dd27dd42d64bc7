"""Metadata writes: tables, columns, alternate keys and relationships created and deleted through the Web API.

Not for reading metadata: see :mod:`.entity_definitions`.
"""

from __future__ import annotations

from collections.abc import Sequence

from werkzeug.wrappers import Response

from .context import Call
from .errors import method_not_allowed
from .paths import Segment

__all__ = ["change_relationships"]


def change_relationships(call: Call, segments: Sequence[Segment]) -> Response:
    """``POST``/``DELETE`` under ``RelationshipDefinitions``."""
    raise method_not_allowed(
        "Creating or deleting relationships is not served by the sandbox: its tables and relationships are fixed."
    )
