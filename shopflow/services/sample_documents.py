"""A sample request's qualification documents (seed 000 1.2: 企业资质证明) as files: checked
(PDF, JPEG or PNG by their first bytes, not only their name; up to
``SHOPFLOW_DOCUMENT_MAX_BYTES``), kept in the document store (providers/storage.py), listed in
the table ``sample_documents`` (revision 0010) and told to the case's workflow (its
``add_document`` Update), whose preliminary review passes a request on only with one at least.

One path for ``POST /samples/{id}/documents``, the new sample form and the case page.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import unicodedata
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio.client import Client

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Case, SampleDocument
from shopflow.models.types import utcnow
from shopflow.providers.storage import DocumentMissing, DocumentStore, StoreError
from shopflow.services import cases
from shopflow.services.errors import Refused
from shopflow.settings import Settings
from shopflow.workflows.shared import DocumentAdded
from shopflow.workflows.vocab import CaseKind

# What each accepted type starts with, and the names it may carry.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
EXTENSIONS = {"pdf": "application/pdf", "jpg": "image/jpeg", "jpeg": "image/jpeg",
              "png": "image/png"}
ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"
MAX_PER_SAMPLE = 20


def sniff(data: bytes) -> str | None:
    """The content type the bytes are, by their signature; None for anything else."""
    for signature, content_type in SIGNATURES:
        if data.startswith(signature):
            return content_type
    return None


def clean_filename(name: str) -> str:
    """The file's own name, without a path, control characters or quotes, at most 120
    characters (shown to people and sent back in Content-Disposition, never a storage key)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name)
                   if unicodedata.category(ch)[0] != "C" and ch not in "\"';")
    name = re.sub(r"\s+", " ", name).strip(" .")
    return name[-120:] or "document"


def check_file(filename: str, data: bytes, max_bytes: int) -> tuple[str, str]:
    """(clean name, content type) of an acceptable file; 422 naming ``file`` otherwise."""
    name = clean_filename(filename or "")
    if not data:
        raise Refused(422, "empty_document", "the file is empty", {"field": "file"})
    if len(data) > max_bytes:
        raise Refused(422, "document_too_large",
                      f"the file is {len(data)} bytes: at most {max_bytes} "
                      "(SHOPFLOW_DOCUMENT_MAX_BYTES)", {"field": "file", "max_bytes": max_bytes})
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    claimed = EXTENSIONS.get(ext)
    found = sniff(data)
    if claimed is None or found is None:
        raise Refused(422, "unsupported_document_type",
                      "a qualification document is a PDF, JPEG or PNG file", {"field": "file"})
    if claimed != found:
        raise Refused(422, "document_type_mismatch",
                      f"the file is named .{ext} but its content is {found}", {"field": "file"})
    return name, found


def document_id(sample_id: str, digest: str) -> str:
    """The same file for the same request is one document (a retried upload, a double submit)."""
    return hashlib.sha256(f"{sample_id}:{digest}".encode()).hexdigest()[:24]


def view(d: SampleDocument) -> dict[str, Any]:
    return {"id": d.id, "filename": d.filename, "content_type": d.content_type,
            "size": d.size, "sha256": d.sha256, "uploaded_by": d.uploaded_by,
            "uploaded_at": d.uploaded_at.isoformat(),
            "url": f"/api/v1/samples/{d.sample_id}/documents/{d.id}"}


def list_documents(engine: Engine, sample_id: str) -> list[dict[str, Any]]:
    with session_scope(engine, write=False) as session:
        rows = session.exec(select(SampleDocument).where(SampleDocument.sample_id == sample_id)
                            .order_by(col(SampleDocument.uploaded_at), col(SampleDocument.id)))
        return [view(d) for d in rows]


def _open_sample(engine: Engine, sample_id: str) -> Case:
    with session_scope(engine, write=False) as session:
        case = session.get(Case, sample_id)
        count = len(session.exec(select(SampleDocument.id).where(
            SampleDocument.sample_id == sample_id)).all())
    if case is None or case.kind != CaseKind.SAMPLE:
        raise Refused(404, "not_found", f"no sample request {sample_id}")
    if case.closed_at is not None:
        raise Refused(409, "case_closed", f"sample request {sample_id} is closed")
    if count >= MAX_PER_SAMPLE:
        raise Refused(409, "too_many_documents",
                      f"a sample request keeps at most {MAX_PER_SAMPLE} documents",
                      {"field": "file"})
    return case


def _save_row(engine: Engine, row: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    with session_scope(engine) as session:
        new = insert_ignore(session, SampleDocument, [row], ["id"])
        stored = session.get(SampleDocument, row["id"])
        assert stored is not None
        return bool(new), view(stored)


def _drop_row(engine: Engine, doc_id: str) -> None:
    with session_scope(engine) as session:
        row = session.get(SampleDocument, doc_id)
        if row is not None:
            session.delete(row)


async def add_document(client: Client, engine: Engine, settings: Settings,
                       store: DocumentStore, sample_id: str, filename: str, data: bytes,
                       actor: str) -> tuple[bool, dict[str, Any]]:
    """Check, store and list a file, then tell the case: (new, the document). The same file
    again is the same document (False). A refusal or an outage of the store or of Temporal
    takes the new file and row back: nothing half-applied."""
    name, content_type = check_file(filename, data, settings.document_max_bytes)
    case = await asyncio.to_thread(_open_sample, engine, sample_id)
    digest = hashlib.sha256(data).hexdigest()
    doc_id = document_id(sample_id, digest)
    key = f"{sample_id}/{doc_id}"
    try:
        await asyncio.to_thread(store.put, key, data, content_type)
    except StoreError as err:
        raise Refused(503, "unavailable", f"the document store is unavailable: {err}",
                      headers={"Retry-After": "5"}) from None
    new, doc = await asyncio.to_thread(_save_row, engine, {
        "id": doc_id, "sample_id": sample_id, "filename": name, "content_type": content_type,
        "size": len(data), "sha256": digest, "storage_key": key, "uploaded_by": actor,
        "uploaded_at": utcnow()})
    try:
        await cases.send_update(client, case.workflow_id, "add_document", DocumentAdded(
            doc_id, name, content_type, len(data), actor), dict)
    except BaseException:
        if new:
            await asyncio.to_thread(_drop_row, engine, doc_id)
            await asyncio.to_thread(_forget_file, store, key)
        raise
    return new, doc


def _forget_file(store: DocumentStore, key: str) -> None:
    # An orphan file under a key no row names is harmless: it is never served.
    with contextlib.suppress(StoreError):
        store.delete(key)


def download_headers(doc: dict[str, Any]) -> dict[str, str]:
    """A document's answer headers: a PDF opens in the browser, an image downloads; the
    name as the uploader gave it (RFC 5987), never cached, never sniffed."""
    disposition = "inline" if doc["content_type"] == "application/pdf" else "attachment"
    return {"Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(doc['filename'])}",
            "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


def document_content(engine: Engine, store: DocumentStore, sample_id: str,
                     doc_id: str) -> tuple[dict[str, Any], bytes]:
    """A document and its bytes for the reviewer (404 for another request's document)."""
    with session_scope(engine, write=False) as session:
        row = session.get(SampleDocument, doc_id)
        if row is None or row.sample_id != sample_id:
            raise Refused(404, "not_found", f"no document {doc_id} on sample {sample_id}")
        doc = view(row)
        key = row.storage_key
    try:
        return doc, store.get(key)
    except DocumentMissing:
        raise Refused(404, "not_found", f"document {doc_id} is no longer in the store") from None
    except StoreError as err:
        raise Refused(503, "unavailable", f"the document store is unavailable: {err}",
                      headers={"Retry-After": "5"}) from None
