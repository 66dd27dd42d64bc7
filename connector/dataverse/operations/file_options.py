"""The options of Upload File and Download File, parsed once: the column, how the content travels, where it lives.

Both name the record as the other record operations do (``key_fields``, else ``@odata.editLink`` or the primary
key) and the file or image ``column``. ``local_directory`` is the only place documents may read files from (upload)
or write files to (download): a path that leaves it is refused. Not for moving content:
:mod:`connector.dataverse.operations.file_uploads` and :mod:`connector.dataverse.operations.file_downloads`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from connector.dataverse.operations.options import CommonOptions, OperationOptions, strings
from connector.errors import FieldError

__all__ = ["DownloadFileOptions", "FileTransfer", "ImageSize", "UploadFileOptions"]

FileTransfer = Literal["auto", "single", "blocks"]
"""How content travels: ``single`` (one request), ``blocks`` (4 MB blocks), ``auto`` (by size)."""
ImageSize = Literal["full", "thumbnail"]


@dataclass(frozen=True, kw_only=True)
class _FileOptions(OperationOptions):
    """What both file operations share.

    :param key_fields: the document members that form an alternate key; empty: edit link or primary key.
    :param column: the file or image column's logical name.
    :param transfer: how content travels.
    :param block_size: the bytes of one block (``UploadBlock``, ``DownloadBlock`` or a ranged ``GET``).
    :param local_directory: the directory documents' file paths are read from or written to; ``None``: none.
    """

    key_fields: tuple[str, ...]
    column: str
    transfer: FileTransfer
    block_size: int
    local_directory: Path | None

    @staticmethod
    def _shared(values: Mapping[str, Any]) -> dict[str, Any]:
        directory = values.get("local_directory")
        return {
            "common": CommonOptions.from_values(values),
            "key_fields": strings(values["key_fields"]),
            "column": str(values["column"]),
            "transfer": values["transfer"],
            "block_size": int(values["block_size"]),
            "local_directory": Path(str(directory)).expanduser() if directory else None,
        }


@dataclass(frozen=True, kw_only=True)
class UploadFileOptions(_FileOptions):
    """The Upload File operation's options.

    :param single_request_max_bytes: with ``transfer: auto``, files up to this size go in one request.
    """

    single_request_max_bytes: int

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> UploadFileOptions:
        """:returns: the options of validated values (``operation`` is ``upload_file``; defaults filled in)."""
        return cls(**cls._shared(values), single_request_max_bytes=int(values["single_request_max_bytes"]))


@dataclass(frozen=True, kw_only=True)
class DownloadFileOptions(_FileOptions):
    """The Download File operation's options.

    :param image_size: for an image column, the full-size image or its thumbnail.
    :param output: ``base64`` (the content in the result) or ``file`` (written under ``local_directory``).
    :param max_inline_bytes: with ``output: base64``, the largest file returned in the result.
    :param overwrite: with ``output: file``, whether an existing file is replaced.
    """

    image_size: ImageSize
    output: Literal["base64", "file"]
    max_inline_bytes: int
    overwrite: bool

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> DownloadFileOptions:
        """:returns: the options of validated values (``operation`` is ``download_file``; defaults filled in)."""
        return cls(
            **cls._shared(values),
            image_size=values["image_size"],
            output=values["output"],
            max_inline_bytes=int(values["max_inline_bytes"]),
            overwrite=bool(values["overwrite"]),
        )

    def problems(self) -> list[FieldError]:
        """:returns: ``output: file`` without a directory to write to."""
        if self.output == "file" and self.local_directory is None:
            return [FieldError("options.local_directory", "is needed with output file: the directory files go to")]
        return []
