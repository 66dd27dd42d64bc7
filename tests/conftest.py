"""Shared fixtures: each family lives in its own module and is imported here so every test file can use it."""

from tests.interop_fixtures import oidc_interop
from tests.network_guard import loopback_only_network
from tests.sandbox_fixtures import api, make_sandbox, no_access_api, read_only_api, sandbox

__all__ = [
    "api",
    "loopback_only_network",
    "make_sandbox",
    "no_access_api",
    "oidc_interop",
    "read_only_api",
    "sandbox",
]
