"""Shared fixtures: each family lives in its own module and is imported here so every test file can use it."""

from tests.interop_fixtures import oidc_interop

__all__ = ["oidc_interop"]
