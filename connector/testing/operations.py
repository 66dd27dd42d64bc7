"""The operations part of the conformance suite (mixed into :class:`~connector.testing.suite.ConnectorConformance`).

Offline: an unknown operation name, and options its schema refuses, must raise ``ConfigError`` before any input
document is read. Live, when the subclass overrides the ``live_connection`` and ``operation_samples`` fixtures
(the tests skip otherwise): every operation the manifest lists is run with its :class:`OperationSample`, in the
samples' order; each input document must end as exactly one successful result, in order, and the records inbound
operations return must validate against the response profile ``browse`` gives for the sample's object type. Every
result must be well formed for its status: a ``failed``, ``application_error`` or ``outcome_unknown`` result carries
the error that says why (``outcome_unknown``: the request may or may not have been carried out, which a host must
check before sending the document again; a sample ending so fails the test with that message, never passes as done).

Like the rest of the suite it reaches the connector only through the host facade, the manifest and the schemas.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Final

import pytest
from jsonschema import Draft202012Validator

from connector.errors import ConfigError
from connector.host.facade import ConnectorHost
from connector.results import BrowseRequest, Connection, OperationResult, ResultStatus

__all__ = ["OperationSample", "OperationsConformance"]

_DONE: Final = frozenset({ResultStatus.SUCCESS, ResultStatus.NOT_MODIFIED, ResultStatus.DELETED})
_EXPLAINED: Final = frozenset({ResultStatus.FAILED, ResultStatus.APPLICATION_ERROR, ResultStatus.UNKNOWN})


@dataclasses.dataclass(frozen=True)
class OperationSample:
    """How to run one operation against the live service in the operation tests.

    :param options: the operation's options (valid against its schema).
    :param documents: the input documents; each must succeed.
    :param object_type: for inbound operations, the object type whose ``browse`` response profile the returned
        records must satisfy (``None``: not checked).
    """

    options: Mapping[str, Any]
    documents: Sequence[Any] = dataclasses.field(default_factory=lambda: [{}])
    object_type: str | None = None


class _Untouchable:
    """Input documents that fail the test when read: options are checked before any document."""

    def __iter__(self) -> Iterator[Any]:
        raise AssertionError("an input document was read before the operation and its options were checked")


class OperationsConformance:
    """The operation tests; needs the ``host``, ``connection``, ``manifest`` and ``schemas`` fixtures of the suite."""

    connector_id: ClassVar[str]

    @pytest.fixture
    def live_connection(self, host: ConnectorHost) -> Connection:
        """A connection to a running service, for the operation tests; override to provide one."""
        pytest.skip("no live connection: override the live_connection fixture to run the operation tests")

    @pytest.fixture
    def operation_samples(self, live_connection: Connection) -> Mapping[str, OperationSample]:
        """An :class:`OperationSample` per manifest operation, run in this mapping's order; override."""
        pytest.skip("no operation samples: override the operation_samples fixture to run the operation tests")

    def test_an_unknown_operation_is_a_config_error_before_any_document(
        self, host: ConnectorHost, connection: Connection
    ) -> None:
        with pytest.raises(ConfigError):
            host.execute_operation(self.connector_id, connection, "conformance-no-such-operation", {}, _Untouchable())

    def test_options_refused_by_the_schema_are_a_config_error_before_any_document(
        self,
        host: ConnectorHost,
        connection: Connection,
        manifest: Mapping[str, Any],
        schemas: Mapping[str, Mapping[str, Any]],
    ) -> None:
        checked = 0
        for operation in manifest["operations"]:
            if schemas[f"operations/{operation['name']}"].get("additionalProperties") is not False:
                continue
            checked += 1
            with pytest.raises(ConfigError):
                host.execute_operation(
                    self.connector_id, connection, operation["name"], {"conformance-unknown-option": 1}, _Untouchable()
                )
        if not checked:
            pytest.skip("no operation schema refuses unknown options")

    def test_every_manifest_operation_executes(
        self,
        host: ConnectorHost,
        live_connection: Connection,
        manifest: Mapping[str, Any],
        operation_samples: Mapping[str, OperationSample],
    ) -> None:
        names = [operation["name"] for operation in manifest["operations"]]
        missing = [name for name in names if name not in operation_samples]
        assert not missing, f"no operation sample for {missing}"
        for name, sample in operation_samples.items():
            results = self._run(host, live_connection, name, sample)
            failed = [(result.status.value, result.error) for result in results if result.status not in _DONE]
            assert not failed, f"{name}: {failed}"
            indexes = [result.input_index for result in results]
            if any(index is None for index in indexes):
                continue  # one result per record (a query): they answer no single document
            assert indexes == list(range(len(sample.documents))), f"{name}: one result per document, in order"

    def test_outputs_validate_against_their_schemas(
        self,
        host: ConnectorHost,
        live_connection: Connection,
        manifest: Mapping[str, Any],
        operation_samples: Mapping[str, OperationSample],
    ) -> None:
        if "browse" not in manifest.get("capabilities", ()):
            pytest.skip("the connector does not offer browse, so it publishes no response profiles")
        checked = 0
        for name, sample in operation_samples.items():
            if sample.object_type is None:
                continue
            profile = host.browse(
                self.connector_id, live_connection, BrowseRequest("describe", object_type=sample.object_type)
            ).response_schema
            assert profile is not None, f"browse gave no response profile for {sample.object_type}"
            Draft202012Validator.check_schema(profile)
            validator = Draft202012Validator(profile)
            for result in self._run(host, live_connection, name, sample):
                if result.payload is not None and result.status is ResultStatus.SUCCESS:
                    errors = [error.message for error in validator.iter_errors(result.payload)]
                    assert not errors, f"{name}: an output does not fit the {sample.object_type} profile: {errors}"
                    checked += 1
        if not checked:
            pytest.skip("no operation sample returns records of a described object type")

    def _run(
        self, host: ConnectorHost, connection: Connection, name: str, sample: OperationSample
    ) -> list[OperationResult]:
        results = list(host.execute_operation(self.connector_id, connection, name, sample.options, sample.documents))
        assert all(isinstance(result, OperationResult) for result in results), name
        assert all(isinstance(result.status, ResultStatus) for result in results), f"{name}: a status of no contract"
        unexplained = [result for result in results if result.status in _EXPLAINED and result.error is None]
        assert not unexplained, f"{name}: {len(unexplained)} results say they failed or are unknown without saying why"
        return results
