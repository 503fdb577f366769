"""One exception class per case of the WIT ``protocol-error`` and ``call-error`` variants.

Messages never contain the API key. Every class derives from :class:`WxCouponError`, whose
``kind`` is the case's name (``"invalid-input"``, ``"business"``, ...). Each class names, in its
constructor's order, the attributes it keeps (``_attrs``) and their names in the WIT payload and
the canonical JSON (``_wit``): the one table both conversions and ``canonical`` read.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

__all__ = [
    "WxCouponError",
    "InvalidInputError",
    "UnexpectedStatusError",
    "MalformedResponseError",
    "ProtocolError",
    "BusinessError",
    "SignatureError",
    "TransportError",
    "DeniedError",
]


class WxCouponError(Exception):
    """Base class of every failure of this package.

    After :func:`wxcoupon.send_coupon`, ``outcome_unknown`` says whether the coupon may have been
    issued (the component's ``outcome-unknown``: the request may have reached WeChat Pay and no
    answer says it was refused); the message then ends with the advice: send again with the same
    ``partner_trade_no``, the call's number. Queries and the protocol functions leave them
    ``False`` and ``None``.
    """

    kind: str = ""
    outcome_unknown: bool = False
    partner_trade_no: Optional[str] = None
    _attrs: Tuple[str, ...] = ()
    _wit: Tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._wit = cls.__dict__.get("_wit", cls._attrs)  # the attribute names unless renamed

    def _values(self) -> Dict[str, Any]:
        """The payload's fields by their WIT/canonical names (snake_case)."""
        return {w: getattr(self, a) for w, a in zip(self._wit, self._attrs)}

    def _set_outcome(self, unknown: bool, partner_trade_no: Optional[str], advice: Optional[str]) -> None:
        self.partner_trade_no = partner_trade_no
        self.outcome_unknown = unknown
        if unknown and self.args:
            self.args = (f"{self.args[0]} — {advice}",) + self.args[1:]


class InvalidInputError(WxCouponError, ValueError):
    """A request field, a merchant setting or an argument broke a rule."""

    kind = "invalid-input"
    _attrs = ("field", "rule")

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"invalid input: {field}: {rule}")
        self.field = field
        self.rule = rule


class UnexpectedStatusError(WxCouponError):
    """The HTTP status was not 200."""

    kind = "unexpected-status"
    _attrs = ("status",)

    def __init__(self, status: int) -> None:
        super().__init__(f"unexpected HTTP status {status} (WeChat Pay answers v2 calls with 200)")
        self.status = status


class MalformedResponseError(WxCouponError):
    """The body is not a readable answer; ``field`` is None for document-level problems."""

    kind = "malformed-response"
    _attrs = ("field", "problem")

    def __init__(self, field: Optional[str], problem: str) -> None:
        where = f"{field}: " if field is not None else ""
        super().__init__(f"malformed response: {where}{problem}")
        self.field = field
        self.problem = problem


class ProtocolError(WxCouponError):
    """``return_code`` FAIL without an ``err_code``: WeChat refused the call itself."""

    kind = "protocol"
    _attrs = ("return_msg",)

    def __init__(self, return_msg: str) -> None:
        super().__init__(f"WeChat Pay refused the call (return_code FAIL): {return_msg}")
        self.return_msg = return_msg


class BusinessError(WxCouponError):
    """``result_code``/``ret_code`` FAIL: the operation was refused.

    ``advice`` is ``"do-not-retry"``, ``"retry"``, ``"retry-later"`` or ``"reconcile-first"``;
    ``retryable`` says whether sending the same request again is sound (``advice`` is ``"retry"``
    or ``"retry-later"``, the core's ``is_retryable``).
    """

    kind = "business"
    _attrs = ("err_code", "err_code_des", "ret_msg", "meaning", "advice")

    def __init__(
        self,
        err_code: Optional[str],
        err_code_des: Optional[str],
        ret_msg: Optional[str],
        meaning: Optional[str],
        advice: str,
        retryable: bool,
    ) -> None:
        message = "WeChat Pay refused the operation"
        if err_code is not None:
            message += f": {err_code}"
        if meaning is not None:
            message += f" ({meaning})"
        des = err_code_des if err_code_des is not None else ret_msg
        if des is not None:
            message += f" — {des}"
        super().__init__(message)
        self.err_code = err_code
        self.err_code_des = err_code_des
        self.ret_msg = ret_msg
        self.meaning = meaning
        self.advice = advice
        self.retryable = retryable


_SIGNATURE_MESSAGES = {
    "missing": "sign: the response is unsigned and the signature policy requires a signature",
    "malformed": "sign: must be 32 (MD5) or 64 (HMAC-SHA256) hexadecimal characters",
    "mismatch": "sign: does not match the response fields and the API key",
}


class SignatureError(WxCouponError):
    """The response signature is ``"missing"`` (strict policy), ``"malformed"`` or a ``"mismatch"``."""

    kind = "signature"
    _attrs = ("problem",)

    def __init__(self, problem: str) -> None:
        super().__init__(_SIGNATURE_MESSAGES.get(problem, f"sign: {problem}"))
        self.problem = problem


class TransportError(WxCouponError):
    """Connecting, sending or receiving failed or timed out.

    If ``may_have_reached_wechat`` is true, query the stock or the coupon before sending again
    (with the same ``partner_trade_no``).
    """

    kind = "transport"
    _attrs = ("detail", "may_have_reached_wechat")
    _wit = ("message", "may_have_reached_wechat")

    def __init__(self, detail: str, may_have_reached_wechat: bool) -> None:
        suffix = (
            " (the request may have reached WeChat Pay: query before retrying)"
            if may_have_reached_wechat
            else ""
        )
        super().__init__(f"transport error: {detail}{suffix}")
        self.detail = detail
        self.may_have_reached_wechat = may_have_reached_wechat


class DeniedError(WxCouponError):
    """The host refused the outbound request; nothing was sent."""

    kind = "denied"
    _attrs = ("detail",)
    _wit = ("message",)

    def __init__(self, detail: str) -> None:
        super().__init__(f"request denied: {detail}")
        self.detail = detail


KINDS = {c.kind: c for c in (InvalidInputError, UnexpectedStatusError, MalformedResponseError, ProtocolError,
                             BusinessError, SignatureError, TransportError, DeniedError)}
RETRYABLE = ("retry", "retry-later")


def from_wit_error(error: Tuple[str, Any]) -> WxCouponError:
    """The exception of a lifted WIT ``protocol-error`` or ``call-error`` (``(case, payload)``)."""
    tag, payload = error
    if tag == "protocol" and isinstance(payload, tuple):  # call-error.protocol(protocol-error)
        return from_wit_error(payload)
    cls = KINDS.get(tag)
    if cls is None:
        err = WxCouponError(f"unknown error case {tag}")
        err.kind = str(tag)
        return err
    args = [payload[n] for n in cls._wit] if len(cls._wit) > 1 else [payload]
    if cls is BusinessError:
        args.append(payload["advice"] in RETRYABLE)
    return cls(*args)


def to_wit_error(e: BaseException) -> Optional[Tuple[str, Any]]:
    """The WIT ``call-error`` an exception of this package stands for (the inverse of
    :func:`from_wit_error`), so the component can judge errors the host made itself; None for
    anything else."""
    if not isinstance(e, KINDS.get(getattr(e, "kind", None), ())):
        return None
    values = e._values()
    wit = (e.kind, values if len(values) > 1 else values[e._wit[0]])
    return wit if e.kind in ("transport", "denied") else ("protocol", wit)
