"""The per-connection metadata cache: table names, primary keys and attribute descriptions, read on first use.

Four reads, each as small as the service allows, because organisations have thousands of tables and some peers
run out of memory loading every table's attributes at once:

* :meth:`MetadataCache.entity_sets`: every table's names and labels, a handful of columns, no attributes;
* :meth:`MetadataCache.entity`: one table's names and primary key (``$filter=EntitySetName eq '…'``);
* :meth:`MetadataCache.describe`: one table's attributes
  (:func:`~connector.dataverse.metadata.definitions.read_description`);
* :meth:`MetadataCache.file_columns`: one table's file and image columns and their largest file
  (:func:`~connector.dataverse.metadata.files.read_file_columns`).

The cache lives as long as the connection's client and is shared by its threads; ``use_cache=False`` reads afresh
(and refreshes the cache). The values it holds are those of :mod:`connector.dataverse.metadata.tables`, re-exported
here. Not for reading answers (:mod:`connector.dataverse.metadata.definitions`) or JSON Schemas
(:mod:`connector.dataverse.metadata.profiles`).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TypeVar

from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.definitions import ENTITY_COLUMNS, entities_of, read_collections, read_description
from connector.dataverse.metadata.files import FileColumn, read_file_columns
from connector.dataverse.metadata.tables import AttributeInfo, EntityDescription, EntityInfo, OptionInfo
from connector.dataverse.odata.literals import quote_string
from connector.errors import ConnectorError, RemoteError, TransientError

__all__ = [
    "AttributeInfo",
    "EntityDescription",
    "EntityInfo",
    "MetadataCache",
    "OptionInfo",
    "metadata_for",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")


class MetadataCache:
    """Per-connection metadata, read on first use.

    :param client: the connection's Web API client.
    """

    def __init__(self, client: DataverseClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._all: tuple[EntityInfo, ...] | None = None
        self._entities: dict[str, EntityInfo] = {}
        self._descriptions: dict[str, EntityDescription] = {}
        self._file_columns: dict[str, Mapping[str, FileColumn]] = {}
        self._named: dict[str, EntityInfo | None] = {}
        self._collections: dict[str, Mapping[str, str]] = {}
        self._targets: dict[tuple[str, str], str | None] = {}
        self._undescribable: set[str] = set()

    def entity_sets(self, *, use_cache: bool = True) -> tuple[EntityInfo, ...]:
        """Every table that has an entity set.

        :param use_cache: whether a cached list may be returned.
        :returns: the tables, sorted by entity set name.
        :raises ConnectorError: when the service refuses the request.
        """
        if use_cache and self._all is not None:
            return self._all
        body = self._client.get_json("EntityDefinitions", [("$select", ",".join(ENTITY_COLUMNS))])
        found = tuple(sorted(entities_of(body), key=lambda entity: entity.entity_set))
        with self._lock:
            self._all = found
            self._entities.update({entity.entity_set: entity for entity in found})
        return found

    def knows(self, entity_set: str) -> bool:
        """:returns: whether :meth:`entity` answers ``entity_set`` from the cache, without a request."""
        return entity_set in self._entities

    def entity(self, entity_set: str, *, use_cache: bool = True) -> EntityInfo:
        """One table's names and primary key.

        :param entity_set: the entity set name (case-sensitive).
        :param use_cache: whether a cached answer may be returned.
        :returns: the table.
        :raises RemoteError: when no table has that entity set (status 404), or the service refuses.
        """
        if use_cache and entity_set in self._entities:
            return self._entities[entity_set]
        matches = self._tables_where("EntitySetName", entity_set)
        # The service compares strings case-insensitively; entity set names are case-sensitive in URLs.
        exact = [entity for entity in matches if entity.entity_set == entity_set]
        if not exact:
            hint = f"; did you mean {matches[0].entity_set!r}?" if matches else ""
            raise RemoteError(
                f"The service has no entity set named {entity_set!r} (names are case-sensitive){hint}",
                status=404,
                field="entity_set",
            )
        with self._lock:
            self._entities[entity_set] = exact[0]
        return exact[0]

    def entity_named(self, logical_name: str) -> EntityInfo | None:
        """One table by its logical name (how relationships name tables).

        :param logical_name: the table's logical name.
        :returns: the table, or ``None`` when none has that name or it has no entity set.
        :raises ConnectorError: when the service refuses the request.
        """
        if logical_name in self._named:
            return self._named[logical_name]
        # The table list, when read, answers without a request; a table created since is asked for.
        found = next((entity for entity in self._all or () if entity.logical_name == logical_name), None)
        if found is None:
            matches = self._tables_where("LogicalName", logical_name)
            found = next((entity for entity in matches if entity.logical_name == logical_name), None)
        # A table not found is remembered too: asked per nested record of a bulk run, it would cost a request each.
        with self._lock:
            self._named[logical_name] = found
            if found is not None:
                self._entities.setdefault(found.entity_set, found)
        return found

    def _tables_where(self, name_property: str, name: str) -> list[EntityInfo]:
        """:returns: the tables whose ``name_property`` (``EntitySetName``, ``LogicalName``) is ``name``, as the
        service compares it (ignoring case), with the few columns of :meth:`entity_sets`.
        """
        query = [("$select", ",".join(ENTITY_COLUMNS)), ("$filter", f"{name_property} eq {quote_string(name)}")]
        return entities_of(self._client.get_json("EntityDefinitions", query))

    def describable(self, entity_set: str) -> bool:
        """Whether a table's attributes can be read (:meth:`describe`). A refusal (a ``403``) is remembered for the
        connection, as :meth:`navigation_target` remembers its own: asked per nested record of a bulk run, it would
        cost a request each.

        :raises TransientError: when the request fails in a way that may pass (nothing is remembered).
        """
        if entity_set in self._undescribable:
            return False
        try:
            self.describe(entity_set)
        except TransientError:
            raise
        except ConnectorError as error:
            _log.info("the attributes of %s cannot be read (%s)", entity_set, error.status)
            with self._lock:
                self._undescribable.add(entity_set)
            return False
        return True

    def collections(self, entity_set: str) -> Mapping[str, str]:
        """One table's collection-valued navigation properties (its one-to-many relationships) and the table each
        leads to, by logical name: ``{"contact_customer_accounts": "contact"}`` on accounts.

        :param entity_set: the entity set name (case-sensitive).
        :returns: the navigation properties; empty when the service has no relationship metadata.
        :raises ConnectorError: when the service refuses the request otherwise.
        """
        return self._per_table(self._collections, entity_set, read_collections)

    def navigation_target(self, entity_set: str, navigation: str) -> str | None:
        """The entity set of the table a navigation property leads to, described and ready to use: a single-valued
        one's table from the lookup's relationship, a collection-valued one's from :meth:`collections`.

        The answer is remembered for the connection, a refusal included: a service that will not say (a ``403`` on
        the relationships or on the other table's attributes) counts as not knowing, and asking again for every
        record of a bulk run would cost a request each.

        :param entity_set: the table the property belongs to.
        :param navigation: the navigation property.
        :returns: the other table's entity set, or ``None`` when it cannot be told or described.
        :raises TransientError: when a metadata request fails in a way that may pass (nothing is remembered).
        """
        key = (entity_set, navigation)
        if key in self._targets:
            return self._targets[key]
        try:
            table = self.describe(entity_set).lookup_table(navigation) or self.collections(entity_set).get(navigation)
            other = self.entity_named(table) if table else None
            found = other.entity_set if other is not None and self.describable(other.entity_set) else None
        except TransientError:
            raise
        except ConnectorError as error:
            _log.info("the table of navigation property %s cannot be told (%s)", navigation, error.status)
            found = None
        with self._lock:
            self._targets[key] = found
        return found

    def file_columns(self, entity_set: str) -> Mapping[str, FileColumn]:
        """One table's file and image columns, with the largest file each holds.

        :param entity_set: the entity set name (case-sensitive).
        :returns: the columns by logical name (empty for a table without any).
        :raises RemoteError: when no table has that entity set, or the service refuses.
        """
        return self._per_table(self._file_columns, entity_set, read_file_columns)

    def _per_table(
        self, remembered: dict[str, T], entity_set: str, read: Callable[[DataverseClient, EntityInfo], T]
    ) -> T:
        """What ``read`` says of one table, asked once per connection (a bulk run asks for every record)."""
        if entity_set in remembered:
            return remembered[entity_set]
        found = read(self._client, self.entity(entity_set))
        with self._lock:
            remembered[entity_set] = found
        return found

    def describe(self, entity_set: str, *, use_cache: bool = True) -> EntityDescription:
        """One table with its attributes, option sets and lookup navigation properties.

        :param entity_set: the entity set name (case-sensitive).
        :param use_cache: whether a cached answer may be returned.
        :returns: the description.
        :raises RemoteError: when no table has that entity set, or the service refuses.
        """
        if use_cache and entity_set in self._descriptions:
            return self._descriptions[entity_set]
        entity = self.entity(entity_set, use_cache=use_cache)
        description = read_description(self._client, entity)
        with self._lock:
            self._descriptions[entity_set] = description
        return description


_CACHES: weakref.WeakKeyDictionary[DataverseClient, MetadataCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def metadata_for(client: DataverseClient) -> MetadataCache:
    """:returns: the metadata cache of a connection's client (one per client, created on first use)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(client)
        if cache is None:
            cache = _CACHES[client] = MetadataCache(client)
        return cache
