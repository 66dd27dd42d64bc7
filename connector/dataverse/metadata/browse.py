"""The ``browse`` hook's work: list entity sets through a name filter, or describe one as request/response profiles.

Listing reads a few columns of every table (never their attributes), then keeps the entity sets whose names match
the filter: ``*`` any run of characters, ``?`` one character, everything else literal and case-sensitive, as
Boomi's import wizard filters. Describing reads one table's metadata and builds its profiles. Both go through the
connection's metadata cache unless the request turns it off. Not for operations.
"""

from __future__ import annotations

import re

from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.cache import metadata_for
from connector.dataverse.metadata.profiles import request_schema, response_schema
from connector.errors import ConfigError
from connector.results import BrowseRequest, BrowseResult, ObjectType

__all__ = ["browse", "name_pattern"]


def name_pattern(name_filter: str | None) -> re.Pattern[str]:
    """Compile a name filter.

    :param name_filter: ``*`` matches any run of characters, ``?`` exactly one; blank or ``None`` matches all.
    :returns: a case-sensitive pattern matched against whole names.
    """
    text = (name_filter or "").strip() or "*"
    parts = [".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text]
    return re.compile("".join(parts), re.DOTALL)


def browse(client: DataverseClient, request: BrowseRequest) -> BrowseResult:
    """List or describe object types.

    :param client: the connection's Web API client.
    :param request: what to list or describe.
    :returns: the object types, or the profiles of one.
    :raises ConfigError: when a describe request names no object type.
    :raises RemoteError: when the service refuses a metadata request, or has no such entity set.
    """
    cache = metadata_for(client)
    if request.action == "list":
        pattern = name_pattern(request.name_filter)
        types = tuple(
            ObjectType(name=entity.entity_set, label=entity.label, logical_name=entity.logical_name)
            for entity in cache.entity_sets(use_cache=request.use_cache)
            if pattern.fullmatch(entity.entity_set)
        )
        return BrowseResult(object_types=types)
    if request.action != "describe":
        raise ConfigError.single("request.action", f"must be list or describe (got {request.action!r})")
    if not request.object_type:
        raise ConfigError.single("request.object_type", "is required to describe an object type")
    description = cache.describe(request.object_type, use_cache=request.use_cache)
    entity = description.entity
    return BrowseResult(
        object_types=(ObjectType(name=entity.entity_set, label=entity.label, logical_name=entity.logical_name),),
        request_schema=request_schema(description),
        response_schema=response_schema(description),
    )
