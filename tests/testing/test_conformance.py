"""Our connector adopts the whole conformance suite against the sandbox, as a connector author would:
a live connection, and one sample per manifest operation built from records made with plain HTTP requests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from connector.context import RuntimeContext
from connector.host.facade import ConnectorHost
from connector.results import Connection
from connector.testing import ConnectorConformance, OperationSample
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.server import Sandbox
from tests.support.diagnostics import CANARY_SECRET
from tests.support.diagnostics import sandbox_settings as diagnostics_settings
from tests.support.examples import CLIENT_SECRET_SETTINGS, SEVERAL_BAD_FIELDS, SEVERAL_BAD_FIELDS_PATHS
from tests.support.operations import sandbox_settings
from tests.support.sandbox import WebApiSession, bearer_token, start_sandbox, unique


@pytest.fixture(scope="module")
def conformance_sandbox() -> Iterator[Sandbox]:
    """The sandbox the operation samples run against."""
    sb = start_sandbox(SandboxConfig())
    try:
        yield sb
    finally:
        sb.stop()


class TestDynamics365OperationsConformance(ConnectorConformance):
    """The conformance suite, adopted for this connector with the operations part switched on."""

    connector_id = "dynamics365-ce"
    valid_settings = CLIENT_SECRET_SETTINGS
    invalid_settings = SEVERAL_BAD_FIELDS
    invalid_fields = SEVERAL_BAD_FIELDS_PATHS

    @pytest.fixture
    def bad_credentials(self, conformance_sandbox: Sandbox) -> Mapping[str, Any]:
        """Settings that reach the sandbox with a wrong client secret (a canary value)."""
        return diagnostics_settings(conformance_sandbox, secret=CANARY_SECRET)

    @pytest.fixture
    def live_connection(self, host: ConnectorHost, conformance_sandbox: Sandbox) -> Connection:
        return host.connect(self.connector_id, sandbox_settings(conformance_sandbox), RuntimeContext())

    @pytest.fixture
    def operation_samples(
        self, live_connection: Connection, conformance_sandbox: Sandbox
    ) -> Mapping[str, OperationSample]:
        with WebApiSession(conformance_sandbox, bearer_token(conformance_sandbox)) as api:
            account = api.create("accounts", {"name": unique("conformance"), "accountnumber": unique("C")})
            doomed = api.create("accounts", {"name": unique("doomed")})
            contact = api.create("contacts", {"lastname": unique("conformance")})
        link = {"@odata.editLink": f"accounts({account})"}
        relationship = {"entity_set": "accounts", "relationship": "contact_customer_accounts"}
        return {
            "create": OperationSample({"entity_set": "accounts"}, [{"name": unique("created")}]),
            "get": OperationSample({"entity_set": "accounts"}, [link], object_type="accounts"),
            "query": OperationSample({"entity_set": "accounts", "top": 10}, [{}], object_type="accounts"),
            "update": OperationSample({"entity_set": "accounts"}, [{**link, "name": unique("updated")}]),
            "upsert": OperationSample(
                {"entity_set": "accounts", "key_fields": ["accountnumber"]},
                [{"accountnumber": unique("U"), "name": "upserted"}],
            ),
            "execute": OperationSample({"name": "WhoAmI", "kind": "function"}),
            "associate": OperationSample(relationship, [{**link, "@odata.id": f"contacts({contact})"}]),
            "disassociate": OperationSample(relationship, [{**link, "@odata.id": f"contacts({contact})"}]),
            "delete": OperationSample({"entity_set": "accounts"}, [{"@odata.editLink": f"accounts({doomed})"}]),
            "upload_file": OperationSample(
                {"entity_set": "accounts", "column": "sample_contract"},
                [{**link, "file_name": "conformance.txt", "file_content": "Y29uZm9ybWFuY2U="}],
            ),
            "download_file": OperationSample({"entity_set": "accounts", "column": "sample_contract"}, [link]),
            "bulk_delete": OperationSample(
                {
                    "entity_set": "accounts",
                    "criteria": {"conditions": [{"field": "name", "operator": "eq", "value": unique("none")}]},
                    "wait": False,
                },
                [{}],
            ),
        }
