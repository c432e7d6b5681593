"""The staff CSV upload of ``/admin/imports`` as a dependency (:data:`UploadDep`): up to 10 MB,
parsed by Starlette into its spooled temporary file and copied in chunks to a file of our own
under the var dir (the job reads it and deletes it; files a dead worker left are removed after
a day). Too big, not a form, no file, or a bad CSRF token: the :class:`Upload` says why."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from sso.db.models._common import new_uuid
from sso.web.deps import runtime_of
from sso.web.middleware import RequestBodyTooLarge
from sso.web.security import csrf

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_BODY_BYTES = MAX_FILE_BYTES + 256 * 1024  # the file and the form around it
COPY_CHUNK = 256 * 1024
LEFTOVER_AGE = 24 * 3600  # seconds


@dataclass
class Upload:
    """The uploaded file, copied under the var dir, or why it was refused."""

    filename: str = ""
    path: Path | None = None
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    kept: bool = False  # handed to the job (which deletes it): not removed after the request


def _copy(source: IO[bytes], folder: Path) -> Path | None:
    """Copy ``source`` to a new file under ``folder`` in chunks; None when over the limit.
    Files left by a worker that died mid-check (older than a day) are removed on the way."""
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - LEFTOVER_AGE
    for old in folder.glob("*.csv"):
        with contextlib.suppress(OSError):  # another worker may be removing it too
            if old.stat().st_mtime < cutoff:
                old.unlink()
    target = folder / f"{new_uuid()}.csv"
    copied = 0
    source.seek(0)
    with target.open("wb") as out:
        while chunk := source.read(COPY_CHUNK):
            copied += len(chunk)
            if copied > MAX_FILE_BYTES:
                break
            out.write(chunk)
    if copied > MAX_FILE_BYTES:
        target.unlink(missing_ok=True)
        return None
    return target


async def read_upload(request: Request) -> AsyncIterator[Upload]:
    upload = Upload()
    too_big = {"mb": MAX_FILE_BYTES // (1024 * 1024)}
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=64 * 1024)
    except RequestBodyTooLarge:
        upload.error, upload.params = "admin.import.too_big", too_big
        form = None
    except HTTPException:  # a body Starlette cannot read as multipart
        upload.error = "admin.import.not_a_form"
        form = None
    try:
        if form is not None:
            csrf.verify(request, form)
            file = form.get("file")
            if not isinstance(file, UploadFile) or not file.filename:
                upload.error = "admin.import.empty"
            else:
                upload.filename = file.filename[:200]
                folder = runtime_of(request).settings.var_dir / "imports"
                upload.path = await run_in_threadpool(_copy, file.file, folder)
                if upload.path is None:
                    upload.error, upload.params = "admin.import.too_big", too_big
        yield upload
    finally:
        if form is not None:
            await form.close()
        if upload.path is not None and not upload.kept:
            upload.path.unlink(missing_ok=True)


UploadDep = Annotated[Upload, Depends(read_upload)]
