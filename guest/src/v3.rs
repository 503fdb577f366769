//! The `v3` (sans-IO, two-step) and `v3-client` (wasi:http) exports over the core's `v3`
//! modules. The merchant is a resource: read once, kept inside the component, never read back.

use std::cell::RefCell;

use crate::client;
use crate::exports::wxpay::coupon::v3::{Guest as V3, GuestMerchant, Merchant, MerchantBorrow};
use crate::exports::wxpay::coupon::v3_client::{CallOptions, Guest as V3Client};
use crate::exports::wxpay::coupon::v3_types as wit;
use wxcoupon_core::v3::answer::Answer;
use wxcoupon_core::v3::call::Call;
use wxcoupon_core::v3::callbacks::{GetCallback, SetCallback};
use wxcoupon_core::v3::certificates::download_request;
use wxcoupon_core::v3::error::{Error, ISSUE_OUTCOME_UNKNOWN_ADVICE};
use wxcoupon_core::v3::favor::{IssueCoupon, ListUserCoupons, QueryCoupon, QueryStock};
use wxcoupon_core::v3::flows::{DownloadFlow, FlowFile, FlowKind};
use wxcoupon_core::v3::merchant::{Merchant as CoreMerchant, MerchantSettings};
use wxcoupon_core::v3::notification::failure_body;
use wxcoupon_core::v3::request::{Request, SignedRequest, ToSign};
use wxcoupon_core::v3::status::{CouponStatus, StockStatus};
use wxcoupon_core::v3::stocks::{
    ChangeStock, CreateStock, ListStockItems, ListStockMerchants, ListStocks, StockChange,
};
use wxcoupon_core::{self as core, MapInto};

mod convert {
    use crate::exports::wxpay::coupon::v3_types as wit;
    wxcoupon_core::v3_wit_mapping!(wit);
}
use convert::{
    change_stock, download_flow, notification_error_from_wit, notification_error_to_wit,
    v3_error_from_wit, v3_error_to_wit,
};

/// The WIT record as the core's, where the two have the same fields.
fn same<A: MapInto<B>, B>(a: A) -> B {
    a.map_into()
}

/// Every v3 call the component exports, once: its WIT functions (`build-*`, `parse-*`,
/// `read-*` in `v3`, the call in `v3-client`), its WIT request and answer, the core call, and how
/// the WIT request becomes the core's. `$m` is the macro that writes one side's functions.
macro_rules! v3_call_table {
    ($m:ident) => {
        $m! {
            issue_coupon, build_issue_coupon, parse_issue_coupon, read_issue_coupon:
                wit::IssueCouponRequest => IssueCoupon = same, -> wit::IssuedCoupon;
            query_stock, build_query_stock, parse_query_stock, read_query_stock:
                wit::QueryStockRequest => QueryStock = same, -> wit::Stock;
            query_coupon, build_query_coupon, parse_query_coupon, read_query_coupon:
                wit::QueryCouponRequest => QueryCoupon = same, -> wit::Coupon;
            create_stock, build_create_stock, parse_create_stock, read_create_stock:
                wit::CreateStockRequest => CreateStock = same, -> wit::CreatedStock;
            start_stock, build_start_stock, parse_start_stock, read_start_stock:
                wit::StockChangeRequest => ChangeStock = |r| change_stock(StockChange::Start, r), -> wit::StockChanged;
            pause_stock, build_pause_stock, parse_pause_stock, read_pause_stock:
                wit::StockChangeRequest => ChangeStock = |r| change_stock(StockChange::Pause, r), -> wit::StockChanged;
            restart_stock, build_restart_stock, parse_restart_stock, read_restart_stock:
                wit::StockChangeRequest => ChangeStock = |r| change_stock(StockChange::Restart, r), -> wit::StockChanged;
            stop_stock, build_stop_stock, parse_stop_stock, read_stop_stock:
                wit::StockChangeRequest => ChangeStock = |r| change_stock(StockChange::Stop, r), -> wit::StockChanged;
            list_stocks, build_list_stocks, parse_list_stocks, read_list_stocks:
                wit::ListStocksRequest => ListStocks = same, -> wit::StockPage;
            list_stock_merchants, build_list_stock_merchants, parse_list_stock_merchants, read_list_stock_merchants:
                wit::StockListingRequest => ListStockMerchants = |r| ListStockMerchants(same(r)), -> wit::IdPage;
            list_stock_items, build_list_stock_items, parse_list_stock_items, read_list_stock_items:
                wit::StockListingRequest => ListStockItems = |r| ListStockItems(same(r)), -> wit::IdPage;
            download_use_flow, build_download_use_flow, parse_download_use_flow, read_download_use_flow:
                wit::FlowRequest => DownloadFlow = |r| download_flow(FlowKind::Use, r), -> wit::FlowFile;
            download_refund_flow, build_download_refund_flow, parse_download_refund_flow, read_download_refund_flow:
                wit::FlowRequest => DownloadFlow = |r| download_flow(FlowKind::Refund, r), -> wit::FlowFile;
            list_user_coupons, build_list_user_coupons, parse_list_user_coupons, read_list_user_coupons:
                wit::ListUserCouponsRequest => ListUserCoupons = same, -> wit::CouponPage;
            set_callback, build_set_callback, parse_set_callback, read_set_callback:
                wit::SetCallbackRequest => SetCallback = same, -> wit::CallbackUpdated;
            get_callback, build_get_callback, parse_get_callback, read_get_callback:
                wit::GetCallbackRequest => GetCallback = same, -> wit::CallbackSetting;
        }
    };
}

/// The `v3` side of a row: step one, the answer verified and read, a verified body read.
macro_rules! sans_io_functions {
    ($($client:ident, $build:ident, $parse:ident, $read:ident: $wreq:ty => $core:ty = $conv:expr, -> $wans:ty;)*) => {$(
        fn $build(
            request: $wreq,
            timestamp: i64,
            nonce: Option<String>,
        ) -> Result<wit::ToSign, wit::V3Error> {
            let request: $core = ($conv)(request);
            to_sign(request.request_at(timestamp), timestamp, nonce)
        }

        fn $parse(
            m: MerchantBorrow<'_>,
            answer: wit::Answer,
            now: i64,
        ) -> Result<$wans, wit::V3Error> {
            merchant(&m)
                .parse::<$core>(&answer_in(answer), now)
                .map(MapInto::map_into)
                .map_err(v3_error_to_wit)
        }

        fn $read(body: String) -> Result<$wans, wit::V3Error> {
            <$core as Call>::read(&body)
                .map(MapInto::map_into)
                .map_err(v3_error_to_wit)
        }
    )*};
}

/// The `v3-client` side of a row: signed here, sent through wasi:http, read.
macro_rules! client_functions {
    ($($client:ident, $build:ident, $parse:ident, $read:ident: $wreq:ty => $core:ty = $conv:expr, -> $wans:ty;)*) => {$(
        fn $client(
            m: MerchantBorrow<'_>,
            request: $wreq,
            options: CallOptions,
        ) -> Result<$wans, wit::V3Error> {
            let request: $core = ($conv)(request);
            let merchant = merchant(&m);
            exchange(&merchant, request.request_at(now()), &options)
                .and_then(|a| merchant.parse::<$core>(&a, now()))
                .map(MapInto::map_into)
                .map_err(v3_error_to_wit)
        }
    )*};
}

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

    v3_call_table!(sans_io_functions);

    fn read_flow_rows(
        file: wit::FlowFile,
        contents: Vec<u8>,
    ) -> Result<Vec<wit::FlowRow>, wit::V3Error> {
        let file: FlowFile = file.map_into();
        file.read_rows(&contents)
            .map(MapInto::map_into)
            .map_err(v3_error_to_wit)
    }

    fn read_coupon_use(
        m: MerchantBorrow<'_>,
        headers: Vec<(String, String)>,
        body: String,
        now: i64,
    ) -> Result<wit::CouponUseEvent, wit::NotificationError> {
        merchant(&m)
            .read_coupon_use(&headers, &body, now)
            .map(MapInto::map_into)
            .map_err(notification_error_to_wit)
    }

    fn check_notification(
        m: MerchantBorrow<'_>,
        headers: Vec<(String, String)>,
        body: String,
        now: i64,
    ) -> Result<wit::AnswerSignature, wit::NotificationError> {
        merchant(&m)
            .check_notification(&headers, &body, now)
            .map(MapInto::map_into)
            .map_err(notification_error_to_wit)
    }

    fn open_coupon_use(
        m: MerchantBorrow<'_>,
        body: String,
    ) -> Result<wit::CouponUseEvent, wit::NotificationError> {
        merchant(&m)
            .open_coupon_use(&body)
            .map(MapInto::map_into)
            .map_err(notification_error_to_wit)
    }

    fn notification_failure_body(message: String) -> String {
        failure_body(&message)
    }

    fn notification_http_status(error: wit::NotificationError) -> u16 {
        notification_error_from_wit(error).http_status()
    }

    fn stock_status_of(status: String) -> wit::StockStatus {
        StockStatus::parse(&status).map_into()
    }

    fn coupon_status_of(status: String) -> wit::CouponStatus {
        CouponStatus::parse(&status).map_into()
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
pub(crate) fn from_http(e: core::Error) -> Error {
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
    v3_call_table!(client_functions);

    fn fetch_flow_rows(
        file: wit::FlowFile,
        options: CallOptions,
    ) -> Result<Vec<wit::FlowRow>, wit::V3Error> {
        let file: FlowFile = file.map_into();
        let options = client::CallOptions::with_defaults(
            options.connect_timeout_ms,
            options.first_byte_timeout_ms,
            options.between_bytes_timeout_ms,
            options.max_response_bytes,
            None,
        );
        // The file's URL carries its own token: it is fetched as given, unsigned.
        let received = client::send_raw("GET", &file.url, &[], &[], &options)
            .map_err(|e| v3_error_to_wit(from_http(e)))?;
        if received.status != 200 {
            return Err(v3_error_to_wit(Error::Refused(Box::new(
                wxcoupon_core::v3::answer::refusal(
                    received.status,
                    &String::from_utf8_lossy(&received.body),
                ),
            ))));
        }
        file.read_rows(&received.body)
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
