"""Our connector adopts the conformance suite, as any connector author would."""

from __future__ import annotations

from connector.testing import ConnectorConformance
from tests.examples import CLIENT_SECRET_SETTINGS, SEVERAL_BAD_FIELDS, SEVERAL_BAD_FIELDS_PATHS


class TestDynamics365Conformance(ConnectorConformance):
    connector_id = "dynamics365-ce"
    valid_settings = CLIENT_SECRET_SETTINGS
    invalid_settings = SEVERAL_BAD_FIELDS
    invalid_fields = SEVERAL_BAD_FIELDS_PATHS
