"""The Mercado Libre sandbox's fiscal documents: the invoice a seller attaches to a pack for the buyer.

``POST /packs/{pack_id}/fiscal_documents`` (multipart field ``fiscal_document``; the order id stands
for the pack when the order has no ``pack_id``) answers ``{"ids": [...]}``. As documented: a PDF (or
XML) of at most 1 MB, one document per pack, not on Brazil's site nor for Chile's Full packs; every
refusal is a 400 in ML's error envelope. ``GET`` lists the pack's document, ``DELETE
/packs/{pack_id}/fiscal_documents/{id}`` removes it (then another may be attached).

The sandbox keeps every document ever uploaded per pack, deleted ones included
(:meth:`FiscalDocumentStore.uploads_for`): the chaos oracle checks a pack never got two. Writes run
under :func:`sandbox.knobs.faulty_write`, like every sandbox write.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify, request

from sandbox.knobs import Knobs, faulty_write

if TYPE_CHECKING:
    from sandbox.mercadolibre import MercadoLibreState

MAX_DOCUMENT_BYTES = 1024 * 1024
FISCAL_DOCUMENT_ID_BASE = 61_000_000_000


def _error(status: int, error: str, message: str):
    return jsonify({"message": message, "error": error, "status": status, "cause": []}), status


class FiscalDocumentStore:
    """The documents attached to each pack (by pack id as text), thread-safe."""

    def __init__(self) -> None:
        self._uploads: dict[str, list[dict[str, Any]]] = {}  # pack -> every document ever uploaded
        self._lock = threading.Lock()
        self._next_id = FISCAL_DOCUMENT_ID_BASE

    def current(self, pack_id: str) -> list[dict[str, Any]]:
        """The pack's documents that are still attached (what ``GET`` lists)."""
        with self._lock:
            return [self._public(d) for d in self._uploads.get(str(pack_id), []) if not d["deleted"]]

    def uploads_for(self, pack_id: str) -> list[dict[str, Any]]:
        """Every document ever uploaded to the pack, deleted ones too (``deleted`` says which)."""
        with self._lock:
            return [{**self._public(d), "deleted": d["deleted"], "sha256": d["sha256"]}
                    for d in self._uploads.get(str(pack_id), [])]

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """Every pack's uploads (``GET /_sandbox/records``)."""
        with self._lock:
            packs = list(self._uploads)
        return {pack: self.uploads_for(pack) for pack in packs}

    def add(self, pack_id: str, content: bytes, filename: str, content_type: str) -> dict[str, Any] | str:
        """Attach a document, or the reason it is refused (the pack already has one)."""
        with self._lock:
            documents = self._uploads.setdefault(str(pack_id), [])
            if any(not d["deleted"] for d in documents):
                return "The pack already has a fiscal document. Delete it before uploading a new one."
            self._next_id += 1
            document = {"id": str(self._next_id), "file_name": filename, "file_type": content_type,
                        "size": len(content), "date_created": datetime.now().astimezone().isoformat(timespec="seconds"),
                        "sha256": hashlib.sha256(content).hexdigest(), "deleted": False}
            documents.append(document)
            return self._public(document)

    def delete(self, pack_id: str, document_id: str) -> bool:
        with self._lock:
            for document in self._uploads.get(str(pack_id), []):
                if document["id"] == str(document_id) and not document["deleted"]:
                    document["deleted"] = True
                    return True
            return False

    @staticmethod
    def _public(document: dict[str, Any]) -> dict[str, Any]:
        return {k: document[k] for k in ("id", "file_name", "file_type", "size", "date_created")}


def document_kind(content: bytes) -> str | None:
    """``application/pdf`` or ``text/xml`` by the content's first bytes; None for anything else."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.lstrip().startswith(b"<?xml"):
        return "text/xml"
    return None


def install_fiscal_document_routes(app: Flask, state: MercadoLibreState, knobs: Knobs) -> None:
    """Add ``/packs/{pack_id}/fiscal_documents`` to the Mercado Libre sandbox app."""

    def refusal_for_site(orders: list[dict[str, Any]]):
        if state.site_id == "MLB":
            return _error(400, "bad_request", "Fiscal documents are not available for this site.")
        if state.site_id == "MLC":
            shipments = [state.find("shipments", o["shipping"]["id"]) or {} for o in orders]
            if any(s.get("logistic_type") == "fulfillment" for s in shipments):
                return _error(400, "bad_request", "Fiscal documents cannot be uploaded for fulfillment packs.")
        return None

    @app.post("/packs/<pack_id>/fiscal_documents")
    def upload_fiscal_document(pack_id: str):
        orders = state.pack_orders(pack_id)
        if not orders:
            return _error(404, "not_found", f"Pack {pack_id} not found")
        refused = refusal_for_site(orders)
        if refused is not None:
            return refused
        upload = request.files.get("fiscal_document")
        if upload is None:
            return _error(400, "bad_request", "The fiscal_document file is required.")
        content = upload.read(MAX_DOCUMENT_BYTES + 1)
        if len(content) > MAX_DOCUMENT_BYTES:
            return _error(400, "bad_request", "The file exceeds the maximum size of 1 MB.")
        kind = document_kind(content)
        if kind is None:
            return _error(400, "bad_request", "Invalid file type. Only PDF or XML files are accepted.")

        def commit():
            added = state.fiscal_documents.add(pack_id, content, upload.filename or "factura.pdf", kind)
            if isinstance(added, str):
                return _error(400, "bad_request", added)
            return jsonify({"ids": [added["id"]]}), 201

        return faulty_write(knobs, commit)

    @app.get("/packs/<pack_id>/fiscal_documents")
    def list_fiscal_documents(pack_id: str):
        if not state.pack_orders(pack_id):
            return _error(404, "not_found", f"Pack {pack_id} not found")
        return jsonify({"pack_id": pack_id, "fiscal_documents": state.fiscal_documents.current(pack_id)})

    @app.delete("/packs/<pack_id>/fiscal_documents/<document_id>")
    def delete_fiscal_document(pack_id: str, document_id: str):
        def commit():
            if not state.fiscal_documents.delete(pack_id, document_id):
                return _error(404, "not_found", f"Fiscal document {document_id} not found")
            return jsonify({"id": document_id, "deleted": True})

        return faulty_write(knobs, commit)

    @app.get("/_sandbox/records")
    def sandbox_records():
        return jsonify({"fiscal_documents": state.fiscal_documents.records()})
