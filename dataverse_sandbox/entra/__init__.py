"""The sandbox's Microsoft Entra ID-compatible token service.

Issues the bearer tokens the sandbox Web API accepts, at Entra's v1 and v2 endpoints: client credentials with a
secret or a certificate-signed client assertion, the authorization-code grant with login and consent pages and
PKCE, rotating refresh tokens, OpenID Connect discovery and keys, and Entra's AADSTS error bodies. Written from
``reference/dataverse-webapi.md`` §6; it imports nothing of the connector outside ``dataverse_sandbox``.

The server builds it with :func:`provision_clients` (credentials in the state directory) and :class:`TokenService`.
"""

import logging

from dataverse_sandbox.entra.clients import (
    DEFAULT_REDIRECT_URI,
    DEFAULT_TENANT_DOMAIN,
    CertificateFiles,
    ProvisionedClient,
    ProvisionedClients,
    ProvisionedUser,
    provision_clients,
)
from dataverse_sandbox.entra.directory import SandboxUser
from dataverse_sandbox.entra.scopes import GRAPH_RESOURCE
from dataverse_sandbox.entra.service import TokenService
from dataverse_sandbox.entra.stats import TokenStats, TokenStatsSnapshot

__all__ = [
    "DEFAULT_REDIRECT_URI",
    "DEFAULT_TENANT_DOMAIN",
    "GRAPH_RESOURCE",
    "CertificateFiles",
    "ProvisionedClient",
    "ProvisionedClients",
    "ProvisionedUser",
    "SandboxUser",
    "TokenService",
    "TokenStats",
    "TokenStatsSnapshot",
    "provision_clients",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
