"""How we talk to a WooCommerce store (REST v3): one :class:`~connector.http.Requestor` with Basic auth,
behind a guard for the user-supplied store address.

What is WooCommerce's own:

* The API lives at ``{store}/wp-json/wc/v3``; ``store`` is whatever address the seller typed.
  HTTP Basic ``consumer_key:consumer_secret`` over HTTPS (``auth_method=query`` sends them as query
  parameters instead, for hosts that drop the ``Authorization`` header).
* Errors are ``{code, message, data: {status}}``.
* No documented rate limit; hosting in front of WordPress may answer 429 (``Retry-After`` honoured)
  or 503 (retried with backoff).

**SSRF guard.** The store address is user input, so a connection must not become a way to make
the connector call its own network: the host is resolved **once**, every address must be public
(no private, loopback, link-local, shared, reserved, multicast or unspecified address, nor an IPv6
address embedding one: IPv4-mapped, 6to4, Teredo, NAT64, see :func:`is_public_address`) and the
connection is pinned to the checked address (``Host`` and TLS SNI keep the name), so DNS cannot
answer differently afterwards. Redirects are never followed (a 3xx is a configuration error).
Sandbox/dev mode (``ChannelOptions.allow_private_network``, or a ``base_url`` override, which the
core only passes in those modes) turns the guard off. An injected transport (tests) is checked but
not pinned.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from connector.errors import ConfigurationError, ConnectorError, InvalidCredentials, TransientError
from connector.http import DEFAULT_STATUS_ERRORS, Requestor, WaitLimits, default_error_message

SERVICE_NAME = "WooCommerce"
REQUIRED_CREDENTIALS = ("store_url", "consumer_key", "consumer_secret")

MAX_ATTEMPTS = 4
BACKOFF_BASE = 1.0
BACKOFF_CAP = 20.0

REDIRECTS = (301, 302, 303, 307, 308)
WOO_STATUS_ERRORS: dict[int, type[ConnectorError]] = {
    **DEFAULT_STATUS_ERRORS,
    403: InvalidCredentials,  # the key lacks read permission
    **{status: ConfigurationError for status in REDIRECTS},
}

Resolver = Callable[[str, int], list[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries inside, when it is one of the forms that reach an IPv4
    host: IPv4-mapped (``::ffff:a.b.c.d``), IPv4-translated (``::ffff:0:a.b.c.d``), IPv4-compatible
    (``::a.b.c.d``), 6to4 (``2002:AABB:CCDD::/48``), Teredo (``2001::/32``, client address stored as
    the bitwise NOT of the last 32 bits) and NAT64's well-known prefix (``64:ff9b::a.b.c.d``)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client; ipaddress already undid the NOT
    if ip in _NAT64_WELL_KNOWN or ip in _IPV4_TRANSLATED or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_public_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local
                                 or ip.is_reserved or ip.is_unspecified)


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses.

    An IPv6 address that embeds an IPv4 one (see :func:`embedded_ipv4`) is judged by that IPv4 too:
    ``2002:7f00:1::1`` (6to4 of 127.0.0.1) or ``64:ff9b::a9fe:a9fe`` (NAT64 of 169.254.169.254) reach
    the embedded host through a relay. IPv4-compatible addresses (deprecated) and NAT64's local-use
    prefix ``64:ff9b:1::/48`` (its embedding depends on the local prefix length) are always refused.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_public_ip(ip)
    if ip in _NAT64_LOCAL_USE or (ip in _IPV4_COMPATIBLE and ip.ipv4_mapped is None):
        return False
    inner = embedded_ipv4(ip)
    if inner is None:
        return _is_public_ip(ip)
    if not _is_public_ip(inner):
        return False
    # NAT64 and IPv4-mapped addresses sit in ranges ipaddress calls reserved/private: the IPv4 decides.
    return True if (ip in _NAT64_WELL_KNOWN or ip.ipv4_mapped is not None) else _is_public_ip(ip)


def _is_valid_hostname(host: str) -> bool:
    """A host name DNS can carry (at most 253 characters, labels of 1 to 63, no spaces or control
    characters, IDNA-encodable), or an IP literal."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if any(ch.isspace() or not ch.isprintable() for ch in host):
        return False
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return False
    labels = ascii_host.rstrip(".").split(".")
    return len(ascii_host) <= 253 and all(0 < len(label) <= 63 for label in labels)


def normalise_store_url(value: Any, *, allow_http: bool) -> str:
    """``https://tienda.co/`` -> ``https://tienda.co`` (a path is kept: WordPress may live in a folder).

    :class:`ConfigurationError` unless it is an absolute http(s) URL without user, query or fragment;
    plain ``http`` only when ``allow_http`` (sandbox/dev), since the keys travel with every request.
    """
    text = str(value or "").strip()
    if text and "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname or parts.username \
            or parts.password or parts.query or parts.fragment:
        raise ConfigurationError("La dirección de la tienda WooCommerce no es válida; escríbela como "
                                 "https://mitienda.com.", detail="store_url is not an absolute http(s) URL")
    if parts.scheme == "http" and not allow_http:
        raise ConfigurationError("La tienda WooCommerce debe usar https: las claves de la API viajan en cada "
                                 "petición.", detail="plain http store_url refused")
    if not _is_valid_hostname(parts.hostname):
        raise ConfigurationError("La dirección de la tienda WooCommerce no es válida; escríbela como "
                                 "https://mitienda.com.", detail="store_url host is not a valid host name")
    netloc = parts.hostname.lower() if port is None else f"{parts.hostname.lower()}:{port}"
    if ":" in parts.hostname:  # IPv6 literal
        netloc = f"[{parts.hostname}]" + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def check_credentials(credentials: Mapping[str, Any], *, allow_http: bool) -> dict[str, Any]:
    """A cleaned copy of ``credentials``; :class:`ConfigurationError` if one is missing or malformed."""
    missing = [key for key in REQUIRED_CREDENTIALS if not str(credentials.get(key) or "").strip()]
    if missing:
        raise ConfigurationError("Faltan datos para conectar WooCommerce: " + ", ".join(missing) + ".",
                                 detail=f"missing credential keys: {missing}")
    cleaned = dict(credentials)
    cleaned["store_url"] = normalise_store_url(credentials["store_url"], allow_http=allow_http)
    for key in ("consumer_key", "consumer_secret"):
        cleaned[key] = str(credentials[key]).strip()
    method = str(credentials.get("auth_method") or "basic").strip().lower()
    if method not in ("basic", "query"):
        raise ConfigurationError("auth_method debe ser «basic» o «query».")
    cleaned["auth_method"] = method
    return cleaned


class GuardedTransport(httpx.BaseTransport):
    """Sends requests only to the store's host, at the one public address it resolved to.

    The first request resolves the host and checks every address (:func:`is_public_address`);
    later requests reuse that answer. With ``pin`` the request goes to the checked IP while the
    ``Host`` header and TLS SNI (and so certificate checks) keep the name.
    """

    def __init__(self, host: str, port: int, *, inner: httpx.BaseTransport, pin: bool,
                 resolve: Resolver = resolve_host):
        self.host, self.port, self.inner, self.pin, self._resolve = host, port, inner, pin, resolve
        self._address: str | None = None
        self._lock = threading.Lock()

    def checked_address(self) -> str:
        with self._lock:
            if self._address is None:
                try:
                    addresses = self._resolve(self.host, self.port)
                except OSError as exc:
                    raise TransientError(f"No se encontró la tienda «{self.host}» (DNS).",
                                         detail=f"resolve failed: {type(exc).__name__}") from exc
                if not addresses:
                    raise TransientError(f"No se encontró la tienda «{self.host}» (DNS).", detail="no addresses")
                refused = [a for a in addresses if not is_public_address(a)]
                if refused:
                    raise ConfigurationError(
                        f"La dirección de la tienda «{self.host}» apunta a una red privada o local; "
                        "solo se permiten tiendas públicas.", detail=f"non-public addresses: {refused}")
                self._address = addresses[0]
            return self._address

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != self.host:
            raise ConfigurationError("Solo se habla con la tienda configurada.",
                                     detail=f"request to another host: {request.url.host}")
        address = self.checked_address()
        if self.pin:
            request.url = request.url.copy_with(host=address)
            request.extensions = {**request.extensions, "sni_hostname": self.host}
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class QueryStringAuth(httpx.Auth):
    """``consumer_key``/``consumer_secret`` as query parameters (WooCommerce accepts them over HTTPS)."""

    def __init__(self, key: str, secret: str):
        self._key, self._secret = key, secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params({"consumer_key": self._key, "consumer_secret": self._secret})
        yield request


def woo_error_message(response: httpx.Response) -> str:
    """``message`` of the error body; for a redirect, where it points (never followed)."""
    if response.status_code in REDIRECTS:
        target = urlsplit(response.headers.get("Location", "")).hostname or "otra dirección"
        return (f"la tienda redirige a {target} y las redirecciones no se siguen; "
                "usa la dirección final de la tienda")
    return default_error_message(response)


class WooCommerceClient:
    """The API requestor (Basic or query auth, SSRF guard, retries, error table)."""

    def __init__(self, credentials: Mapping[str, Any], *, base_url: str | None = None, timeout: float = 20.0,
                 allow_private_network: bool = False, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, resolve: Resolver = resolve_host,
                 wait_limits: WaitLimits | None = None):
        trusted = allow_private_network or bool(base_url)
        self.credentials = check_credentials(credentials, allow_http=trusted)
        self.store_url = self.credentials["store_url"]
        root = (base_url.rstrip("/") if base_url else self.store_url)
        if not trusted:
            parts = urlsplit(root)
            transport = GuardedTransport(parts.hostname or "", parts.port or 443,
                                         inner=transport or httpx.HTTPTransport(), pin=transport is None,
                                         resolve=resolve)
        key, secret = self.credentials["consumer_key"], self.credentials["consumer_secret"]
        auth: httpx.Auth = QueryStringAuth(key, secret) if self.credentials["auth_method"] == "query" \
            else httpx.BasicAuth(key, secret)
        self.api = Requestor(
            service=SERVICE_NAME, base_url=f"{root}/wp-json", auth=auth, timeout=timeout, transport=transport,
            sleep=sleep, max_attempts=MAX_ATTEMPTS, backoff_base=BACKOFF_BASE, backoff_cap=BACKOFF_CAP,
            status_errors=dict(WOO_STATUS_ERRORS), error_message=woo_error_message, follow_redirects=False,
            **(wait_limits or WaitLimits()).as_kwargs(),
        )

    @property
    def calls(self) -> int:
        return self.api.calls

    def close(self) -> None:
        self.api.close()
