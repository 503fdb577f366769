"""API v3 (``marketing/favor``) for Python: every cash-coupon call and the COUPON.USE callback,
through the component's sans-IO ``v3`` interface.

The component checks and builds each request and checks and reads WeChat's signed answer;
Python's ``http.client`` + ``ssl`` carries it (``CallOptions``: timeouts, limits, ``ca_file`` for a
private CA). v3 needs no client certificate. The two RSA operations run where they are cheap: with
the ``cryptography`` package importable (``NATIVE_RSA``), Python signs the message the component
built (``v3.build-*`` → OpenSSL → ``v3.authorize``; the private key never enters the component) and
verifies the signature the component checked everything else of (``v3.check-answer`` → OpenSSL →
``v3.read-*``); without it the component signs (``v3.sign``, with the key held inside it, never read
back) and verifies (``v3.parse-*``) itself: a whole call about 13 times slower (RSA in wasm).

    from wxcoupon import v3
    merchant = v3.Merchant(mchid="1900000001", merchant_serial_no="…", apiv3_key=os.environ["WXPAY_APIV3_KEY"],
                           private_key_pem=open("apiclient_key.pem").read(),
                           wechatpay_public_key_id="PUB_KEY_ID_…", wechatpay_public_key_pem=open("pub_key.pem").read())
    coupon = v3.issue_coupon(merchant, {"openid": "o…", "stock_id": "9856000", "out_request_no": "v3-0001",
                                        "appid": "wx…", "stock_creator_mchid": "1900000001"})
    print(coupon.coupon_id)

Requests are the WIT records as dicts keyed in snake_case (an ``option`` field may be left out)
or any object with those attributes. Answers are frozen dataclasses made from the component's own
WIT records (``IssuedCoupon``, ``Stock``, ``StockPage``, …; ``dataclasses.asdict`` gives a dict).
Amounts are in fen (分).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import _rsa
from ._component import Opened, runtime
from ._http import exchange_with_headers
from .errors import (
    DeniedError,
    InvalidInputError,
    MalformedResponseError,
    TransportError,
    WxCouponError,
)
from .models import CallOptions, HttpRequest

__all__ = [
    "NATIVE_RSA",
    "Merchant",
    "RefusedError",
    "AnswerNotVerifiedError",
    "NotificationError",
    "issue_coupon",
    "query_stock",
    "query_coupon",
    "create_stock",
    "start_stock",
    "pause_stock",
    "restart_stock",
    "stop_stock",
    "list_stocks",
    "list_stock_merchants",
    "list_stock_items",
    "download_use_flow",
    "download_refund_flow",
    "list_user_coupons",
    "set_callback",
    "get_callback",
    "fetch_flow_rows",
    "read_coupon_use",
    "signed_request",
    "read_answer",
    "issue_outcome_unknown",
    "from_v3_error",
    "to_v3_error",
]

NATIVE_RSA: bool = _rsa.AVAILABLE
"""Whether requests are signed and answers verified in Python (``cryptography``, OpenSSL) rather
than inside the component: true when ``cryptography`` is importable. Set it to False to keep both
in the component (each call reads it)."""


@dataclass(frozen=True)
class Merchant(Opened):
    """A v3 merchant. The component reads it once per thread (``merchant.open``) and keeps the
    keys inside — all but the private key when Python signs (``NATIVE_RSA``: the key is parsed
    once in Python instead); a problem names its setting, never a value. ``repr`` shows no
    secret."""

    mchid: str
    merchant_serial_no: str
    apiv3_key: str = field(repr=False)
    private_key_pem: Optional[str] = field(default=None, repr=False)
    """The merchant's API private key (``apiclient_key.pem``); without it nothing can be signed."""
    wechatpay_public_key_id: Optional[str] = None
    wechatpay_public_key_pem: Optional[str] = field(default=None, repr=False)
    platform_certificates: Tuple[str, ...] = field(default=(), repr=False)
    """PEM platform certificates (for merchants without the WeChat Pay public key)."""
    base_url: Optional[str] = None
    """Another endpoint than ``https://api.mch.weixin.qq.com`` (a simulator's)."""

    open_with = "v3.[static]merchant.open"

    def __post_init__(self) -> None:
        # A list is welcome; a tuple keeps the merchant hashable (it keys its handles).
        object.__setattr__(self, "platform_certificates", tuple(self.platform_certificates))

    def open_args(self) -> Tuple[Any, ...]:
        # The fields are the WIT's `merchant-settings`, by name; the codec takes lists as lists.
        return (dict(dataclasses.asdict(self), platform_certificates=list(self.platform_certificates)),)

    def open_key(self) -> Any:
        return self

    def refused(self, error: Any) -> Exception:
        return from_v3_error(error)


class RefusedError(WxCouponError):
    """WeChat refused a v3 call: a non-2xx answer with its ``{code, message, detail}``.

    ``advice`` is ``"do-not-retry"``, ``"retry"``, ``"retry-later"`` or ``"reconcile-first"``;
    ``retryable`` says whether sending the same request again is sound.
    """

    kind = "refused"
    _attrs = ("status", "code", "wechat_message", "detail", "meaning", "advice")
    _wit = ("status", "code", "message", "detail", "meaning", "advice")

    def __init__(self, status: int, code: Optional[str], wechat_message: Optional[str], detail: Optional[Any],
                 meaning: Optional[str], advice: str) -> None:
        text = f"WeChat Pay refused the call (HTTP {status})"
        if code is not None:
            text += f": {code}"
        if meaning is not None:
            text += f" ({meaning})"
        if wechat_message is not None:
            text += f" — {wechat_message}"
        super().__init__(text)
        self.status, self.code, self.wechat_message = status, code, wechat_message
        self.detail, self.meaning, self.advice = detail, meaning, advice
        self.retryable = advice in ("retry", "retry-later")


class AnswerNotVerifiedError(WxCouponError):
    """A 2xx answer whose v3 signature does not hold: nothing in it was used. ``refusal`` is the
    reason: ``"missing-header"``, ``"malformed-timestamp"``, ``"stale-timestamp"``,
    ``"unknown-serial"`` or ``"signature"``; ``refusal_detail`` its payload (the header, the
    skew in seconds) or None."""

    kind = "answer-not-verified"

    def __init__(self, refusal: str, refusal_detail: Any = None) -> None:
        suffix = "" if refusal_detail is None else f" ({refusal_detail})"
        super().__init__(f"the answer is not verified: {refusal}{suffix}")
        self.refusal, self.refusal_detail = refusal, refusal_detail


class NotificationError(WxCouponError):
    """A COUPON.USE callback that was refused. Answer WeChat with ``status`` and ``failure_body``
    (the component's rule: it delivers again)."""

    def __init__(self, case: str, payload: Any, status: int, failure_body: str) -> None:
        super().__init__(f"the callback was refused: {case}" + ("" if payload is None else f": {payload}"))
        self.kind, self.payload, self.status, self.failure_body = case, payload, status, failure_body


def from_v3_error(error: Tuple[str, Any]) -> WxCouponError:
    """The exception of a lifted WIT ``v3-error`` (``(case, payload)``)."""
    case, p = error
    if case == "invalid-input":
        return InvalidInputError(p["field"], p["rule"])
    if case == "refused":
        return RefusedError(p["status"], p["code"], p["message"], p["detail"], p["meaning"], p["advice"])
    if case == "answer-not-verified":
        return AnswerNotVerifiedError(*p)
    if case == "malformed-response":
        return MalformedResponseError(p["field"], p["problem"])
    if case == "transport":
        return TransportError(p["message"], p["may_have_reached_wechat"])
    if case == "denied":
        return DeniedError(p)
    err = WxCouponError(f"unknown v3-error case {case}")
    err.kind = str(case)
    return err


def to_v3_error(e: BaseException) -> Optional[Tuple[str, Any]]:
    """The WIT ``v3-error`` an exception of this package stands for; None for anything else."""
    if isinstance(e, InvalidInputError):
        return "invalid-input", {"field": e.field, "rule": e.rule}
    if isinstance(e, RefusedError):
        return "refused", {"status": e.status, "code": e.code, "message": e.wechat_message, "detail": e.detail,
                           "meaning": e.meaning, "advice": e.advice}
    if isinstance(e, AnswerNotVerifiedError):
        return "answer-not-verified", (e.refusal, e.refusal_detail)
    if isinstance(e, MalformedResponseError):
        return "malformed-response", {"field": e.field, "problem": e.problem}
    if isinstance(e, TransportError):
        return "transport", {"message": e.detail, "may_have_reached_wechat": e.may_have_reached_wechat}
    if isinstance(e, DeniedError):
        return "denied", e.detail
    return None


def _run(name: str, *args: Any) -> Any:
    """A ``v3`` export whose ``err`` is a ``v3-error``; a request that does not fit its record is
    an InvalidInputError naming the field."""
    try:
        ok, value = runtime().call_result(name, *args)
    except WxCouponError:
        raise
    except KeyError as e:
        raise InvalidInputError(f"request.{e.args[0]}", "required") from None
    except (TypeError, ValueError) as e:
        raise InvalidInputError("request", str(e)) from None
    if not ok:
        raise from_v3_error(value)
    return value


class _HostSigned(Opened):
    """A merchant as the component holds it when Python signs: its settings without the private
    key (the key never enters wasm memory, as with the Rust host's ``SignWith::Host``), and the
    key parsed natively on first use. One per equal :class:`Merchant` (``_HOST_SIGNED``)."""

    open_with = Merchant.open_with

    def __init__(self, merchant: Merchant) -> None:
        self.merchant = merchant
        self.key: Any = None

    def open_args(self) -> Tuple[Any, ...]:
        (settings,) = self.merchant.open_args()
        return (dict(settings, private_key_pem=None),)

    def open_key(self) -> Any:
        return self  # one object per merchant: its identity is the merchant's

    def refused(self, error: Any) -> Exception:
        return from_v3_error(error)

    def signing_key(self) -> Any:
        """The parsed private key; on first use the component reads the other settings before
        (its own order: a bad ``mchid`` is named before a bad key)."""
        if self.key is None:
            runtime().call_result("v3.[method]merchant.mchid", self)  # opens it, or raises its error
            pem = self.merchant.private_key_pem
            if pem is None:
                raise InvalidInputError(_rsa.PRIVATE_KEY_FIELD, _rsa.RULE_NOT_HELD)
            self.key = _rsa.private_key(pem)
        return self.key


_HOST_SIGNED: Dict[Merchant, _HostSigned] = {}


def _host_signed(merchant: Merchant) -> _HostSigned:
    held = _HOST_SIGNED.get(merchant)
    if held is None:
        if len(_HOST_SIGNED) >= _rsa.MAX_KEYS:  # a bound, not an LRU: merchants are few
            _HOST_SIGNED.clear()
        held = _HOST_SIGNED.setdefault(merchant, _HostSigned(merchant))
    return held


def signed_request(call: str, merchant: Merchant, request: Any, now: Optional[int] = None,
                   nonce: Optional[str] = None) -> Any:
    """Sans-IO step one of ``call`` (its WIT stem: ``"issue-coupon"``, ``"query-stock"``, …): the
    request checked, built and signed (``SignedRequest``: ``method``, ``url``, ``headers``,
    ``body``), for any HTTP client. ``now`` is the Unix time it is signed at (default: now);
    ``nonce`` none draws 32 characters in the component."""
    now = int(time.time()) if now is None else now
    to_sign = _run(f"v3.build-{call}", request, now, nonce)
    if not NATIVE_RSA:
        return _run("v3.sign", merchant, to_sign)
    held = _host_signed(merchant)
    return _run("v3.authorize", held, to_sign, _rsa.sign(held.signing_key(), to_sign.message))


def read_answer(call: str, merchant: Merchant, status: int, headers: Iterable[Tuple[str, str]], body: str,
                now: Optional[int] = None) -> Any:
    """Sans-IO step two of ``call``: WeChat's answer (status, every header, the body as text)
    verified and read into its dataclass, or the exception it stands for. ``now`` is the
    verifier's Unix time (default: now): an answer more than 5 minutes off is stale."""
    now = int(time.time()) if now is None else now
    answer = {"status": status, "headers": headers, "body": body}
    if not NATIVE_RSA:
        return _run(f"v3.parse-{call}", merchant, answer, now)
    checked = _run("v3.check-answer", _host_signed(merchant), answer, now)
    # The component's error for a signature that does not hold, so both paths raise the same.
    if not _rsa.verify(checked.public_key_der, checked.message, checked.signature):
        raise AnswerNotVerifiedError("signature")
    return _run(f"v3.read-{call}", body)  # only a verified body reaches read-*


def _call(stem: str, merchant: Merchant, request: Any, options: Optional[CallOptions]) -> Any:
    """One call: built and signed (:func:`signed_request`), sent by Python, verified and read
    (:func:`read_answer`)."""
    options = options or CallOptions()
    now = int(time.time())
    signed = signed_request(stem, merchant, request, now, getattr(options, "nonce", None))
    status, headers, body = exchange_with_headers(
        HttpRequest(method=signed.method.upper(), url=signed.url, headers=list(signed.headers),
                    body=signed.body.encode("utf-8"), needs_client_certificate=False), options)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedResponseError(None, "the body is not UTF-8") from None
    return read_answer(stem, merchant, status, headers, text, now)


def issue_outcome_unknown(error: BaseException) -> bool:
    """Whether the coupon may have been issued after ``error`` (the component's rule)."""
    wire = to_v3_error(error)
    return wire is not None and bool(runtime().call("v3.issue-outcome-unknown", wire))


def issue_coupon(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """Issues one coupon (``IssuedCoupon``). Every exception carries ``outcome_unknown`` and
    ``out_request_no``: when the coupon may have been issued, send again with the same
    ``out_request_no`` (WeChat answers a repeat with the same coupon)."""
    try:
        return _call("issue-coupon", merchant, request, options)
    except WxCouponError as e:
        unknown = issue_outcome_unknown(e)
        number = request.get("out_request_no") if isinstance(request, Mapping) else getattr(request, "out_request_no", None)
        e._set_outcome(unknown, number, runtime().call("v3.issue-outcome-unknown-advice") if unknown else None)
        e.out_request_no = number
        raise


def query_stock(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """One stock (``Stock``)."""
    return _call("query-stock", merchant, request, options)


def query_coupon(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """One coupon (``Coupon``)."""
    return _call("query-coupon", merchant, request, options)


def create_stock(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """Creates a stock (``CreatedStock``); idempotent on ``out_request_no``."""
    return _call("create-stock", merchant, request, options)


def start_stock(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """Activates a stock (``StockChanged``)."""
    return _call("start-stock", merchant, request, options)


def pause_stock(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """Pauses a stock (``StockChanged``)."""
    return _call("pause-stock", merchant, request, options)


def restart_stock(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """Restarts a paused stock (``StockChanged``)."""
    return _call("restart-stock", merchant, request, options)


def stop_stock(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """Stops a stock for good (``StockChanged``)."""
    return _call("stop-stock", merchant, request, options)


def list_stocks(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """A page of stocks (``StockPage``)."""
    return _call("list-stocks", merchant, request, options)


def list_stock_merchants(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """Where a stock can be used (``IdPage``)."""
    return _call("list-stock-merchants", merchant, request, options)


def list_stock_items(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """The single items a stock applies to (``IdPage``)."""
    return _call("list-stock-items", merchant, request, options)


def download_use_flow(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """The use-detail file (``FlowFile``: fetch it within 30 s with :func:`fetch_flow_rows`)."""
    return _call("download-use-flow", merchant, request, options)


def download_refund_flow(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """The refund-detail file (``FlowFile``)."""
    return _call("download-refund-flow", merchant, request, options)


def list_user_coupons(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """A user's coupons (``CouponPage``)."""
    return _call("list-user-coupons", merchant, request, options)


def set_callback(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """Sets where COUPON.USE callbacks go (``CallbackUpdated``)."""
    return _call("set-callback", merchant, request, options)


def get_callback(merchant: Merchant, request: Any, options: Optional[CallOptions] = None) -> Any:
    """Reads where COUPON.USE callbacks go (``CallbackSetting``)."""
    return _call("get-callback", merchant, request, options)


def fetch_flow_rows(file: Any, options: Optional[CallOptions] = None) -> List[Any]:
    """A flow file's rows (``FlowRow``): fetched unsigned (WeChat does not sign it), its SHA1
    checked by the component."""
    options = options or CallOptions()
    url = file["url"] if isinstance(file, Mapping) else file.url
    status, _, body = exchange_with_headers(
        HttpRequest(method="GET", url=url, headers=[], body=b"", needs_client_certificate=False), options)
    if status != 200:
        raise RefusedError(status, None, None, None, None, "retry" if status >= 500 else "do-not-retry")
    return _run("v3.read-flow-rows", file, body)


def read_coupon_use(merchant: Merchant, headers: Union[Mapping[str, str], Iterable[Tuple[str, str]]], body: str,
                    now: Optional[int] = None) -> Any:
    """Reads a COUPON.USE callback (``CouponUseEvent``): verified (a WECHATPAY/SIGNTEST/ probe
    refused), decrypted with the APIv3 key, typed. Raises :class:`NotificationError`, whose
    ``status`` and ``failure_body`` are the answer to give WeChat."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    pairs = [(str(k), str(v)) for k, v in pairs]
    rt = runtime()
    ok, value = rt.call_result("v3.read-coupon-use", merchant, pairs, str(body), int(time.time()) if now is None else now)
    if ok:
        return value
    status = rt.call("v3.notification-http-status", value)
    error = NotificationError(value[0], value[1], status, "")
    error.failure_body = rt.call("v3.notification-failure-body", str(error))
    raise error

