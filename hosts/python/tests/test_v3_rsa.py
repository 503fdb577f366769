"""Where a v3 call's RSA runs (``wxcoupon.v3.NATIVE_RSA``): natively with ``cryptography``, the
component building the message and checking all but the signature, or inside the component.
Both paths must give the same requests, the same answers and the same errors: the vectors'
signed request and answer (tests/fixtures/v3/vectors.json), tampered and wrongly signed answers
from the vectors and from the simulator, and key problems. Test keys only."""

from __future__ import annotations

import json

import pytest

import wxcoupon
from wxcoupon import _rsa, v3
from wxcoupon._component import runtime

from conformance_v3 import FIXTURES, VECTORS, fixture_merchant, live_merchant, load
from conftest import simulator

REQUEST = next(r for r in VECTORS["request_signatures"] if r["name"] == "send_coupon")
ANSWER = next(r for r in VECTORS["response_signatures"] if r["name"] == "send_coupon-200")
NEGATIVE = {r["name"]: r for r in VECTORS["response_negative"]}


def issue_request():
    return dict(json.loads(REQUEST["body"]), openid=REQUEST["canonical_url"].split("/")[-2])


def read_vector(m, vector):
    return v3.read_answer("issue-coupon", m, vector["status"], list(vector["headers"].items()), vector["body"],
                          vector["now"])


def test_the_request_is_the_vectors(rsa_path):
    signed = v3.signed_request("issue-coupon", fixture_merchant(), issue_request(), int(REQUEST["timestamp"]),
                               REQUEST["nonce_str"])
    assert signed.url == REQUEST["full_url"] and signed.body == REQUEST["body"]
    authorization = dict(signed.headers)["authorization"]
    assert f'signature="{REQUEST["signature"]}"' in authorization  # PKCS#1 v1.5 is deterministic
    assert f'serial_no="{REQUEST["serial_no"]}"' in authorization


def test_the_answer_is_read_and_a_tampered_one_refused(rsa_path):
    m = fixture_merchant()
    assert read_vector(m, ANSWER).coupon_id == json.loads(ANSWER["body"])["coupon_id"]
    with pytest.raises(v3.AnswerNotVerifiedError) as e:
        read_vector(m, NEGATIVE["tampered-body"])  # body changed after signing: only RSA can tell
    assert e.value.refusal == "signature" and e.value.refusal_detail is None
    # Every negative vector gets the same verdict on both paths.
    for vector in VECTORS["response_negative"]:
        if vector["expected"]["valid"]:
            assert read_vector(m, vector).coupon_id, vector["name"]
            continue
        with pytest.raises(v3.AnswerNotVerifiedError) as e:
            read_vector(m, vector)
        assert e.value.refusal == vector["expected"]["reason"].replace("_", "-"), vector["name"]


@pytest.mark.parametrize("fault", ["tampered_body", "wrong_sign"])
def test_the_simulators_spoiled_answers_are_refused(rsa_path, fault):
    with simulator({fault: True, "times": 1}) as sim:
        m, options = live_merchant(load("v3-live"), sim), wxcoupon.CallOptions(ca_file=sim["ca"])
        with pytest.raises(v3.AnswerNotVerifiedError) as e:
            v3.get_callback(m, {"mchid": sim["mch_id"]}, options)
        assert e.value.refusal == "signature"
        assert v3.get_callback(m, {"mchid": sim["mch_id"]}, options).mchid == sim["mch_id"]  # the fault spent


def test_the_native_path_keeps_the_private_key_out_of_the_component(monkeypatch):
    if not _rsa.AVAILABLE:
        pytest.skip("cryptography is not importable")
    monkeypatch.setattr(v3, "NATIVE_RSA", True)
    m = fixture_merchant()
    v3.signed_request("issue-coupon", m, issue_request(), int(REQUEST["timestamp"]), REQUEST["nonce_str"])
    held = v3._host_signed(m)
    assert held.open_args()[0]["private_key_pem"] is None
    assert runtime().call("v3.[method]merchant.signs", held) is False
    assert runtime().call("v3.[method]merchant.signs", m) is True  # the component's own merchant


def test_key_problems_are_the_components_on_both_paths(rsa_path):
    request, ts, nonce = issue_request(), int(REQUEST["timestamp"]), REQUEST["nonce_str"]
    cases = {
        "no key": dict(private_key_pem=None),
        "not PEM": dict(private_key_pem="apiclient_key"),
        "not RSA": dict(private_key_pem="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        "PKCS#1 block": dict(private_key_pem=(FIXTURES / "merchant_key.pem").read_text()
                             .replace("BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY")
                             .replace("END PRIVATE KEY", "END RSA PRIVATE KEY")),
    }
    seen = {}
    for name, change in cases.items():
        with pytest.raises(wxcoupon.InvalidInputError) as e:
            v3.signed_request("issue-coupon", fixture_merchant(**change), request, ts, nonce)
        assert e.value.field == "merchant.private_key", name
        seen[name] = e.value.rule
    # The rules are the component's own words (asserted on the in-component run too).
    assert seen == {"no key": _rsa.RULE_NOT_HELD, "not PEM": _rsa.RULE_PEM, "not RSA": _rsa.RULE_RSA,
                    "PKCS#1 block": _rsa.RULE_PEM}
    # A setting the component reads first is named first, as in the component.
    with pytest.raises(wxcoupon.InvalidInputError) as e:
        v3.signed_request("issue-coupon", fixture_merchant(mchid="x", private_key_pem="apiclient_key"), request, ts, nonce)
    assert e.value.field == "merchant.mchid"
