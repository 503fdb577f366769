//! The egress proxy: path rules, URL joining, headers, settings from variables, loops and the
//! loopback rule.

use http::{HeaderMap, HeaderName};
use wxcoupon_core::paths::known_paths;

use super::forward::copy_end_to_end;
use super::upstream::Upstream;
use super::*;

#[test]
fn only_the_coupon_paths_are_forwarded() {
    for ok in known_paths() {
        assert_eq!(path_allowed(&ok), Ok(()), "{ok}");
    }
    for refused in [
        "/",
        "/healthz",
        "/pay/unifiedorder",
        "/secapi/pay/refund",
        "/mmpaymkttransfers/promotion/transfers",
        "/mmpaymkttransfers/sendredpack",
        "/mmpaymkttransfers/sendgroupredpack",
        "/sandboxnew/mmpaymkttransfers/promotion/transfers",
        "/sandboxnew/secapi/pay/refund",
        "/mmpaymkttransfers/..;/secapi/pay/refund",
        "/mmpaymkttransfers/send_coupon;/../../secapi/pay/refund",
        "/mmpaymkttransfers\\..\\secapi\\pay\\refund",
        "/mmpaymkttransfers",
        "/mmpaymkttransfers/",
        "/mmpaymkttransfers/../secapi/pay/refund",
        "/mmpaymkttransfers/./send_coupon",
        "/mmpaymkttransfers//send_coupon",
        "/mmpaymkttransfers/%2e%2e/secapi/pay/refund",
        "/mmpaymkttransfers/send_coupon/",
        "/sandboxnew/..",
        "/MMPAYMKTTRANSFERS/send_coupon",
        "/mmpaymkttransfers/s\u{e9}nd",
    ] {
        assert!(path_allowed(refused).is_err(), "{refused}");
    }
}

#[test]
fn upstream_urls_join_with_request_paths() {
    let u = Upstream::parse("https://api.mch.weixin.qq.com").unwrap();
    assert_eq!(
        u.uri_for("/mmpaymkttransfers/send_coupon").unwrap(),
        "https://api.mch.weixin.qq.com/mmpaymkttransfers/send_coupon"
    );
    let u = Upstream::parse("http://127.0.0.1:9000/wechat/").unwrap();
    assert_eq!(
        u.uri_for("/sandboxnew/pay/getsignkey?x=1").unwrap(),
        "http://127.0.0.1:9000/wechat/sandboxnew/pay/getsignkey?x=1"
    );
    for bad in [
        "ftp://example.com",
        "api.mch.weixin.qq.com",
        "https://user:pw@api.mch.weixin.qq.com",
        "https://api.mch.weixin.qq.com/?a=b",
    ] {
        assert!(Upstream::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn hop_by_hop_headers_stay_behind() {
    let mut from = HeaderMap::new();
    for (name, value) in [
        ("content-type", "text/xml"),
        ("connection", "keep-alive, x-private"),
        ("x-private", "1"),
        ("host", "evil.example"),
        ("content-length", "12"),
        ("transfer-encoding", "chunked"),
        ("user-agent", "wxcoupon"),
    ] {
        from.append(
            HeaderName::from_static(name),
            http::HeaderValue::from_static(value),
        );
    }
    let mut to = HeaderMap::new();
    copy_end_to_end(&from, &mut to);
    let mut names: Vec<&str> = to.keys().map(|k| k.as_str()).collect();
    names.sort();
    assert_eq!(names, ["content-type", "user-agent"]);
}

#[test]
fn settings_from_variables_name_every_problem_never_a_value() {
    let err = EgressConfig::from_vars([
        ("WXPAY_EGRESS_LISTEN", "localhost-8079"),
        ("WXPAY_EGRESS_UPSTREAM", "ftp://secret-host.example"),
        ("WXPAY_EGRESS_ALLOW_NON_LOOPBACK", "perhaps"),
        ("WXPAY_CONNECT_TIMEOUT_MS", "0"),
        ("WXPAY_MAX_RESPONSE_BYTES", "lots"),
        ("WXPAY_API_KEY", "192006250b4c09247ec02edce69f6a2d"),
    ])
    .unwrap_err();
    let names: Vec<&str> = err.0.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        names,
        [
            "WXPAY_EGRESS_ALLOW_NON_LOOPBACK",
            "WXPAY_EGRESS_LISTEN",
            "WXPAY_EGRESS_UPSTREAM",
            "WXPAY_CERT_FILE",
            "WXPAY_CONNECT_TIMEOUT_MS",
            "WXPAY_MAX_RESPONSE_BYTES",
        ]
    );
    let text = err.to_string();
    for value in ["secret-host", "perhaps", "lots", "192006250b4c"] {
        assert!(!text.contains(value), "{text}");
    }

    let only_cert = EgressConfig::from_vars([("WXPAY_CERT_FILE", "c.pem")]).unwrap_err();
    assert_eq!(only_cert.0[0].field, "WXPAY_KEY_FILE");
    let both = EgressConfig::from_vars([
        ("WXPAY_CERT_FILE", "c.pem"),
        ("WXPAY_KEY_FILE", "k.pem"),
        ("WXPAY_P12_FILE", "a.p12"),
    ])
    .unwrap_err();
    assert_eq!(both.0[0].field, "WXPAY_P12_FILE");
    let p12 = EgressConfig::from_vars([("WXPAY_P12_FILE", "a.p12")]).unwrap_err();
    assert_eq!(p12.0[0].field, "WXPAY_P12_PASSWORD");
    let missing = EgressConfig::from_vars([
        ("WXPAY_CERT_FILE", "/nonexistent/c.pem"),
        ("WXPAY_KEY_FILE", "/nonexistent/k.pem"),
    ])
    .unwrap_err();
    assert_eq!(missing.0[0].field, "WXPAY_CERT_FILE");
    let looped = EgressConfig::from_vars([
        ("WXPAY_EGRESS_LISTEN", "127.0.0.1:8079"),
        ("WXPAY_EGRESS_UPSTREAM", "http://localhost:8079"),
    ])
    .unwrap_err();
    assert_eq!(
        looped.0[0],
        wxcoupon_core::FieldError::new(
            "WXPAY_EGRESS_UPSTREAM",
            "must not be the proxy's own listening address"
        )
    );
}

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn refuses_an_upstream_that_resolves_to_itself() {
    for upstream in [
        "http://127.1:{port}",
        "http://[::ffff:127.0.0.1]:{port}",
        "http://localhost.:{port}",
        "https://127.0.0.1:{port}/prefix",
    ] {
        let port = free_port();
        let config = EgressConfig {
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            upstream_base_url: upstream.replace("{port}", &port.to_string()),
            ..EgressConfig::default()
        };
        let err = EgressProxy::bind(config)
            .await
            .err()
            .unwrap_or_else(|| panic!("{upstream} was accepted"));
        assert!(
            err.to_string().contains("forward to itself"),
            "{upstream}: {err}"
        );
    }
    // Another port on the same host is no loop.
    let port = free_port();
    let other = EgressProxy::bind(EgressConfig {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        upstream_base_url: format!("http://127.1:{}", free_port()),
        ..EgressConfig::default()
    })
    .await;
    assert!(other.is_ok());
}

#[tokio::test]
async fn a_loop_through_a_second_proxy_ends_at_the_first_hop() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (a, b) = (free_port(), free_port());
    let start = |listen: u16, upstream: u16| async move {
        let proxy = EgressProxy::bind(EgressConfig {
            listen: format!("127.0.0.1:{listen}").parse().unwrap(),
            upstream_base_url: format!("http://127.0.0.1:{upstream}"),
            ..EgressConfig::default()
        })
        .await
        .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(proxy.run_until(async {
            let _ = stopped.await;
        }));
        (stop, task)
    };
    let (stop_a, task_a) = start(a, b).await;
    let (stop_b, task_b) = start(b, a).await;
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", a))
            .await
            .unwrap();
        stream
            .write_all(
                b"POST /mmpaymkttransfers/query_coupon_stock HTTP/1.1\r\nhost: x\r\n\
                  content-length: 11\r\nconnection: close\r\n\r\n<xml></xml>",
            )
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the loop must end, not run until descriptors run out");
    assert!(answer.starts_with("HTTP/1.1 508"), "{answer}");
    assert!(answer.contains("EGRESS_LOOP"), "{answer}");
    let _ = stop_a.send(());
    let _ = stop_b.send(());
    let (a, b) = (
        task_a.await.unwrap().unwrap(),
        task_b.await.unwrap().unwrap(),
    );
    assert_eq!(
        (a.forwarded, b.forwarded, b.refused),
        (1, 0, 1),
        "{a:?} {b:?}"
    );
}

#[tokio::test]
async fn refuses_a_non_loopback_listener() {
    let config = EgressConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..EgressConfig::default()
    };
    let err = EgressProxy::bind(config).await.err().expect("refused");
    assert!(err.to_string().contains("not a loopback address"), "{err}");
}
