"""The native HTTPS client: sends what the component's ``build-*`` made (``HttpRequest``: the WIT
string body as UTF-8 bytes) with ``http.client`` and ``ssl``, presenting the merchant's client
certificate when the request needs it (send_coupon).

One connection per call (no pooling): WeChat's coupon calls are few per user action, and a fresh
connection cannot be a stale keep-alive one.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from .errors import InvalidInputError, MalformedResponseError, TransportError
from .models import CallOptions, HttpRequest

# The defaults are the core's (generated from wxcoupon_core::settings).
from ._limits import (
    DEFAULT_BETWEEN_BYTES_TIMEOUT_MS,
    DEFAULT_CONNECT_TIMEOUT_MS,
    DEFAULT_FIRST_BYTE_TIMEOUT_MS,
    DEFAULT_MAX_RESPONSE_BYTES,
)

_contexts: Dict[Tuple[Optional[str], ...], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def _positive(value: Optional[int], default: int, field: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(field, "must be a positive integer")
    return value


def _context(options: CallOptions, with_identity: bool) -> ssl.SSLContext:
    """An SSL context per (CA file, certificate, key) — built once, reused (thread-safe)."""
    identity = (options.cert_file, options.key_file, options.key_password) if with_identity else (None, None, None)
    key = (options.ca_file,) + identity
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is not None:
            return ctx
    try:
        ctx = ssl.create_default_context(cafile=options.ca_file)
    except (OSError, ssl.SSLError) as e:
        raise InvalidInputError("options.ca_file", f"cannot be read as PEM CA certificates ({e.__class__.__name__})") from None
    if with_identity and options.cert_file:
        try:
            ctx.load_cert_chain(options.cert_file, options.key_file, password=options.key_password)
        except (OSError, ssl.SSLError) as e:
            raise InvalidInputError(
                "options.cert_file", f"cannot be read as a PEM certificate and key ({e.__class__.__name__})"
            ) from None
    with _contexts_lock:
        _contexts[key] = ctx
    return ctx


def _describe(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, socket.gaierror):
        return "DNS lookup failed"
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected: {e.verify_message}"
    if isinstance(e, ssl.SSLError):
        return f"TLS failed: {e.reason or e}"
    if isinstance(e, (ConnectionResetError, BrokenPipeError)):
        return "connection reset"
    if isinstance(e, http.client.RemoteDisconnected):
        return "connection closed before the response"
    if isinstance(e, http.client.IncompleteRead):
        return "connection closed before the response ended"
    return f"{e.__class__.__name__}: {e}"


def exchange(req: HttpRequest, options: CallOptions) -> Tuple[int, bytes]:
    """Sends ``req`` and returns ``(status, body)``. Raises TransportError (``may_have_reached_wechat``
    once the connection was up and the request on its way) or MalformedResponseError (body over
    ``max_response_bytes``)."""
    status, _, body = exchange_with_headers(req, options)
    return status, body


def exchange_with_headers(req: HttpRequest, options: CallOptions) -> Tuple[int, List[Tuple[str, str]], bytes]:
    """:func:`exchange`, with the answer's headers as received (API v3 verifies them)."""
    url = urlsplit(req.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise InvalidInputError("url", "must be an http or https URL")
    connect_ms = _positive(options.connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS, "options.connect_timeout_ms")
    first_ms = _positive(options.first_byte_timeout_ms, DEFAULT_FIRST_BYTE_TIMEOUT_MS, "options.first_byte_timeout_ms")
    between_ms = _positive(options.between_bytes_timeout_ms, DEFAULT_BETWEEN_BYTES_TIMEOUT_MS, "options.between_bytes_timeout_ms")
    max_bytes = _positive(options.max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES, "options.max_response_bytes")
    where = url.netloc

    conn: http.client.HTTPConnection
    if url.scheme == "https":
        # The certificate goes only with requests that need it, and only to the URL the component
        # built from the merchant's settings.
        ctx = _context(options, req.needs_client_certificate)
        conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=connect_ms / 1000)
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=connect_ms / 1000)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query

    sent = False
    try:
        try:
            conn.connect()
        except socket.timeout:
            raise TransportError(f"connecting timed out ({where})", False) from None
        except OSError as e:
            raise TransportError(f"{_describe(e)} ({where})", False) from None
        assert conn.sock is not None
        conn.sock.settimeout(first_ms / 1000)
        try:
            conn.putrequest(req.method, path, skip_accept_encoding=True)
            for name, value in req.headers:
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(req.body)))
            sent = True
            conn.endheaders(req.body)
            response = conn.getresponse()
        except socket.timeout:
            raise TransportError(f"timed out waiting for the response ({where})", True) from None
        except (OSError, http.client.HTTPException) as e:
            raise TransportError(f"{_describe(e)} ({where})", sent) from None
        if conn.sock is not None:
            conn.sock.settimeout(between_ms / 1000)
        chunks = []
        size = 0
        try:
            while True:
                chunk = response.read1(16 * 1024)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise MalformedResponseError(None, f"body is over the limit of {max_bytes} bytes")
                chunks.append(chunk)
        except socket.timeout:
            raise TransportError(f"timed out between response bytes ({where})", True) from None
        except (OSError, http.client.HTTPException) as e:
            raise TransportError(f"reading the response failed: {_describe(e)} ({where})", True) from None
        if response.length is not None and response.length > 0:
            raise TransportError(f"connection closed before the response ended ({where})", True)
        return response.status, list(response.getheaders()), b"".join(chunks)
    finally:
        conn.close()
