"""Microsoft Dynamics 365 for Customer Engagement (Dataverse Web API) connector for integration runtimes.

A host discovers the plugin through the ``integration_runtime.connectors`` entry point (``dynamics365-ce``) and drives
it through the hooks in :mod:`connector.hookspecs`. Importing this package is cheap and does no I/O.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
