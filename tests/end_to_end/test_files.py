"""File and image columns end to end against the sandbox, through the reference host and ``connector run``: uploads
in one request and in 4 MB blocks (from base64, a local path and a host's stream), downloads by ranges, in one
request and in blocks (to the result, a local file and a host's stream), full-size images and thumbnails, and every
failure mode answered for its document only: a column the table lacks, a file over ``MaxSizeInKB``, a path outside
the local directory, a record without a file, a file that would be overwritten. Checked against the server's storage.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from connector.host.sandbox_config import write_sandbox_config
from connector.results import OperationResult, ResultStatus
from tests.support.operations import Live

API = "/api/data/v9.2/"
MB = 1024 * 1024


def account(live: Live) -> str:
    [result] = live.run("create", {"entity_set": "accounts"}, [{"name": f"files-{uuid.uuid4().hex[:8]}"}])
    return f"accounts({result.properties['id']})"


def stored(live: Live, record: str, column: str) -> bytes:
    """The file's content as the server keeps it."""
    service = live.sandbox.service
    entity = service.catalog["account"]
    record_id = record[record.index("(") + 1 : -1]
    found = service.files.load(entity, record_id, entity.by_logical_name(column))
    assert found is not None
    content: bytes = service.files.read(found)
    return content


def ok(results: list[OperationResult]) -> OperationResult:
    [result] = results
    assert result.status is ResultStatus.SUCCESS, result.error
    return result


def test_small_files_in_one_request_round_trip_in_base64(live: Live) -> None:
    record = account(live)
    content = os.urandom(5000)
    document = {
        "@odata.editLink": record,
        "file_name": "contract.pdf",
        "file_content": base64.b64encode(content).decode(),
    }
    up = ok(live.run("upload_file", {"entity_set": "accounts", "column": "sample_contract"}, [document]))
    assert up.properties["transfer"] == "single"
    assert up.payload is not None
    assert (up.payload["file_size"], up.payload["mime_type"]) == (5000, "application/pdf")
    assert stored(live, record, "sample_contract") == content
    options = {"entity_set": "accounts", "column": "sample_contract"}
    down = ok(live.run("download_file", options, [{"@odata.editLink": record}]))
    assert down.payload is not None
    assert base64.b64decode(down.payload["file_content"]) == content
    assert (down.payload["file_name"], down.properties["transfer"]) == ("contract.pdf", "ranges")
    assert down.properties["sha256"] == up.properties["sha256"] == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize("transfer", ["auto", "single", "blocks"])
@pytest.mark.parametrize(
    "name", ["Übersicht.pdf", "報告.txt", "100% sure.txt", "Invoice%2001.pdf", " padded.txt", "padded.txt "]
)
def test_a_name_beyond_plain_ascii_comes_back_as_it_was_uploaded(live: Live, name: str, transfer: str) -> None:
    record = account(live)
    document = {"@odata.editLink": record, "file_name": name, "file_content": base64.b64encode(b"x").decode()}
    ok(live.run("upload_file", {"entity_set": "accounts", "column": "sample_contract"}, [document]))
    options = {"entity_set": "accounts", "column": "sample_contract", "transfer": transfer}
    down = ok(live.run("download_file", options, [{"@odata.editLink": record}]))
    assert down.payload is not None
    assert down.payload["file_name"] == name


def test_large_files_in_blocks_from_and_to_local_files(live: Live, tmp_path: Path) -> None:
    record = account(live)
    (tmp_path / "out").mkdir()
    source = tmp_path / "in" / "big.bin"
    source.parent.mkdir()
    content = os.urandom(9 * MB + 123)
    source.write_bytes(content)
    since = live.sandbox.clock.now()
    options = {
        "entity_set": "accounts",
        "column": "sample_contract",
        "local_directory": str(tmp_path / "in"),
        "single_request_max_bytes": 4 * MB,
    }
    up = ok(live.run("upload_file", options, [{"@odata.editLink": record, "file_path": "big.bin"}]))
    assert up.properties["transfer"] == "blocks"
    assert up.payload is not None
    assert up.payload["file_id"]
    posts = live.sandbox.stats.requests(method="POST", path_prefix=API, since=since)
    assert [record.path.rsplit("/", 1)[-1] for record in posts] == [
        "InitializeFileBlocksUpload",
        "UploadBlock",
        "UploadBlock",
        "UploadBlock",
        "CommitFileBlocksUpload",
    ]
    assert stored(live, record, "sample_contract") == content
    out = {
        "entity_set": "accounts",
        "column": "sample_contract",
        "output": "file",
        "local_directory": str(tmp_path / "out"),
    }
    since = live.sandbox.clock.now()
    down = ok(live.run("download_file", out, [{"@odata.editLink": record}]))
    assert down.payload is not None
    assert Path(down.payload["file_path"]) == tmp_path / "out" / "big.bin"
    assert (tmp_path / "out" / "big.bin").read_bytes() == content
    gets = live.sandbox.stats.requests(method="GET", path_prefix=f"{API}{record}/sample_contract/$value", since=since)
    assert [record.status for record in gets] == [206, 206, 206]
    blocks = ok(
        live.run(
            "download_file", {**out, "transfer": "blocks"}, [{"@odata.editLink": record, "file_path": "b/again.bin"}]
        )
    )
    assert blocks.properties["transfer"] == "blocks"
    assert (tmp_path / "out" / "b" / "again.bin").read_bytes() == content
    assert sorted(path.name for path in (tmp_path / "out").rglob("*")) == ["again.bin", "b", "big.bin"]


def test_a_hosts_streams_in_and_out(live: Live) -> None:
    record = account(live)
    content = os.urandom(5 * MB)
    document = {"@odata.editLink": record, "file_name": "stream.bin", "file_stream": io.BytesIO(content)}
    up = ok(live.run("upload_file", {"entity_set": "accounts", "column": "sample_archive"}, [document]))
    assert up.properties["transfer"] == "blocks"  # a stream of unknown size goes in blocks
    sink = io.BytesIO()
    options = {"entity_set": "accounts", "column": "sample_archive", "block_size": 1 * MB}
    down = ok(live.run("download_file", options, [{"@odata.editLink": record, "file_stream": sink}]))
    assert sink.getvalue() == content
    assert down.payload is not None
    assert "file_content" not in down.payload


def test_image_columns_full_size_and_thumbnail(live: Live) -> None:
    record = account(live)
    image = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)
    document = {"@odata.editLink": record, "file_name": "logo.png", "file_content": base64.b64encode(image).decode()}
    up = ok(live.run("upload_file", {"entity_set": "accounts", "column": "entityimage"}, [document]))
    assert up.payload is not None
    assert up.payload["mime_type"] == "image/png"
    since = live.sandbox.clock.now()
    for size in ("full", "thumbnail"):
        options = {"entity_set": "accounts", "column": "entityimage", "image_size": size}
        down = ok(live.run("download_file", options, [{"@odata.editLink": record}]))
        assert down.payload is not None
        # The sandbox's thumbnail is the image itself (no image library); Dataverse scales it to 144 x 144.
        assert base64.b64decode(down.payload["file_content"]) == image
    gets = live.sandbox.stats.requests(method="GET", path_prefix=f"{API}{record}/entityimage/$value", since=since)
    assert [record.query for record in gets] == ["size=full", ""]


def test_every_failure_fails_only_its_document(live: Live, tmp_path: Path) -> None:
    record = account(live)
    empty = account(live)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "eleven.bin").write_bytes(b"\0" * (11 * MB))
    (tmp_path / "secret.txt").write_text("outside")
    since = live.sandbox.clock.now()
    options = {"entity_set": "accounts", "column": "entityimage", "local_directory": str(tmp_path / "files")}
    small = base64.b64encode(b"img").decode()
    documents: list[dict[str, Any]] = [
        {"@odata.editLink": record, "file_path": "eleven.bin"},
        {"@odata.editLink": record, "file_path": "../secret.txt"},
        {"@odata.editLink": record, "file_path": str(tmp_path / "secret.txt")},
        {"@odata.editLink": record, "file_name": "x.png"},
        {"@odata.editLink": record, "file_content": "not base64!"},
        {"@odata.editLink": record, "file_name": "a/b.png", "file_content": small},
        {"@odata.editLink": record, "file_name": "ok.png", "file_content": small},
    ]
    results = live.run("upload_file", options, documents)
    fields = [result.error.field if result.error else None for result in results]
    assert fields == ["file_path", "file_path", "file_path", "(document)", "file_content", "file_name", None]
    assert results[0].error is not None
    assert "the column entityimage holds at most 10240 KB" in results[0].error.message
    assert results[1].error is not None
    assert "outside the local directory" in results[1].error.message
    posts = live.sandbox.stats.requests(method="POST", path_prefix=API, since=since)
    assert not [post for post in posts if "FileBlocks" in post.path]  # nothing was sent for the refused ones
    [missing] = live.run("upload_file", {**options, "column": "nosuch"}, [documents[-1]])
    assert missing.error is not None
    assert missing.error.field == "options.column"
    assert "its file and image columns: entityimage, sample_archive, sample_contract" in missing.error.message
    [no_file] = live.run(
        "download_file", {"entity_set": "accounts", "column": "sample_contract"}, [{"@odata.editLink": empty}]
    )
    assert no_file.properties["reason"] == "no_file"
    [no_directory] = live.run("upload_file", {"entity_set": "accounts", "column": "entityimage"}, [documents[0]])
    assert no_directory.error is not None
    assert "local_directory" in no_directory.error.message
    out = {"entity_set": "accounts", "column": "entityimage", "output": "file", "local_directory": str(tmp_path)}
    [kept] = live.run("download_file", out, [{"@odata.editLink": record, "file_path": "secret.txt"}])
    assert kept.error is not None
    assert "exists; turn on overwrite" in kept.error.message
    assert (tmp_path / "secret.txt").read_text() == "outside"
    replaced = ok(
        live.run("download_file", {**out, "overwrite": True}, [{"@odata.editLink": record, "file_path": "secret.txt"}])
    )
    assert replaced.payload is not None
    assert (tmp_path / "secret.txt").read_bytes() == b"img"
    inline = {"entity_set": "accounts", "column": "entityimage", "max_inline_bytes": 2}
    [too_big] = live.run("download_file", inline, [{"@odata.editLink": record}])
    assert too_big.error is not None
    assert too_big.error.field == "options.max_inline_bytes"


def test_output_file_needs_a_directory(live: Live) -> None:
    from connector.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        live.run("download_file", {"entity_set": "accounts", "column": "entityimage", "output": "file"}, [{}])
    assert caught.value.fields == ["options.local_directory"]


def test_connector_run_uploads_and_downloads_local_files(live: Live, tmp_path: Path) -> None:
    config = write_sandbox_config(live.sandbox, "client_secret", tmp_path / "d365.json")
    record = account(live)
    (tmp_path / "files").mkdir()
    content = os.urandom(6 * MB)
    (tmp_path / "files" / "report.pdf").write_bytes(content)

    def run(operation: str, options: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "connector.host.cli",
                "run",
                str(config),
                operation,
                "--options",
                json.dumps(options),
            ],
            input=json.dumps(document) + "\n",
            env={**os.environ, "CONNECTOR_HOME": str(tmp_path / "home")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        [line] = [json.loads(text) for text in result.stdout.splitlines()]
        return dict(line)

    base = {"entity_set": "accounts", "column": "sample_contract", "local_directory": str(tmp_path / "files")}
    up = run("upload_file", base, {"@odata.editLink": record, "file_path": "report.pdf"})
    assert (up["status"], up["properties"]["transfer"]) == ("success", "single")
    down = run("download_file", {**base, "output": "file"}, {"@odata.editLink": record, "file_path": "copy.pdf"})
    assert down["status"] == "success"
    assert (tmp_path / "files" / "copy.pdf").read_bytes() == content
    assert down["properties"]["sha256"] == hashlib.sha256(content).hexdigest()
