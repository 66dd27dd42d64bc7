"""What the read benchmarks need from a sandbox: connection settings for the connector, a bearer token for a bare
client, and the trust anchor when it serves TLS. Secrets go to child processes through standard input, never argv.

Not for starting or seeding the sandbox (each benchmark does that itself, so its command line says how).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from dataverse_sandbox.server import Sandbox

__all__ = ["access_token", "client_credentials_token", "connector_settings", "runtime_context_fields", "verify_of"]


def verify_of(sandbox: Sandbox) -> str | bool:
    """:returns: the CA file to trust for a TLS sandbox, else ``True`` (plain HTTP needs none)."""
    return str(sandbox.ca_cert_path) if sandbox.ca_cert_path else True


def connector_settings(sandbox: Sandbox) -> dict[str, Any]:
    """:returns: the connection settings of a client-credentials connection (client secret) to the sandbox."""
    assert sandbox.clients is not None
    client = sandbox.clients.secret_client
    origin = urlsplit(sandbox.origin)
    return {
        "connection": {"protocol": origin.scheme, "base_url": origin.netloc, "version": "v9.2"},
        "oauth2": {
            "grant_type": "client_credentials",
            "client_assertion_type": "client_secret",
            "client_id": client.client_id,
            "client_secret": client.read_secret(),
            "access_token_url": sandbox.token_url,
            "access_token_parameters": [{"name": "resource", "value": sandbox.origin}],
        },
    }


def runtime_context_fields(sandbox: Sandbox) -> dict[str, Any]:
    """:returns: the keyword arguments of the runtime context a child builds (the CA bundle for TLS)."""
    return {"ca_bundle": str(sandbox.ca_cert_path)} if sandbox.ca_cert_path else {}


def access_token(sandbox: Sandbox) -> str:
    """:returns: a client-credentials access token for the sandbox's full-access application."""
    assert sandbox.clients is not None
    client = sandbox.clients.secret_client
    return client_credentials_token(
        sandbox.token_url, client.client_id, client.read_secret(), sandbox.origin, verify=verify_of(sandbox)
    )


def client_credentials_token(
    token_url: str, client_id: str, client_secret: str, resource: str, *, verify: str | bool
) -> str:
    """:returns: an access token from a sandbox's token service for a client-credentials application (a sandbox in
    another process is known only by these coordinates).
    """
    response = requests.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "resource": resource,
        },
        timeout=30,
        verify=verify,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token
