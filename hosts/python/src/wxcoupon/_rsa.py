"""API v3 signatures natively, with the ``cryptography`` package (OpenSSL), when it is importable:
SHA256withRSA (PKCS#1 v1.5) of a request's message with the merchant's private key, and of an
answer's message with the WeChat Pay key ``v3.check-answer`` names.

Why: inside wasm an RSA-2048 signature costs about 10 ms and a verification about 400 µs; OpenSSL
does both in well under a millisecond. The component still builds every request and checks every
answer up to its signature (``v3.build-*``, ``v3.authorize``, ``v3.check-answer``, ``v3.read-*``);
only the two RSA operations move here. Without ``cryptography`` (``AVAILABLE`` false) the package
keeps signing and verifying inside the component and needs nothing but wasmtime.

The private key's rules are the component's (core/src/v3/merchant.rs, ``MerchantSigner``): a
PKCS#8 PEM block (``BEGIN PRIVATE KEY``) holding an RSA key of 2048 to 4096 bits; a problem is an
``InvalidInputError`` on ``merchant.private_key`` with the component's own rule text, never a
value. Parsed keys are kept, a bounded number of them: merchants are few.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Dict

from .errors import InvalidInputError

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.serialization import load_der_private_key, load_der_public_key

    AVAILABLE = True
except ImportError:  # the package then signs and verifies inside the component
    AVAILABLE = False

MAX_KEYS = 64  # a bound, not an LRU: merchants and WeChat Pay keys are few

# The component's rules (core/src/v3/rsa.rs KeyError, core/src/v3/merchant.rs), word for word, so
# both paths raise the same error.
PRIVATE_KEY_FIELD = "merchant.private_key"
RULE_PEM = "not the PEM block expected (a PKCS#8 PEM, BEGIN PRIVATE KEY)"
RULE_RSA = "not an RSA key of 2048 bits or more (a PKCS#8 PEM, BEGIN PRIVATE KEY)"
RULE_NOT_HELD = "not held here: sign the message outside and hand in the signature"

_PKCS8_BLOCK = re.compile(rb"-----BEGIN PRIVATE KEY-----(.*?)-----END PRIVATE KEY-----", re.S)

_private_keys: Dict[str, Any] = {}  # PEM → RSAPrivateKey
_public_keys: Dict[bytes, Any] = {}  # PKCS#1 RSAPublicKey DER → RSAPublicKey


def private_key(pem: str) -> Any:
    """The merchant's private key from its PKCS#8 PEM, parsed once per PEM."""
    key = _private_keys.get(pem)
    if key is None:
        key = _read_private_key(pem)
        if len(_private_keys) >= MAX_KEYS:
            _private_keys.clear()
        _private_keys[pem] = key
    return key


def _read_private_key(pem: str) -> Any:
    block = _PKCS8_BLOCK.search(pem.encode("utf-8"))
    if block is None:
        raise InvalidInputError(PRIVATE_KEY_FIELD, RULE_PEM)
    try:
        der = base64.b64decode(b"".join(block.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(PRIVATE_KEY_FIELD, RULE_PEM) from None
    try:
        key = load_der_private_key(der, password=None)
    except (ValueError, TypeError):  # `from None`: OpenSSL's message could quote the input
        raise InvalidInputError(PRIVATE_KEY_FIELD, RULE_RSA) from None
    # ring (the component) takes RSA keys of 2048 to 4096 bits.
    if not isinstance(key, RSAPrivateKey) or not 2048 <= key.key_size <= 4096:
        raise InvalidInputError(PRIVATE_KEY_FIELD, RULE_RSA)
    return key


def sign(key: Any, message: str) -> str:
    """Base64 of SHA256withRSA (PKCS#1 v1.5) over the UTF-8 bytes of ``message``."""
    return base64.b64encode(key.sign(message.encode("utf-8"), PKCS1v15(), SHA256())).decode("ascii")


def verify(public_key_der: bytes, message: str, signature: str) -> bool:
    """Whether ``signature`` (Base64) is SHA256withRSA (PKCS#1 v1.5) of ``message`` under the
    PKCS#1 ``RSAPublicKey`` DER key (what ``v3.check-answer`` hands out)."""
    key = _public_keys.get(public_key_der)
    if key is None:
        key = load_der_public_key(public_key_der)  # SPKI, or (this one) a bare PKCS#1 RSAPublicKey
        if not isinstance(key, RSAPublicKey):
            return False
        if len(_public_keys) >= MAX_KEYS:
            _public_keys.clear()
        _public_keys[public_key_der] = key
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message.encode("utf-8"), PKCS1v15(), SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
