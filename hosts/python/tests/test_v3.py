"""API v3 in the Python package: the shared v3 conformance cases (every call by name, and the
live scenario through this package's own HTTPS client), then the package's own behaviour: the
dataclasses, the errors, an issue's unknown outcome, the callback helper, and no secret in a
``repr``. Test keys only (tests/fixtures/v3)."""

from __future__ import annotations

import dataclasses
import json
import socket

import pytest

import wxcoupon
from wxcoupon import v3

from conformance_v3 import FIXTURES, VECTORS, fixture_merchant, live_merchant, load, run_case, run_live, stable, times
from conftest import simulator

V3, V3_LIVE = load("v3"), load("v3-live")


@pytest.mark.parametrize("case", V3["cases"], ids=lambda c: c["name"])
def test_v3_case(case):
    assert stable(run_case(V3, case)) == stable(case["expected"])


def test_v3_live_scenario(rsa_path):
    with simulator() as sim:
        got = run_live(V3_LIVE, sim)
    for step, answer in got:
        assert stable(answer) == stable(step["expected"]), step["name"]



def test_calls_answer_dataclasses_and_errors_are_classes():
    with simulator() as sim:
        m, options = live_merchant(V3_LIVE, sim), wxcoupon.CallOptions(ca_file=sim["ca"])
        created = v3.create_stock(m, {
            "stock_name": "py 满2减1", "belong_merchant": sim["mch_id"],
            "available_begin_time": times()["begin"], "available_end_time": times()["end"],
            "stock_use_rule": {"max_coupons": 10, "max_amount": 1000, "max_coupons_per_user": 1,
                               "natural_person_limit": False, "prevent_api_abuse": False},
            "coupon_use_rule": {"fixed_normal_coupon": {"coupon_amount": 100, "transaction_minimum": 200},
                                "available_merchants": [sim["mch_id"]]},
            "no_cash": False, "stock_type": "NORMAL", "out_request_no": "py-create-1"}, options)
        assert type(created).__name__ == "CreatedStock" and dataclasses.is_dataclass(created)
        with pytest.raises(dataclasses.FrozenInstanceError):
            created.stock_id = "x"
        stock_ref = {"stock_id": created.stock_id, "stock_creator_mchid": sim["mch_id"]}
        v3.start_stock(m, stock_ref, options)
        issue = {"openid": "o-py-1", "stock_id": created.stock_id, "out_request_no": "py-1", "appid": sim["appid"],
                 "stock_creator_mchid": sim["mch_id"]}
        coupon = v3.issue_coupon(m, issue, options)
        assert v3.issue_coupon(m, issue, options).coupon_id == coupon.coupon_id, "a repeat answers the same coupon"
        stock = v3.query_stock(m, stock_ref, options)
        assert stock.stock_id == created.stock_id and stock.distributed_coupons == 1
        assert dataclasses.asdict(stock)["stock_use_rule"]["max_coupons"] == 10

        v3.pause_stock(m, stock_ref, options)
        with pytest.raises(v3.RefusedError) as refused:
            v3.issue_coupon(m, dict(issue, openid="o-py-2", out_request_no="py-2"), options)
        assert refused.value.code == "INVALID_REQUEST" and not refused.value.retryable
        assert refused.value.outcome_unknown is False and refused.value.out_request_no == "py-2"

        with pytest.raises(wxcoupon.InvalidInputError) as bad:
            v3.issue_coupon(m, dict(issue, openid=""), options)
        assert bad.value.field == "openid"
        with pytest.raises(wxcoupon.InvalidInputError) as missing:
            v3.issue_coupon(m, {"openid": "o"}, options)
        assert missing.value.field == "request.stock_id"


def test_an_answer_under_an_unknown_key_is_not_verified_and_a_closed_port_is_transport():
    with simulator() as sim:
        m = dataclasses.replace(live_merchant(V3_LIVE, sim), wechatpay_public_key_id="PUB_KEY_ID_SOMEONE_ELSE")
        with pytest.raises(v3.AnswerNotVerifiedError) as e:
            v3.get_callback(m, {"mchid": sim["mch_id"]}, wxcoupon.CallOptions(ca_file=sim["ca"]))
        assert e.value.refusal == "unknown-serial"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m = fixture_merchant(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(wxcoupon.TransportError) as e:
        v3.issue_coupon(m, {"openid": "o", "stock_id": "1", "out_request_no": "py-closed", "appid": "wx1",
                            "stock_creator_mchid": "1"})
    assert e.value.may_have_reached_wechat is False and e.value.outcome_unknown is False


def test_the_outcome_rule_is_the_components():
    assert v3.issue_outcome_unknown(wxcoupon.TransportError("reset", True)) is True
    assert v3.issue_outcome_unknown(v3.RefusedError(500, "SYSTEM_ERROR", "m", None, None, "retry")) is True
    assert v3.issue_outcome_unknown(v3.RefusedError(400, "PARAM_ERROR", "m", None, None, "do-not-retry")) is False
    assert v3.issue_outcome_unknown(ValueError("not ours")) is False


def test_the_callback_helper():
    m = fixture_merchant()
    normal, flipped = VECTORS["notifications"][0], VECTORS["notifications"][2]
    event = v3.read_coupon_use(m, normal["headers"], normal["body"], normal["now"])
    plain = json.loads(normal["expected"]["plaintext"])
    assert event.event_type == "COUPON.USE" and event.coupon.coupon_id == plain["coupon_id"]
    with pytest.raises(v3.NotificationError) as e:
        v3.read_coupon_use(m, flipped["headers"], flipped["body"], flipped["now"])
    assert e.value.kind == "not-decrypted" and e.value.status == 400 and "not-decrypted" in e.value.failure_body
    with pytest.raises(v3.NotificationError) as stale:
        v3.read_coupon_use(m, normal["headers"], normal["body"], normal["now"] + 3600)
    assert stale.value.kind == "not-verified" and stale.value.status == 401


def test_platform_certificates_may_be_a_list():
    m = fixture_merchant(platform_certificates=[(FIXTURES / "platform_cert.pem").read_text()])
    assert isinstance(m.platform_certificates, tuple)
    event = v3.read_coupon_use(m, VECTORS["notifications"][0]["headers"], VECTORS["notifications"][0]["body"],
                               VECTORS["notifications"][0]["now"])
    assert event.event_type == "COUPON.USE"


def test_no_secret_in_repr_or_errors(rsa_path):
    m = fixture_merchant()
    text = repr(m)
    assert m.apiv3_key not in text and "PRIVATE KEY" not in text
    with pytest.raises(wxcoupon.InvalidInputError) as e:
        v3.get_callback(fixture_merchant(private_key_pem="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
                        {"mchid": "1"})
    assert "AAAA" not in str(e.value) and e.value.field == "merchant.private_key"
