"""The sandbox's Dataverse-compatible Web API: storage, metadata, routing, records, queries and operations.

The public face is :class:`WebApi` (the WSGI application), :class:`Service` (its state), :class:`Storage`,
:func:`build_catalog` and :func:`seed_records`; the other modules are split by concern and may change shape.
Written from the behavioural reference only; it never imports the connector's code.
"""

from .app import CLAIMS_KEY, WebApi
from .context import Principal, Service
from .seeding import seed_records
from .storage import Storage
from .tables import build_catalog

__all__ = ["CLAIMS_KEY", "Principal", "Service", "Storage", "WebApi", "build_catalog", "seed_records"]
