"""Fetching an invoice's PDF from the storage link Alegra hands out (``GET /invoices/{id}?fields=pdf``).

The link is an absolute URL on another host, so it is fetched with a plain HTTP client of its own:

* **no Alegra credentials** travel to it (the API requestor's Basic auth would leak the token to
  whoever serves the link);
* only ``http``/``https``, at most :data:`MAX_PDF_BYTES`, and the body must look like a PDF;
* redirects are not followed (a storage link serves the file itself; a redirect could lead anywhere);
* in production the host must resolve to public addresses only, and the connection is pinned to
  the address that was checked (a DNS answer that changes between the check and the connection
  cannot point it at the internal network). Sandbox/dev mode (the sandbox serves its PDFs on
  loopback) skips that check.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import httpx

from connector.errors import InvalidPayload, NotFound, TransientError
from integrations.http import shared_tls_context

MAX_PDF_BYTES = 5 * 1024 * 1024

Resolver = Callable[[str, int], list[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses (IPv4-mapped IPv6 judged as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local
                                 or ip.is_reserved or ip.is_unspecified)


class PublicOnlyTransport(httpx.BaseTransport):
    """Sends each request only to a public address of its host, pinned (``Host`` and TLS SNI keep the name)."""

    def __init__(self, inner: httpx.BaseTransport, *, resolve: Resolver = resolve_host, pin: bool = True):
        self.inner, self.resolve, self.pin = inner, resolve, pin

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = self.resolve(host, port)
        except OSError as exc:
            raise TransientError("No se encontró el servidor del PDF de la factura (DNS).",
                                 detail=f"resolve {host} failed: {type(exc).__name__}") from exc
        if not addresses or not all(is_public_address(a) for a in addresses):
            raise InvalidPayload("Alegra entregó un enlace al PDF que apunta a una red privada; no se descarga.",
                                 detail=f"non-public addresses for {host}: {addresses}")
        if self.pin:
            request.url = request.url.copy_with(host=addresses[0])
            request.extensions = {**request.extensions, "sni_hostname": host}
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def fetch_pdf(url: str, *, timeout: float, allow_private_network: bool,
              transport: httpx.BaseTransport | None = None, resolve: Resolver = resolve_host,
              max_bytes: int = MAX_PDF_BYTES) -> bytes:
    """The PDF bytes at ``url``, with no credentials; see the module docstring for what is refused.

    An expired or missing link (403/404/410) is :class:`NotFound` (ask Alegra for a new link); a 5xx or
    a network failure is :class:`TransientError`.
    """
    parts = httpx.URL(url) if isinstance(url, str) and url.strip() else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.host:
        raise InvalidPayload("Alegra entregó un enlace al PDF que no es una dirección web.",
                             detail=f"pdf url scheme/host refused: {str(url)[:120]!r}")
    if not allow_private_network:
        transport = PublicOnlyTransport(transport or httpx.HTTPTransport(verify=shared_tls_context()),
                                        resolve=resolve, pin=transport is None)
    try:
        with httpx.Client(timeout=timeout, transport=transport, verify=shared_tls_context(),
                          follow_redirects=False) as client, \
                client.stream("GET", url) as response:
            if response.status_code in (403, 404, 410):
                raise NotFound("El enlace al PDF de la factura ya no es válido.",
                               detail=f"HTTP {response.status_code} on the pdf link", status_code=response.status_code)
            if response.is_redirect:
                raise InvalidPayload("El enlace al PDF de la factura redirige a otra dirección; no se sigue.",
                                     detail=f"HTTP {response.status_code} to {response.headers.get('Location', '')[:120]}")
            if response.status_code != 200:
                raise TransientError(f"El servidor del PDF de la factura respondió {response.status_code}.",
                                     detail=f"HTTP {response.status_code} on the pdf link",
                                     status_code=response.status_code)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(max_bytes)
            content = bytearray()
            for chunk in response.iter_bytes():
                content.extend(chunk)
                if len(content) > max_bytes:
                    raise _too_large(max_bytes)
    except httpx.TransportError as exc:
        raise TransientError("No se pudo descargar el PDF de la factura.",
                             detail=f"{type(exc).__name__}: {exc}") from exc
    if not content.startswith(b"%PDF"):
        raise InvalidPayload("El enlace de Alegra no entregó un PDF.", detail=f"starts with {bytes(content[:16])!r}")
    return bytes(content)


def _too_large(max_bytes: int) -> InvalidPayload:
    return InvalidPayload(f"El PDF de la factura pesa más de {max_bytes // (1024 * 1024)} MB; no se descarga.",
                          detail=f"pdf over {max_bytes} bytes")
