"""What the Python package adds around the component: its exception classes, the native HTTPS
client (certificates, timeouts, limits, faults) and the component's own client, the public names."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest

import wxcoupon
from conftest import KEY, ROOT, simulator

MERCHANT = wxcoupon.Merchant(appid="wx5edab3bdfba3dc1c", mch_id="10000098", api_key=KEY)
VECTORS = json.loads((ROOT / "tests/fixtures/vectors.json").read_text(encoding="utf-8"))["cases"]
FIXTURES = ROOT / "tests/fixtures/responses"


def fields_of(xml: str) -> dict:
    return {m[0]: m[1] if m[1] else m[2] for m in re.findall(r"<(\w+)>(?:<!\[CDATA\[(.*?)\]\]>|([^<]*))</\1>", xml)}


def with_base(url: str) -> wxcoupon.Merchant:
    return wxcoupon.Merchant(appid=MERCHANT.appid, mch_id=MERCHANT.mch_id, api_key=KEY, base_url=url)


def send(n: int) -> wxcoupon.SendCouponRequest:
    return wxcoupon.SendCouponRequest(coupon_stock_id="1758", openid=f"o-py-{n}", partner_trade_no=f"10000098202611280{n}")


def test_public_names():
    for name in ["send_coupon", "query_coupon_stock", "query_coupons_info", "sign", "verify", "build_request", "parse_response"]:
        assert callable(getattr(wxcoupon, name)), name
    for cls in [
        wxcoupon.InvalidInputError,
        wxcoupon.UnexpectedStatusError,
        wxcoupon.MalformedResponseError,
        wxcoupon.ProtocolError,
        wxcoupon.BusinessError,
        wxcoupon.SignatureError,
        wxcoupon.TransportError,
        wxcoupon.DeniedError,
    ]:
        assert issubclass(cls, wxcoupon.WxCouponError)
    assert "api_key" not in repr(MERCHANT) and KEY not in repr(MERCHANT)


def test_verify_every_vector():
    for v in VECTORS:
        expected = "verified-md5" if v["sign_type"] == "MD5" else "verified-hmac-sha256"
        assert wxcoupon.verify(dict(v["fields"], sign=v["sign"]), v["key"]) == expected, v["name"]
        assert wxcoupon.sign(list(v["fields"].items()), v["key"], v["sign_type"]) == v["sign"]
    with pytest.raises(wxcoupon.SignatureError) as e:
        wxcoupon.verify({"a": "1", "sign": "0" * 32}, KEY)
    assert e.value.problem == "mismatch"
    with pytest.raises(wxcoupon.SignatureError) as e:
        wxcoupon.verify({"a": "1"}, KEY)
    assert e.value.problem == "missing"


def test_random_nonce_is_32_characters_and_signed():
    seen = set()
    for _ in range(3):
        built = wxcoupon.build_request(MERCHANT, send(1))
        fields = fields_of(built.body.decode())
        assert re.fullmatch(r"[A-Za-z0-9]{32}", fields["nonce_str"])
        assert wxcoupon.verify(fields, KEY) == "verified-md5"
        seen.add(fields["nonce_str"])
    assert len(seen) == 3


def test_invalid_input_names_field_and_rule_never_the_key():
    secret = "short-secret"
    m = wxcoupon.Merchant(appid=MERCHANT.appid, mch_id=MERCHANT.mch_id, api_key=secret)
    with pytest.raises(wxcoupon.InvalidInputError) as e:
        wxcoupon.build_request(m, {"api": "query_coupon_stock", "coupon_stock_id": "1"})
    assert (e.value.kind, e.value.field) == ("invalid-input", "merchant.api_key")
    assert e.value.rule == "must be 32 characters, the APIv2 key's length (got 12)"
    assert secret not in f"{e.value} {e.value!r} {e.value.args}"
    assert isinstance(e.value, ValueError)

    bad = [
        (dict(sign_type="SHA1"), "merchant.sign_type"),
        (dict(base_url="https://127.0.0.1:1", backup_host=True), "merchant.backup_host"),
        (dict(sandbox=True, sign_type="HMAC-SHA256"), "merchant.sign_type"),
        (dict(base_url="ftp://example.test"), "merchant.base_url"),
        (dict(appid=""), "merchant.appid"),
    ]
    for change, field in bad:
        values = dict(appid=MERCHANT.appid, mch_id=MERCHANT.mch_id, api_key=KEY)
        values.update(change)
        with pytest.raises(wxcoupon.InvalidInputError) as e:
            wxcoupon.build_request(wxcoupon.Merchant(**values), {"api": "query_coupon_stock", "coupon_stock_id": "1"}, "n")
        assert e.value.field == field, change
    with pytest.raises(wxcoupon.InvalidInputError) as e:
        wxcoupon.build_request(MERCHANT, {"api": "refund"})
    assert e.value.field == "api"
    with pytest.raises(wxcoupon.InvalidInputError) as e:
        wxcoupon.query_coupon_stock(MERCHANT, {"coupon_stock_id": "1", "colour": "red"})
    assert e.value.field == "colour"


def test_parse_response_text_or_bytes():
    xml = (FIXTURES / "send_coupon_success_signed.xml").read_bytes()
    for body in (xml, xml.decode()):
        sent = wxcoupon.parse_response(MERCHANT, "send_coupon", 200, body)
        assert isinstance(sent, wxcoupon.SentCoupon)
        assert (sent.coupon_id, sent.signature, sent.fields["ret_code"]) == ("6954", "verified-md5", "SUCCESS")
    with pytest.raises(wxcoupon.UnexpectedStatusError) as e:
        wxcoupon.parse_response(MERCHANT, "send_coupon", 502, xml)
    assert e.value.status == 502
    with pytest.raises(wxcoupon.ProtocolError) as e:
        wxcoupon.parse_response(MERCHANT, "query_coupon_stock", 200, (FIXTURES / "return_code_fail.xml").read_bytes())
    assert e.value.return_msg == "签名错误"
    stock = wxcoupon.parse_response(MERCHANT, "query_coupon_stock", 200, (FIXTURES / "query_coupon_stock_real_unsigned.xml").read_bytes())
    assert stock.begin_time.datetime.isoformat() == "2019-12-08T16:00:00+00:00"


def test_calls_with_the_certificate(sim, tmp_path):
    tls = with_base(sim["https_base_url"])
    pem = wxcoupon.CallOptions(ca_file=sim["ca"], cert_file=sim["client_cert"], key_file=sim["client_key"])
    sent = wxcoupon.send_coupon(tls, send(1), pem)
    assert sent.coupon_id.isdigit()
    # One PEM holding certificate and key (what `openssl pkcs12 -nodes` makes of apiclient_cert.p12).
    both = tmp_path / "apiclient.pem"
    both.write_bytes(open(sim["client_cert"], "rb").read() + open(sim["client_key"], "rb").read())
    replay = wxcoupon.send_coupon(tls, send(1), wxcoupon.CallOptions(ca_file=sim["ca"], cert_file=str(both)))
    assert replay.coupon_id == sent.coupon_id, "the same partner_trade_no: the same coupon"
    # Requests as mappings work too; queries with or without the identity in the options.
    stock = wxcoupon.query_coupon_stock(tls, {"coupon_stock_id": "1758"}, pem)
    assert stock.is_send_num == 1
    info = wxcoupon.query_coupons_info(
        tls, wxcoupon.QueryCouponsInfoRequest(coupon_id=sent.coupon_id, openid="o-py-1", stock_id="1758"), {"ca_file": sim["ca"]}
    )
    assert (info.state, info.coupon_value) == ("usable", stock.coupon_value)
    # The component's own client (plain HTTP listener) sees the same books.
    plain = with_base(sim["http_base_url"])
    again = wxcoupon.query_coupon_stock(plain, {"coupon_stock_id": "1758"}, wxcoupon.CallOptions(transport="component"))
    assert again.is_send_num == 1


def test_without_the_certificate_ca_error_and_nothing_issued(sim):
    for merchant, options in [
        (with_base(sim["https_base_url"]), wxcoupon.CallOptions(ca_file=sim["ca"])),
        (with_base(sim["http_base_url"]), wxcoupon.CallOptions(transport="component")),
        (with_base(sim["http_base_url"]), wxcoupon.CallOptions()),
    ]:
        with pytest.raises(wxcoupon.BusinessError) as e:
            wxcoupon.send_coupon(merchant, send(3), options)
        assert (e.value.err_code, e.value.retryable) == ("CA_ERROR", False)
    stock = wxcoupon.query_coupon_stock(with_base(sim["http_base_url"]), {"coupon_stock_id": "1758"})
    assert stock.is_send_num == 0


def test_untrusted_ca_is_refused_before_sending(sim):
    with pytest.raises(wxcoupon.TransportError) as e:
        wxcoupon.query_coupon_stock(with_base(sim["https_base_url"]), {"coupon_stock_id": "1757"})
    assert e.value.may_have_reached_wechat is False
    assert "certificate" in e.value.detail
    # wasmtime-py's wasi:http trusts public roots only: the simulator's CA is refused there too.
    with pytest.raises(wxcoupon.TransportError) as e:
        wxcoupon.query_coupon_stock(
            with_base(sim["https_base_url"]), {"coupon_stock_id": "1757"}, wxcoupon.CallOptions(transport="component")
        )
    assert e.value.may_have_reached_wechat is False


def test_bad_certificate_files_are_invalid_input(sim, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(wxcoupon.InvalidInputError) as e:
        wxcoupon.send_coupon(
            with_base(sim["https_base_url"]), send(4), wxcoupon.CallOptions(ca_file=sim["ca"], cert_file=str(junk), key_file=str(junk))
        )
    assert e.value.field == "options.cert_file"


@pytest.mark.parametrize("transport", ["native", "component"])
def test_closed_port_cannot_have_reached_wechat(transport):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(wxcoupon.TransportError) as e:
        wxcoupon.query_coupon_stock(with_base(f"http://127.0.0.1:{port}"), {"coupon_stock_id": "1757"}, wxcoupon.CallOptions(transport=transport))
    assert e.value.may_have_reached_wechat is False


def _transport(reached):
    return lambda e: isinstance(e, wxcoupon.TransportError) and e.may_have_reached_wechat is reached


FAULTS = [
    ("latency", {"latency_ms": 1500}, {"first_byte_timeout_ms": 300}, _transport(True)),
    ("http-503", {"status": 503}, {}, lambda e: isinstance(e, wxcoupon.UnexpectedStatusError) and e.status == 503),
    ("reset", {"reset_connection": True}, {}, _transport(True)),
    ("truncated", {"truncated_body": True}, {}, _transport(True)),
    ("wrong-sign", {"wrong_sign": True}, {}, lambda e: isinstance(e, wxcoupon.SignatureError) and e.problem == "mismatch"),
    ("freq-over-limit", {"err_code": "FREQ_OVER_LIMIT"}, {}, lambda e: isinstance(e, wxcoupon.BusinessError) and e.retryable and e.advice == "retry-later"),
    (
        "over-max-response-bytes",
        {},
        {"max_response_bytes": 100},
        lambda e: isinstance(e, wxcoupon.MalformedResponseError) and e.problem == "body is over the limit of 100 bytes",
    ),
]


@pytest.mark.parametrize("name,fault,options,check", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_gives_its_typed_error_on_both_transports(name, fault, options, check):
    with simulator(fault) as sim:
        started = time.monotonic()
        with pytest.raises(wxcoupon.WxCouponError) as e:
            wxcoupon.send_coupon(
                with_base(sim["https_base_url"]),
                send(5),
                wxcoupon.CallOptions(ca_file=sim["ca"], cert_file=sim["client_cert"], key_file=sim["client_key"], **options),
            )
        assert check(e.value), f"native: {e.value!r}"
        with pytest.raises(wxcoupon.WxCouponError) as e:
            wxcoupon.query_coupon_stock(
                with_base(sim["http_base_url"]), {"coupon_stock_id": "1757"}, wxcoupon.CallOptions(transport="component", **options)
            )
        assert check(e.value), f"component: {e.value!r}"
        if name == "latency":
            assert time.monotonic() - started < 2.5, "both timeouts fired before the answers"


def test_threads_each_get_an_instance(sim):
    tls = with_base(sim["https_base_url"])
    options = wxcoupon.CallOptions(ca_file=sim["ca"], cert_file=sim["client_cert"], key_file=sim["client_key"])
    ids, errors = [], []

    def issue(n):
        try:
            ids.append(wxcoupon.send_coupon(tls, send(10 + n), options).coupon_id)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=issue, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(ids)) == 4
    assert wxcoupon.query_coupon_stock(tls, {"coupon_stock_id": "1758"}, options).is_send_num == 4


def test_options_are_checked_before_anything_is_sent():
    with pytest.raises(wxcoupon.InvalidInputError) as e:
        wxcoupon.query_coupon_stock(MERCHANT, {"coupon_stock_id": "1"}, wxcoupon.CallOptions(transport="carrier-pigeon"))  # type: ignore[arg-type]
    assert e.value.field == "options.transport"
    with pytest.raises(wxcoupon.InvalidInputError) as e:
        wxcoupon.send_coupon(with_base("http://127.0.0.1:9"), send(6), wxcoupon.CallOptions(first_byte_timeout_ms=-1))
    assert e.value.field == "options.first_byte_timeout_ms"


# --- send_coupon outcomes: the component's one rule (`outcome-unknown`) on every send error ----


def test_outcome_unknown_is_the_component_export():
    unknown = wxcoupon.outcome_unknown
    assert unknown("send_coupon", wxcoupon.TransportError("connection reset", True)) is True
    assert unknown("send_coupon", wxcoupon.TransportError("connection refused", False)) is False
    assert unknown("send_coupon", wxcoupon.SignatureError("mismatch")) is True
    assert unknown("send_coupon", wxcoupon.MalformedResponseError(None, "body is over the limit of 100 bytes")) is True
    assert unknown("send_coupon", wxcoupon.BusinessError("SYSTEMERROR", None, None, None, "retry", True)) is True
    assert unknown("send_coupon", wxcoupon.BusinessError("USER_AL_GET_COUPON", "x", None, None, "do-not-retry", False)) is False
    assert unknown("send_coupon", wxcoupon.ProtocolError("签名错误")) is False
    assert unknown("query_coupon_stock", wxcoupon.UnexpectedStatusError(502)) is False
    assert "retry with the same partner_trade_no" in wxcoupon.outcome_unknown_advice()
    with pytest.raises(wxcoupon.InvalidInputError) as e:
        unknown("send_coupon", ValueError("x"))  # type: ignore[arg-type]
    assert e.value.field == "error"


def _pem(sim):
    return wxcoupon.CallOptions(ca_file=sim["ca"], cert_file=sim["client_cert"], key_file=sim["client_key"])


UNKNOWN = [
    ("wrong-sign", {"wrong_sign": True}, {}, wxcoupon.SignatureError),
    ("truncated", {"truncated_body": True}, {}, wxcoupon.TransportError),
    ("reset", {"reset_connection": True}, {}, wxcoupon.TransportError),
    ("http-502", {"status": 502}, {}, wxcoupon.UnexpectedStatusError),
    ("latency", {"latency_ms": 1500}, {"first_byte_timeout_ms": 300}, wxcoupon.TransportError),
]


@pytest.mark.parametrize("name,fault,options,cls", UNKNOWN, ids=[u[0] for u in UNKNOWN])
def test_send_outcome_unknown_then_one_coupon_on_retry(name, fault, options, cls):
    with simulator(dict(fault, only="send_coupon", times=1)) as sim:
        tls = with_base(sim["https_base_url"])
        request = send(20)
        with pytest.raises(cls) as e:
            wxcoupon.send_coupon(
                tls,
                request,
                wxcoupon.CallOptions(ca_file=sim["ca"], cert_file=sim["client_cert"], key_file=sim["client_key"], **options),
            )
        assert e.value.outcome_unknown is True, repr(e.value)
        assert e.value.partner_trade_no == request.partner_trade_no
        assert str(e.value).endswith(" — " + wxcoupon.outcome_unknown_advice()), str(e.value)
        coupon = wxcoupon.send_coupon(tls, request, _pem(sim))
        assert coupon.coupon_id.isdigit()
        assert wxcoupon.query_coupon_stock(tls, {"coupon_stock_id": "1758"}, _pem(sim)).is_send_num == 1


def test_send_through_the_component_client_reset_is_unknown():
    with simulator({"reset_connection": True, "only": "send_coupon", "times": 1}) as sim:
        with pytest.raises(wxcoupon.TransportError) as e:
            wxcoupon.send_coupon(with_base(sim["http_base_url"]), send(21), wxcoupon.CallOptions(transport="component"))
        assert (e.value.outcome_unknown, e.value.partner_trade_no) == (True, send(21).partner_trade_no)


def _known(e):
    assert e.outcome_unknown is False, repr(e)
    assert e.partner_trade_no == send(22).partner_trade_no
    assert wxcoupon.outcome_unknown_advice() not in str(e)


def test_send_refusals_and_refused_connections_are_known():
    with simulator({"err_code": "USER_AL_GET_COUPON", "only": "send_coupon", "times": 1}) as sim:
        tls = with_base(sim["https_base_url"])
        with pytest.raises(wxcoupon.BusinessError) as e:
            wxcoupon.send_coupon(tls, send(22), _pem(sim))
        _known(e.value)
        with pytest.raises(wxcoupon.BusinessError) as e:
            wxcoupon.send_coupon(tls, send(22), wxcoupon.CallOptions(ca_file=sim["ca"]))
        assert e.value.err_code == "CA_ERROR"
        _known(e.value)
        # The fault fired once and changed nothing: the same number now issues one coupon.
        wxcoupon.send_coupon(tls, send(22), _pem(sim))
        assert wxcoupon.query_coupon_stock(tls, {"coupon_stock_id": "1758"}, _pem(sim)).is_send_num == 1
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(wxcoupon.TransportError) as e:
        wxcoupon.send_coupon(with_base(f"http://127.0.0.1:{port}"), send(22))
    _known(e.value)
    with pytest.raises(wxcoupon.InvalidInputError) as e:
        wxcoupon.send_coupon(MERCHANT, {"coupon_stock_id": "1758", "openid": "", "partner_trade_no": send(22).partner_trade_no})
    _known(e.value)


def test_queries_are_never_unknown():
    with simulator({"status": 502}) as sim:
        for merchant, options in [
            (with_base(sim["https_base_url"]), wxcoupon.CallOptions(ca_file=sim["ca"])),
            (with_base(sim["http_base_url"]), wxcoupon.CallOptions(transport="component")),
        ]:
            with pytest.raises(wxcoupon.UnexpectedStatusError) as e:
                wxcoupon.query_coupon_stock(merchant, {"coupon_stock_id": "1758"}, options)
            assert (e.value.outcome_unknown, e.value.partner_trade_no) == (False, None)
