"""Reference-host config files that point a connection at a running sandbox, one per grant.

The demo and the CLI tests use these: the settings are exactly what a person would type into the form for a real
tenant, with the sandbox's URLs, and every secret is a ``{"$file": ...}`` reference to the credential files the
sandbox generated (never the value itself).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from dataverse_sandbox.server import Sandbox

__all__ = ["Grant", "sandbox_config", "write_sandbox_config"]

Grant = Literal["client_secret", "jwt", "authorization_code"]


def sandbox_config(sandbox: Sandbox, grant: Grant, *, algorithm: str = "RS256") -> dict[str, Any]:
    """Build a config for a running sandbox.

    :param sandbox: the running sandbox.
    :param grant: ``client_secret``, ``jwt`` (client credentials with a certificate) or ``authorization_code``.
    :param algorithm: the JWT signature algorithm (``ES*`` uses the sandbox's EC certificate).
    :returns: ``{"connection": ..., "oauth2": ..., "runtime": ...}`` with secrets as ``$file`` references.
    """
    clients = sandbox.clients
    if clients is None:
        raise RuntimeError("the sandbox is not running")
    origin = urlsplit(sandbox.origin)
    resource = [{"name": "resource", "value": sandbox.origin}]
    config: dict[str, Any] = {
        "connection": {
            "protocol": origin.scheme,
            "base_url": origin.netloc,
            "web_api_path": "/api/data/",
            "version": "v9.2",
            "connect_timeout_ms": 10_000,
            "read_timeout_ms": 60_000,
        },
        "runtime": {"ca_bundle": str(sandbox.ca_cert_path)} if sandbox.ca_cert_path else {},
    }
    if grant == "client_secret":
        client = clients.secret_client
        config["oauth2"] = {
            "grant_type": "client_credentials",
            "client_assertion_type": "client_secret",
            "client_id": client.client_id,
            "client_secret": {"$file": str(client.secret_file)},
            "access_token_url": sandbox.token_url,
            "access_token_parameters": resource,
        }
    elif grant == "jwt":
        client = clients.certificate_client
        kind = "EC" if algorithm.startswith("ES") else "RSA"
        files = next(files for files in client.certificates if files.algorithm == kind)
        config["oauth2"] = {
            "grant_type": "client_credentials",
            "client_assertion_type": "jwt",
            "client_id": client.client_id,
            "access_token_url": sandbox.token_url,
            "access_token_parameters": resource,
            "jwt": {
                "signature_algorithm": algorithm,
                "signature_key": {
                    "format": "pem",
                    "private_key": {"$file": str(files.key_file)},
                    "certificate": {"$file": str(files.certificate_file)},
                },
            },
        }
    else:
        client = clients.authorization_code_client
        config["oauth2"] = {
            "grant_type": "authorization_code",
            "client_id": client.client_id,
            "client_secret": {"$file": str(client.secret_file)},
            "access_token_url": sandbox.token_url,
            "authorization_parameters": resource,
        }
    return config


def write_sandbox_config(sandbox: Sandbox, grant: Grant, path: Path, **options: Any) -> Path:
    """Write :func:`sandbox_config` to a file.

    :returns: the path written.
    """
    path.write_text(json.dumps(sandbox_config(sandbox, grant, **options), indent=2) + "\n", encoding="utf-8")
    return path
