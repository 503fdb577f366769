//! The `v3` (sans-IO, two-step) and `v3-client` (wasi:http) exports over the core's `v3`
//! modules. The merchant is a resource: read once, kept inside the component, never read back.

use std::cell::RefCell;

use crate::client;
use crate::exports::wxpay::coupon::v3::{Guest as V3, GuestMerchant, Merchant, MerchantBorrow};
use crate::exports::wxpay::coupon::v3_client::{CallOptions, Guest as V3Client};
use crate::exports::wxpay::coupon::v3_types as wit;
use wxcoupon_core::v3::answer::{json, read_issue_coupon, Answer};
use wxcoupon_core::v3::certificates::download_request;
use wxcoupon_core::v3::error::{Error, ISSUE_OUTCOME_UNKNOWN_ADVICE};
use wxcoupon_core::v3::favor::{Coupon, IssueCoupon, QueryCoupon, QueryStock, Stock};
use wxcoupon_core::v3::merchant::{Merchant as CoreMerchant, MerchantSettings};
use wxcoupon_core::v3::request::{Request, SignedRequest, ToSign};
use wxcoupon_core::{self as core, MapInto};

mod convert {
    use crate::exports::wxpay::coupon::v3_types as wit;
    wxcoupon_core::v3_wit_mapping!(wit);
}
use convert::{v3_error_from_wit, v3_error_to_wit};

/// The `merchant` resource: the core's merchant (certificates can be added later).
pub struct MerchantResource(RefCell<CoreMerchant>);

impl GuestMerchant for MerchantResource {
    fn open(settings: wit::MerchantSettings) -> Result<Merchant, wit::V3Error> {
        let settings: MerchantSettings = settings.map_into();
        CoreMerchant::new(&settings)
            .map(|m| Merchant::new(MerchantResource(RefCell::new(m))))
            .map_err(v3_error_to_wit)
    }

    fn mchid(&self) -> String {
        self.0.borrow().mchid().to_string()
    }

    fn signs(&self) -> bool {
        self.0.borrow().signs()
    }

    fn serials(&self) -> Vec<String> {
        self.0.borrow().serials()
    }

    fn add_platform_certificate(&self, pem: String) -> Result<String, wit::V3Error> {
        self.0
            .borrow_mut()
            .add_platform_certificate(&pem)
            .map_err(|e| {
                v3_error_to_wit(Error::invalid(
                    "pem",
                    format!("{e} (a PEM, BEGIN CERTIFICATE)"),
                ))
            })
    }
}

fn merchant<'a>(m: &'a MerchantBorrow<'_>) -> std::cell::Ref<'a, CoreMerchant> {
    m.get::<MerchantResource>().0.borrow()
}

fn to_sign(
    request: Result<Request, Error>,
    timestamp: i64,
    nonce: Option<String>,
) -> Result<wit::ToSign, wit::V3Error> {
    let nonce = nonce.unwrap_or_else(crate::random_nonce);
    request
        .and_then(|r| r.to_sign(timestamp, &nonce))
        .map(MapInto::map_into)
        .map_err(v3_error_to_wit)
}

fn answer_in(answer: wit::Answer) -> Answer {
    answer.map_into()
}

impl V3 for crate::Component {
    type Merchant = MerchantResource;

    fn build_issue_coupon(
        request: wit::IssueCouponRequest,
        timestamp: i64,
        nonce: Option<String>,
    ) -> Result<wit::ToSign, wit::V3Error> {
        let request: IssueCoupon = request.map_into();
        to_sign(request.request(), timestamp, nonce)
    }

    fn build_query_stock(
        request: wit::QueryStockRequest,
        timestamp: i64,
        nonce: Option<String>,
    ) -> Result<wit::ToSign, wit::V3Error> {
        let request: QueryStock = request.map_into();
        to_sign(request.request(), timestamp, nonce)
    }

    fn build_query_coupon(
        request: wit::QueryCouponRequest,
        timestamp: i64,
        nonce: Option<String>,
    ) -> Result<wit::ToSign, wit::V3Error> {
        let request: QueryCoupon = request.map_into();
        to_sign(request.request(), timestamp, nonce)
    }

    fn build_download_certificates(
        timestamp: i64,
        nonce: Option<String>,
    ) -> Result<wit::ToSign, wit::V3Error> {
        to_sign(Ok(download_request()), timestamp, nonce)
    }

    fn authorize(
        m: MerchantBorrow<'_>,
        request: wit::ToSign,
        signature: String,
    ) -> Result<wit::SignedRequest, wit::V3Error> {
        let request: ToSign = request.map_into();
        merchant(&m)
            .with_signature(request, &signature)
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn sign(
        m: MerchantBorrow<'_>,
        request: wit::ToSign,
    ) -> Result<wit::SignedRequest, wit::V3Error> {
        let request: ToSign = request.map_into();
        merchant(&m)
            .sign(request)
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn parse_issue_coupon(
        m: MerchantBorrow<'_>,
        answer: wit::Answer,
        now: i64,
    ) -> Result<wit::IssuedCoupon, wit::V3Error> {
        merchant(&m)
            .parse_issue_coupon(&answer_in(answer), now)
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn parse_query_stock(
        m: MerchantBorrow<'_>,
        answer: wit::Answer,
        now: i64,
    ) -> Result<wit::Stock, wit::V3Error> {
        merchant(&m)
            .parse_query_stock(&answer_in(answer), now)
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn parse_query_coupon(
        m: MerchantBorrow<'_>,
        answer: wit::Answer,
        now: i64,
    ) -> Result<wit::Coupon, wit::V3Error> {
        merchant(&m)
            .parse_query_coupon(&answer_in(answer), now)
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn parse_certificates(
        m: MerchantBorrow<'_>,
        answer: wit::Answer,
        now: i64,
    ) -> Result<Vec<wit::PlatformCertificate>, wit::V3Error> {
        merchant(&m)
            .parse_certificates(&answer_in(answer), now)
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn check_answer(
        m: MerchantBorrow<'_>,
        answer: wit::Answer,
        now: i64,
    ) -> Result<wit::AnswerSignature, wit::V3Error> {
        merchant(&m)
            .check_answer(&answer_in(answer), now)
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn read_issue_coupon(body: String) -> Result<wit::IssuedCoupon, wit::V3Error> {
        read_issue_coupon(&body)
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn read_query_stock(body: String) -> Result<wit::Stock, wit::V3Error> {
        json::<Stock>(&body)
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn read_query_coupon(body: String) -> Result<wit::Coupon, wit::V3Error> {
        json::<Coupon>(&body)
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn decrypt_resource(
        m: MerchantBorrow<'_>,
        encrypted: wit::EncryptedResource,
    ) -> Result<String, wit::V3Error> {
        merchant(&m)
            .open_resource(&encrypted.map_into())
            .map_err(|problem| {
                v3_error_to_wit(Error::MalformedResponse(core::MalformedResponse::field(
                    "resource", problem,
                )))
            })
    }

    fn issue_outcome_unknown(error: wit::V3Error) -> bool {
        v3_error_from_wit(error).issue_outcome_unknown()
    }

    fn issue_outcome_unknown_advice() -> String {
        ISSUE_OUTCOME_UNKNOWN_ADVICE.to_string()
    }
}

/// Now, in Unix seconds, from `wasi:clocks/wall-clock`.
fn now() -> i64 {
    crate::wasi::clocks::wall_clock::now().seconds as i64
}

/// The v2 HTTP layer's errors as v3's (it makes only these kinds).
fn from_http(e: core::Error) -> Error {
    match e {
        core::Error::Transport {
            message,
            may_have_reached_wechat,
        } => Error::Transport {
            message,
            may_have_reached_wechat,
        },
        core::Error::Denied { message } => Error::Denied { message },
        core::Error::MalformedResponse(m) => Error::MalformedResponse(m),
        core::Error::InvalidInput(f) => Error::InvalidInput(f),
        other => Error::invalid("transport", other.to_string()),
    }
}

/// Signs here, sends through wasi:http, returns the answer (the body as text).
fn exchange(
    merchant: &CoreMerchant,
    request: Result<Request, Error>,
    options: &CallOptions,
) -> Result<Answer, Error> {
    let to_sign = request?.to_sign(now(), &crate::random_nonce())?;
    let signed: SignedRequest = merchant.sign(to_sign)?;
    let options = client::CallOptions::with_defaults(
        options.connect_timeout_ms,
        options.first_byte_timeout_ms,
        options.between_bytes_timeout_ms,
        options.max_response_bytes,
        None,
    );
    let received = client::send_raw(
        signed.method.as_str(),
        &signed.url,
        &signed.headers,
        signed.body.as_bytes(),
        &options,
    )
    .map_err(from_http)?;
    let body = String::from_utf8(received.body).map_err(|_| {
        Error::MalformedResponse(core::MalformedResponse::document("the body is not UTF-8"))
    })?;
    Ok(Answer {
        status: received.status,
        headers: received.headers,
        body,
    })
}

impl V3Client for crate::Component {
    fn issue_coupon(
        m: MerchantBorrow<'_>,
        request: wit::IssueCouponRequest,
        options: CallOptions,
    ) -> Result<wit::IssuedCoupon, wit::V3Error> {
        let request: IssueCoupon = request.map_into();
        let merchant = merchant(&m);
        exchange(&merchant, request.request(), &options)
            .and_then(|a| merchant.parse_issue_coupon(&a, now()))
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn query_stock(
        m: MerchantBorrow<'_>,
        request: wit::QueryStockRequest,
        options: CallOptions,
    ) -> Result<wit::Stock, wit::V3Error> {
        let request: QueryStock = request.map_into();
        let merchant = merchant(&m);
        exchange(&merchant, request.request(), &options)
            .and_then(|a| merchant.parse_query_stock(&a, now()))
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn query_coupon(
        m: MerchantBorrow<'_>,
        request: wit::QueryCouponRequest,
        options: CallOptions,
    ) -> Result<wit::Coupon, wit::V3Error> {
        let request: QueryCoupon = request.map_into();
        let merchant = merchant(&m);
        exchange(&merchant, request.request(), &options)
            .and_then(|a| merchant.parse_query_coupon(&a, now()))
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn download_certificates(
        m: MerchantBorrow<'_>,
        options: CallOptions,
    ) -> Result<Vec<wit::PlatformCertificate>, wit::V3Error> {
        let merchant = merchant(&m);
        exchange(&merchant, Ok(download_request()), &options)
            .and_then(|a| merchant.parse_certificates(&a, now()))
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }
}
