"""Where file content comes from and goes to: paths held inside the local directory (symbolic links included),
sources read in blocks and hashed, and downloads renamed into place only when complete.
"""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import pytest
import responses
from responses import matchers

from connector.dataverse.operations.file_contents import file_sink, file_source, local_path
from connector.dataverse.operations.inputs import DocumentError
from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, add_entity, run

RECORD = "00000000-0000-0000-0000-000000000001"


def test_paths_stay_inside_the_local_directory(tmp_path: Path) -> None:
    base = tmp_path / "files"
    (base / "sub").mkdir(parents=True)
    (tmp_path / "secret").write_text("x")
    (base / "link").symlink_to(tmp_path / "secret")
    assert local_path(base, "sub/a.bin", "file_path") == (base / "sub" / "a.bin").resolve()
    assert local_path(base, str(base / "sub" / "a.bin"), "file_path") == (base / "sub" / "a.bin").resolve()
    for escaping in ("../secret", str(tmp_path / "secret"), "link", "sub/../../secret"):
        with pytest.raises(DocumentError) as caught:
            local_path(base, escaping, "file_path")
        assert "outside the local directory" in caught.value.user_message
    with pytest.raises(DocumentError) as none:
        local_path(None, "a.bin", "file_path")
    assert "local_directory" in none.value.user_message


def test_a_path_the_file_system_cannot_use_names_its_member(tmp_path: Path) -> None:
    # A lone surrogate failed in resolve() with UnicodeEncodeError, a 300-character name in exists() with OSError.
    with pytest.raises(DocumentError) as caught:
        local_path(tmp_path, "\ud800.pdf", "file_path")
    assert caught.value.field == "file_path"
    document = {"file_path": "a" * 300 + ".bin"}
    with pytest.raises(DocumentError) as caught:
        file_sink(document, output="file", directory=tmp_path, service_name="x", overwrite=False, limit=10)
    assert caught.value.field == "file_path"


def test_a_source_is_read_in_blocks_and_hashed(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_bytes(b"a" * 10)
    source = file_source({"file_path": "data.csv"}, tmp_path)
    assert (source.name, source.mime_type, source.size) == ("data.csv", "text/csv", 10)
    assert list(source.blocks(4)) == [b"aaaa", b"aaaa", b"aa"]
    assert source.sha256.hexdigest() == hashlib.sha256(b"a" * 10).hexdigest()
    source.close()
    stream = file_source({"file_stream": io.BytesIO(b"xyz"), "file_name": "x.bin", "mime_type": "text/plain"}, None)
    assert (stream.size, stream.mime_type, b"".join(stream.blocks(2))) == (None, "text/plain", b"xyz")


def test_a_mime_type_with_latin1_parameters_is_kept(tmp_path: Path) -> None:
    mime = 'text/plain; name="Bericht \u00fcber.txt"; charset=utf-8'
    source = file_source({"file_content": "eA==", "file_name": "a.txt", "mime_type": mime}, tmp_path)
    assert source.mime_type == mime


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({}, "(document)"),
        ({"file_content": "eA==", "file_path": "a"}, "(document)"),
        ({"file_content": "eA=="}, "file_name"),
        ({"file_content": "eA==", "file_name": "a\nb"}, "file_name"),
        ({"file_content": "eA==", "file_name": "a", "mime_type": "pdf"}, "mime_type"),
        # Into the Content-Type header: they failed inside http.client, a "connection failed" naming no field.
        ({"file_content": "eA==", "file_name": "a", "mime_type": "text/plain\r\n;x"}, "mime_type"),
        ({"file_content": "eA==", "file_name": "a", "mime_type": "text/plain;\rX: y"}, "mime_type"),
        ({"file_content": "eA==", "file_name": "a", "mime_type": "text/plain; n=\u6587"}, "mime_type"),  # not Latin-1
        ({"file_stream": "not a stream", "file_name": "a"}, "file_stream"),
        ({"file_stream": io.BytesIO(b""), "file_name": "a", "file_size": -1}, "file_size"),
        ({"file_path": "missing.bin"}, "file_path"),
    ],
)
def test_a_bad_source_names_its_member(tmp_path: Path, document: dict[str, object], field: str) -> None:
    with pytest.raises(DocumentError) as caught:
        file_source(document, tmp_path)
    assert caught.value.field == field


def test_a_download_file_appears_only_when_complete(tmp_path: Path) -> None:
    sink = file_sink({}, output="file", directory=tmp_path, service_name="../report.pdf", overwrite=False, limit=0)
    sink.write(b"part")
    assert [path.name for path in tmp_path.iterdir() if not path.name.startswith(".")] == []
    sink.abandon()
    assert list(tmp_path.iterdir()) == []
    sink = file_sink({}, output="file", directory=tmp_path, service_name="../report.pdf", overwrite=False, limit=0)
    sink.write(b"whole")
    assert sink.finish() == {"file_path": str(tmp_path / "report.pdf")}
    assert (tmp_path / "report.pdf").read_bytes() == b"whole"
    memory = file_sink({}, output="base64", directory=None, service_name="x", overwrite=False, limit=3)
    memory.write(b"abc")
    assert memory.finish() == {"file_content": base64.b64encode(b"abc").decode()}
    with pytest.raises(DocumentError):
        memory.write(b"d")


@pytest.mark.parametrize("name", ["Bericht über.pdf", " leading space.pdf", "trailing space.pdf ", "del\x7f.pdf"])
def test_a_name_a_header_cannot_carry_travels_as_a_query_parameter(
    mocked: responses.RequestsMock, connection: Connection, name: str
) -> None:
    add_entity(mocked)
    mocked.add(
        "GET",
        f"{API}EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.FileAttributeMetadata",
        json={"value": [{"LogicalName": "sample_contract", "MaxSizeInKB": 32768}]},
    )
    mocked.add(
        "GET",
        f"{API}EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.ImageAttributeMetadata",
        json={"value": []},
    )
    mocked.add(
        "PATCH",
        f"{API}accounts({RECORD})/sample_contract",
        status=204,
        match=[matchers.query_param_matcher({"x-ms-file-name": name})],
    )
    document = {
        "accountid": RECORD,
        "file_name": name,
        "mime_type": "application/pdf",
        "file_content": base64.b64encode(b"%PDF").decode(),
    }
    [result] = run(connection, "upload_file", {"entity_set": "accounts", "column": "sample_contract"}, [document])
    assert result.status is ResultStatus.SUCCESS, result.error
    request = mocked.calls[-1].request
    assert "x-ms-file-name" not in request.headers
    assert request.headers["Content-Type"] == "application/pdf"
    assert request.body == b"%PDF"  # a space around the name failed in requests' header check before
