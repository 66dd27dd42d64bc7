"""Agreement with Microsoft's own client: every public operation of ``powerplatform-dataverse-client``, run once
against the TLS sandbox, and its outcome compared with what Dataverse does.

The client is installed into a virtual environment of its own (:mod:`benchmarks.venvs`), never into the project's.
It reaches the sandbox as in the peer benchmarks (:mod:`benchmarks.peers_read`): an ``https`` organisation URL (the
client refuses anything else), ``azure.identity.ClientSecretCredential`` with ``authority=<sandbox origin>`` and
``disable_instance_discovery=True`` (MSAL reads the sandbox's discovery document and token endpoint), and the
sandbox's CA through ``REQUESTS_CA_BUNDLE`` and ``SSL_CERT_FILE``. Nothing in the client is patched.

:data:`OPERATIONS` is the table: each operation, the outcome Dataverse gives (``pass``, or ``refused <status>``
where Dataverse refuses the request too), the Microsoft Learn page that says so, and what the sandbox answers where
it deliberately differs (``diff`` in the printout). ``docs/sandbox.md`` carries the
same rows (a test keeps them in step) and ``tests/sandbox/test_ms_client_compat.py`` runs this script and asserts
every outcome.

Run: ``python -m benchmarks.ms_client_compat [--cache-dir DIR] [--markdown]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.venvs import CACHE_ENV, ensure_venv
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.server import Sandbox

__all__ = ["MICROSOFT", "OPERATIONS", "Operation", "markdown_table", "run_client"]

MICROSOFT = "powerplatform-dataverse-client==1.1.0"
_LEARN = "https://learn.microsoft.com/power-apps/developer/data-platform"


@dataclass(frozen=True)
class Operation:
    """One public operation of the client and what Dataverse does with it.

    :param name: the client call (``records.create``), with a qualifier when one call has several paths.
    :param expected: ``pass``, or ``refused <status>`` when Dataverse refuses it too.
    :param source: the Microsoft Learn page behind the expectation (relative to the data-platform docs).
    :param sandbox: what the sandbox answers when it deliberately differs (``docs/sandbox.md`` says why);
        ``None``: the same as Dataverse.
    """

    name: str
    expected: str
    source: str
    sandbox: str | None = None

    @property
    def sandbox_outcome(self) -> str:
        """:returns: the outcome the sandbox must give."""
        return self.sandbox or self.expected


OPERATIONS: tuple[Operation, ...] = (
    Operation("records.create (one)", "pass", "webapi/create-entity-web-api"),
    Operation("records.create (many: CreateMultiple)", "pass", "bulk-operations"),
    Operation("records.retrieve", "pass", "webapi/retrieve-entity-using-web-api"),
    Operation("records.get (by id)", "pass", "webapi/retrieve-entity-using-web-api"),
    Operation("records.get (query)", "pass", "webapi/query/overview"),
    Operation("records.list", "pass", "webapi/query/overview"),
    Operation("records.list (filter on a GUID column, quoted)", "refused 400", "webapi/query/filter-rows"),
    Operation("records.list (FilterExpression)", "pass", "webapi/query/filter-rows"),
    Operation("records.list_pages", "pass", "webapi/query/page-results"),
    Operation("records.update (one)", "pass", "webapi/update-delete-entities-using-web-api"),
    Operation("records.update (many: UpdateMultiple)", "pass", "bulk-operations"),
    Operation("records.upsert (one, alternate key)", "pass", "use-upsert-insert-update-record"),
    Operation("records.upsert (many: UpsertMultiple)", "pass", "bulk-operations"),
    Operation("records.delete (one)", "pass", "webapi/update-delete-entities-using-web-api"),
    Operation("records.delete (many: BulkDelete job)", "pass", "delete-data-bulk"),
    Operation("records.delete (many, one by one)", "pass", "webapi/update-delete-entities-using-web-api"),
    Operation("query.sql", "pass", "dataverse-sql-query"),
    Operation("query.sql (a join)", "refused 400", "dataverse-sql-query"),
    Operation("query.sql_columns", "pass", "webapi/query-metadata-web-api"),
    Operation("query.fetchxml", "pass", "fetchxml/overview"),
    Operation("query.fetchxml (link-entity)", "pass", "fetchxml/reference/link-entity"),
    Operation("query.builder", "pass", "webapi/query/overview"),
    Operation("query.odata_select", "pass", "webapi/query-metadata-web-api"),
    Operation("query.odata_expands", "pass", "webapi/query-metadata-web-api"),
    Operation("query.odata_expand", "pass", "webapi/query-metadata-web-api"),
    Operation("query.odata_bind", "pass", "webapi/associate-disassociate-entities-using-web-api"),
    Operation("tables.get", "pass", "webapi/query-metadata-web-api"),
    Operation("tables.list", "pass", "webapi/query-metadata-web-api"),
    Operation("tables.list (filter on an unknown property)", "refused 400", "webapi/query-metadata-web-api"),
    Operation("tables.list_columns", "pass", "webapi/query-metadata-web-api"),
    Operation("tables.get_column", "pass", "webapi/query-metadata-web-api"),
    Operation("tables.create", "pass", "webapi/create-update-entity-definitions-using-web-api"),
    Operation("tables.add_columns", "pass", "webapi/create-update-column-definitions-using-web-api"),
    Operation("tables.update_column", "pass", "webapi/create-update-column-definitions-using-web-api"),
    Operation("tables.update_columns", "pass", "webapi/create-update-column-definitions-using-web-api"),
    Operation("tables.remove_columns", "pass", "webapi/create-update-column-definitions-using-web-api"),
    Operation("tables.create_alternate_key", "pass", "define-alternate-keys-reference-records"),
    Operation("tables.get_alternate_keys", "pass", "define-alternate-keys-reference-records"),
    Operation("tables.delete_alternate_key", "pass", "define-alternate-keys-reference-records"),
    Operation("tables.create_lookup_field", "pass", "webapi/create-update-entity-relationships-using-web-api"),
    Operation(
        "tables.create_one_to_many_relationship",
        "pass",
        "webapi/create-update-entity-relationships-using-web-api",
    ),
    Operation(
        "tables.create_many_to_many_relationship",
        "pass",
        "webapi/create-update-entity-relationships-using-web-api",
    ),
    Operation("tables.get_relationship", "pass", "webapi/create-update-entity-relationships-using-web-api"),
    Operation("tables.list_relationships", "pass", "webapi/query-metadata-web-api"),
    Operation("tables.list_table_relationships", "pass", "webapi/query-metadata-web-api"),
    Operation("tables.delete_relationship", "pass", "webapi/create-update-entity-relationships-using-web-api"),
    Operation("tables.delete", "pass", "webapi/create-update-entity-definitions-using-web-api"),
    Operation("files.upload (small)", "pass", "file-column-data"),
    Operation("files.upload (chunk)", "pass", "file-column-data"),
    Operation("dataframe.create", "pass", "bulk-operations"),
    Operation("dataframe.get", "pass", "webapi/query/overview"),
    Operation("dataframe.update", "pass", "bulk-operations"),
    Operation("dataframe.sql", "pass", "dataverse-sql-query"),
    Operation("dataframe.delete", "pass", "delete-data-bulk"),
    Operation("batch: records create/get/update/delete/list", "pass", "webapi/execute-batch-operations-using-web-api"),
    Operation("batch: changeset", "pass", "webapi/execute-batch-operations-using-web-api"),
    Operation("batch: tables.get/list", "pass", "webapi/execute-batch-operations-using-web-api"),
    Operation("batch: query.sql", "pass", "webapi/execute-batch-operations-using-web-api"),
)

# Runs inside the client's environment; the job (sandbox coordinates and secret) arrives on standard input, one
# JSON line per operation goes to standard output.
DRIVER = r"""
import json, os, sys, tempfile, time, traceback, uuid

from azure.identity import ClientSecretCredential
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError

job = json.loads(sys.stdin.read())
credential = ClientSecretCredential(job["tenant"], job["client_id"], job["secret"], authority=job["origin"],
                                    disable_instance_discovery=True)
client = DataverseClient(job["origin"], credential)
state = {}
marker = uuid.uuid4().hex[:8]
operations = []


def operation(name):
    def register(function):
        operations.append((name, function))
        return function
    return register


def rows(result):
    return [dict(r) if not isinstance(r, dict) else r for r in result]


@operation("records.create (one)")
def _():
    state["one"] = client.records.create("account", {"name": f"{marker} one", "accountnumber": f"{marker}-1"})
    assert len(state["one"]) == 36


@operation("records.create (many: CreateMultiple)")
def _():
    state["many"] = client.records.create("account", [{"name": f"{marker} many {i}"} for i in range(5)])
    assert len(state["many"]) == 5


@operation("records.retrieve")
def _():
    record = client.records.retrieve("account", state["one"], select=["name"])
    assert record["name"] == f"{marker} one"


@operation("records.get (by id)")
def _():
    record = client.records.get("account", state["one"], select=["name", "accountnumber"])
    assert record["accountnumber"] == f"{marker}-1"


@operation("records.get (query)")
def _():
    pages = list(client.records.get("account", filter=f"startswith(name,'{marker} many')", select=["name"]))
    assert sum(len(p) for p in pages) == 5


@operation("records.list")
def _():
    found = rows(client.records.list("account", filter=f"startswith(name,'{marker}')", select=["name"],
                                     orderby=["name desc"], top=3))
    assert len(found) == 3


@operation("records.list (filter on a GUID column, quoted)")
def _():
    rows(client.records.list("account", filter=f"accountid eq '{state['one']}'"))


@operation("records.list (FilterExpression)")
def _():
    from PowerPlatform.Dataverse.models.filters import col
    found = rows(client.records.list("account", filter=col("accountnumber") == f"{marker}-1", select=["name"]))
    assert len(found) == 1


@operation("records.list_pages")
def _():
    pages = list(client.records.list_pages("account", filter=f"startswith(name,'{marker} many')", page_size=2))
    assert [len(p) for p in pages] == [2, 2, 1]


@operation("records.update (one)")
def _():
    client.records.update("account", state["one"], {"telephone1": "555-0100"})
    assert client.records.retrieve("account", state["one"], select=["telephone1"])["telephone1"] == "555-0100"


@operation("records.update (many: UpdateMultiple)")
def _():
    client.records.update("account", state["many"], {"telephone1": "555-0101"})
    found = rows(client.records.list("account", filter="telephone1 eq '555-0101'"))
    assert len(found) >= 5


@operation("records.upsert (one, alternate key)")
def _():
    from PowerPlatform.Dataverse.models.upsert import UpsertItem
    client.records.upsert("account", [UpsertItem(alternate_key={"accountnumber": f"{marker}-U1"},
                                                 record={"name": f"{marker} upserted"})])
    found = rows(client.records.list("account", filter=f"accountnumber eq '{marker}-U1'"))
    assert len(found) == 1


@operation("records.upsert (many: UpsertMultiple)")
def _():
    from PowerPlatform.Dataverse.models.upsert import UpsertItem
    client.records.upsert("account", [UpsertItem(alternate_key={"accountnumber": f"{marker}-U{i}"},
                                                 record={"name": f"{marker} upserted {i}"}) for i in range(1, 4)])
    found = rows(client.records.list("account", filter=f"startswith(accountnumber,'{marker}-U')"))
    assert len(found) == 3


@operation("records.delete (one)")
def _():
    client.records.delete("account", state["many"][0])
    assert client.records.retrieve("account", state["many"][0]) is None


@operation("records.delete (many: BulkDelete job)")
def _():
    job_id = client.records.delete("account", state["many"][1:3])
    assert job_id
    for _ in range(100):
        left = rows(client.records.list("account", filter=f"startswith(name,'{marker} many')"))
        if len(left) == 2:
            break
        time.sleep(0.1)
    assert len(left) == 2


@operation("records.delete (many, one by one)")
def _():
    client.records.delete("account", state["many"][3:], use_bulk_delete=False)
    assert not rows(client.records.list("account", filter=f"startswith(name,'{marker} many')"))


@operation("query.sql")
def _():
    found = client.query.sql(f"SELECT TOP 5 name, accountnumber FROM account WHERE accountnumber = '{marker}-1'")
    assert len(found) == 1
    assert found[0]["name"] == f"{marker} one"


@operation("query.sql (a join)")
def _():
    client.query.sql("SELECT a.name, c.lastname FROM account a JOIN contact c ON c.parentcustomerid = a.accountid")


@operation("query.sql_columns")
def _():
    assert any(c["name"] == "name" for c in client.query.sql_columns("account"))


@operation("query.fetchxml")
def _():
    xml = (f"<fetch top='5'><entity name='account'><attribute name='name'/>"
           f"<filter><condition attribute='accountnumber' operator='eq' value='{marker}-1'/></filter>"
           f"</entity></fetch>")
    found = rows(client.query.fetchxml(xml).execute())
    assert len(found) == 1


@operation("query.fetchxml (link-entity)")
def _():
    contact = client.records.create("contact", {"lastname": f"{marker} linked",
                                                "parentcustomerid_account@odata.bind": f"/accounts({state['one']})"})
    state["contact"] = contact
    xml = (f"<fetch><entity name='contact'><attribute name='lastname'/>"
           f"<filter><condition attribute='lastname' operator='eq' value='{marker} linked'/></filter>"
           f"<link-entity name='account' from='accountid' to='parentcustomerid' alias='a' link-type='inner'>"
           f"<attribute name='name'/></link-entity></entity></fetch>")
    found = rows(client.query.fetchxml(xml).execute())
    assert len(found) == 1
    assert found[0]["a.name"] == f"{marker} one"


@operation("query.builder")
def _():
    from PowerPlatform.Dataverse.models.filters import col
    result = (client.query.builder("account").select("name").where(col("accountnumber") == f"{marker}-1")
              .order_by("name").top(5).execute())
    assert len(rows(result)) == 1


@operation("query.odata_select")
def _():
    assert "name" in client.query.odata_select("account")


@operation("query.odata_expands")
def _():
    assert any(e for e in client.query.odata_expands("contact"))


@operation("query.odata_expand")
def _():
    assert client.query.odata_expand("contact", "account")


@operation("query.odata_bind")
def _():
    bind = client.query.odata_bind("contact", "account", state["one"])
    client.records.update("contact", state["contact"], bind)


@operation("tables.get")
def _():
    info = client.tables.get("account")
    assert info["entity_set_name"] == "accounts" if isinstance(info, dict) else info.entity_set_name == "accounts"


@operation("tables.list")
def _():
    assert len(client.tables.list()) >= 2


@operation("tables.list (filter on an unknown property)")
def _():
    client.tables.list(filter="NoSuchProperty eq 'x'")


@operation("tables.list_columns")
def _():
    assert any(c["LogicalName"] == "name" for c in client.tables.list_columns("account"))


@operation("tables.get_column")
def _():
    assert client.tables.get_column("account", "name")["LogicalName"] == "name"


@operation("tables.create")
def _():
    # The table operations after this one use the new table, or the sandbox's sample_event when it was refused.
    state["table"], state["column"] = "sample_event", "sample_name"
    client.tables.create(f"new_Compat{marker}", {"new_Code": "string", "new_Amount": "int"})
    assert client.tables.get(f"new_Compat{marker}") is not None
    state["table"], state["column"] = f"new_Compat{marker}", "new_Notes"


@operation("tables.add_columns")
def _():
    client.tables.add_columns(state["table"], {"new_Notes": "string", "new_Price": "decimal"})
    if state["table"] != "sample_event":
        # The new columns are written and read at once (Dataverse: once the client's visibility wait is over).
        record = client.records.create(state["table"], {"new_Name": "row", "new_Notes": "hello", "new_Price": 1.5})
        found = client.records.get(state["table"], record, select=["new_notes", "new_price"])
        assert (found["new_notes"], float(found["new_price"])) == ("hello", 1.5)


@operation("tables.update_column")
def _():
    client.tables.update_column(state["table"], state["column"], {"max_length": 300})


@operation("tables.update_columns")
def _():
    client.tables.update_columns(state["table"], {state["column"]: {"display_name": "Notes again"}})


@operation("tables.remove_columns")
def _():
    column = "new_Price" if state["table"] != "sample_event" else "sample_payload"
    client.tables.remove_columns(state["table"], [column])


@operation("tables.create_alternate_key")
def _():
    column = "new_code" if state["table"] != "sample_event" else "sample_name"
    state["key"] = client.tables.create_alternate_key(state["table"], f"new_code_key{marker}", [column])


@operation("tables.get_alternate_keys")
def _():
    assert client.tables.get_alternate_keys(state["table"] if "key" in state else "account")


@operation("tables.delete_alternate_key")
def _():
    key = state.get("key") or client.tables.get_alternate_keys("account")[0]
    client.tables.delete_alternate_key(state["table"], key["metadata_id"] if isinstance(key, dict) else key.metadata_id)


@operation("tables.create_lookup_field")
def _():
    state["lookup"] = client.tables.create_lookup_field(state["table"], "new_AccountId", "account")
    if state["table"] != "sample_event":
        record = client.records.create(state["table"], {"new_Name": "linked",
                                                        "new_AccountId@odata.bind": f"/accounts({state['one']})"})
        found = client.records.get(state["table"], record, select=["_new_accountid_value"])
        assert found["_new_accountid_value"] == state["one"]


@operation("tables.create_one_to_many_relationship")
def _():
    from PowerPlatform.Dataverse.models.relationship import LookupAttributeMetadata, OneToManyRelationshipMetadata
    from PowerPlatform.Dataverse.models.labels import Label, LocalizedLabel
    label = Label(localized_labels=[LocalizedLabel(label="Contact", language_code=1033)])
    lookup = LookupAttributeMetadata(schema_name="new_ContactId", display_name=label)
    relationship = OneToManyRelationshipMetadata(schema_name=f"new_contact_{marker}",
                                                 referenced_entity="contact",
                                                 referencing_entity=state["table"].lower(),
                                                 referenced_attribute="contactid")
    state["one_to_many"] = client.tables.create_one_to_many_relationship(lookup, relationship)


@operation("tables.create_many_to_many_relationship")
def _():
    from PowerPlatform.Dataverse.models.relationship import ManyToManyRelationshipMetadata
    relationship = ManyToManyRelationshipMetadata(schema_name=f"new_compat_contact_{marker}",
                                                  entity1_logical_name=state["table"].lower(),
                                                  entity2_logical_name="contact")
    state["many_to_many"] = client.tables.create_many_to_many_relationship(relationship)


@operation("tables.get_relationship")
def _():
    name = f"new_compat_contact_{marker}" if "many_to_many" in state else "contact_customer_accounts"
    assert client.tables.get_relationship(name) is not None


@operation("tables.list_relationships")
def _():
    assert client.tables.list_relationships()


@operation("tables.list_table_relationships")
def _():
    assert client.tables.list_table_relationships(state["table"] if "lookup" in state else "contact")


@operation("tables.delete_relationship")
def _():
    found = state.get("many_to_many") or client.tables.get_relationship("contact_customer_accounts")
    client.tables.delete_relationship(found["relationship_id"] if isinstance(found, dict) else found.relationship_id)


@operation("tables.delete")
def _():
    client.tables.delete(state["table"])
    assert client.tables.get(state["table"]) is None


@operation("files.upload (small)")
def _():
    path = os.path.join(tempfile.mkdtemp(), "small.txt")
    with open(path, "wb") as handle:
        handle.write(b"hello file column" * 100)
    client.files.upload("account", state["one"], "sample_contract", path, mode="small")


@operation("files.upload (chunk)")
def _():
    path = os.path.join(tempfile.mkdtemp(), "large.bin")
    with open(path, "wb") as handle:
        handle.write(os.urandom(5 * 1024 * 1024 + 17))
    client.files.upload("account", state["one"], "sample_contract", path, mode="chunk", if_none_match=False)


@operation("dataframe.create")
def _():
    import pandas as pd
    frame = pd.DataFrame({"name": [f"{marker} df {i}" for i in range(3)]})
    state["frame_ids"] = client.dataframe.create("account", frame)
    assert len(state["frame_ids"]) == 3


@operation("dataframe.get")
def _():
    frame = client.dataframe.get("account", filter=f"startswith(name,'{marker} df')", select=["name"])
    assert len(frame) == 3


@operation("dataframe.update")
def _():
    import pandas as pd
    changes = pd.DataFrame({"accountid": list(state["frame_ids"]), "telephone1": ["555-0199"] * 3})
    client.dataframe.update("account", changes, id_column="accountid")


@operation("dataframe.sql")
def _():
    frame = client.dataframe.sql(f"SELECT name FROM account WHERE telephone1 = '555-0199'")
    assert len(frame) == 3


@operation("dataframe.delete")
def _():
    client.dataframe.delete("account", state["frame_ids"], use_bulk_delete=False)


@operation("batch: records create/get/update/delete/list")
def _():
    batch = client.batch.new()
    batch.records.create("account", {"name": f"{marker} batch"})
    batch.records.get("account", state["one"], select=["name"])
    batch.records.update("account", state["one"], {"telephone1": "555-0102"})
    batch.records.list("account", filter=f"startswith(name,'{marker}')", top=2)
    extra = client.records.create("account", {"name": f"{marker} batch delete"})
    batch.records.delete("account", extra, use_bulk_delete=False)
    result = batch.execute()
    assert not result.has_errors, [r.error_message for r in result.failed]


@operation("batch: changeset")
def _():
    batch = client.batch.new()
    with batch.changeset() as changes:
        reference = changes.records.create("account", {"name": f"{marker} changeset"})
        changes.records.update("account", reference, {"telephone1": "555-0103"})
    result = batch.execute()
    assert not result.has_errors, [r.error_message for r in result.failed]


@operation("batch: tables.get/list")
def _():
    batch = client.batch.new()
    batch.tables.get("account")
    batch.tables.list()
    result = batch.execute()
    assert not result.has_errors, [r.error_message for r in result.failed]


@operation("batch: query.sql")
def _():
    batch = client.batch.new()
    batch.query.sql(f"SELECT name FROM account WHERE accountnumber = '{marker}-1'")
    result = batch.execute()
    assert not result.has_errors, [r.error_message for r in result.failed]


wanted = set(job.get("only") or [name for name, _ in operations])
for name, function in operations:
    if name not in wanted:
        continue
    started = time.perf_counter()
    try:
        function()
        outcome, detail = "pass", ""
    except HttpError as exc:
        outcome, detail = f"refused {exc.status_code}", str(exc)[:300]
    except Exception as exc:
        outcome = "fail"
        detail = f"{type(exc).__name__}: {exc}"[:300] + " | " + traceback.format_exc(limit=-2).replace("\n", " ")[:400]
    print(json.dumps({"name": name, "outcome": outcome, "detail": detail,
                      "seconds": round(time.perf_counter() - started, 3)}), flush=True)
client.close()
"""


def client_python(cache_dir: Path | None = None) -> Path:
    """:returns: the interpreter of the environment holding Microsoft's client (created once, then reused)."""
    return ensure_venv("powerplatform-dataverse-client", [MICROSOFT], root=cache_dir)


def run_client(sandbox: Sandbox, python: Path, only: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Run the client's operations against a running TLS sandbox.

    :param sandbox: a sandbox started with ``tls=True`` (the client refuses ``http``).
    :param python: the client environment's interpreter (:func:`client_python`).
    :param only: operation names to run (default: all).
    :returns: by operation name: ``outcome`` (``pass``, ``refused <status>`` or ``fail``), ``detail``, ``seconds``.
    :raises RuntimeError: when the driver itself fails.
    """
    assert sandbox.clients is not None
    assert sandbox.ca_cert_path is not None
    client = sandbox.clients.secret_client
    job = {
        "origin": sandbox.origin,
        "tenant": sandbox.tenant_id,
        "client_id": client.client_id,
        "secret": client.read_secret(),
        "only": only,
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV")) and key not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
    }
    env.update({"REQUESTS_CA_BUNDLE": str(sandbox.ca_cert_path), "SSL_CERT_FILE": str(sandbox.ca_cert_path)})
    completed = subprocess.run(
        [str(python), "-c", DRIVER],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    outcomes: dict[str, dict[str, Any]] = {}
    for line in completed.stdout.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            outcomes[entry.pop("name")] = entry
    if completed.returncode != 0 or not outcomes:
        raise RuntimeError(f"the client driver failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return outcomes


def markdown_table() -> str:
    """:returns: the compatibility table of ``docs/sandbox.md``: operation, Dataverse, sandbox, Learn page."""
    lines = [
        "| operation of `powerplatform-dataverse-client` 1.1.0 | Dataverse | sandbox | Microsoft Learn |",
        "|---|---|---|---|",
    ]
    for operation in OPERATIONS:
        sandbox = operation.sandbox_outcome if operation.sandbox is None else f"**{operation.sandbox}**"
        lines.append(
            f"| `{operation.name}` | {operation.expected} | {sandbox} | "
            f"[{operation.source}]({_LEARN}/{operation.source}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every operation once and print operation → outcome (exit 1 when one differs from Dataverse)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"environment cache (default: ${CACHE_ENV})")
    parser.add_argument("--markdown", action="store_true", help="print the docs/sandbox.md table and exit")
    parser.add_argument("--only", action="append", help="run only this operation (repeatable)")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown_table())
        return 0
    python = client_python(args.cache_dir)
    with Sandbox(SandboxConfig(tls=True)) as sandbox:
        outcomes = run_client(sandbox, python, args.only)
    width = max(len(op.name) for op in OPERATIONS)
    agreed = 0
    for operation in OPERATIONS:
        if operation.name not in outcomes:
            continue
        outcome = outcomes[operation.name]
        same = outcome["outcome"] == operation.sandbox_outcome
        agreed += same
        mark = ("ok  " if operation.sandbox is None else "diff") if same else "FAIL"
        detail = "" if same else f"  ({outcome['detail']})"
        print(f"{mark} {operation.name:<{width}}  {outcome['outcome']:<12} Dataverse: {operation.expected}{detail}")
    as_dataverse = sum(
        outcomes.get(op.name, {}).get("outcome") == op.expected for op in OPERATIONS if op.name in outcomes
    )
    print(f"{as_dataverse} of {len(outcomes)} operations answered as Dataverse does; {agreed} as the table says")
    return 0 if agreed == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
