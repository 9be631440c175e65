//! What moat logs about ARM requests: at debug level each exchange with method, URL, status,
//! duration and request id; never a token, an `Authorization` header or a response body. (In a
//! process of its own: tracing's per-thread subscriber and callsite caching race with other tests.)

use crate::arm_support;
use crate::own_process;

use std::sync::{Arc, Mutex};

use arm_support::{fast_lro, Reply, Server};
use moat::arm::{connect_http, ArmApi, ConnectOptions, RetryPolicy};
use own_process::in_own_process;
use serde_json::json;

const TOKEN: &str = "tok-SECRET-0123456789";

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn debug_log_names_each_request_but_never_the_token_or_bodies() {
    if !in_own_process(
        module_path!(),
        "debug_log_names_each_request_but_never_the_token_or_bodies",
    ) {
        return;
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            moat::report::log_filter(3),
        ))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let s = Server::start().await;
    s.push(Reply::error(503, "ServerBusy", "x"));
    s.push(
        Reply::json(
            200,
            json!({"key1": "KEY-ONE-SECRET", "key2": "KEY-TWO-SECRET"}),
        )
        .header("x-ms-request-id", "rid-log"),
    );
    let arm = connect_http(&ConnectOptions {
        arm_endpoint: Some(s.base.clone()),
        access_token: Some(TOKEN.into()),
        retry: RetryPolicy::default().zero_delays(),
        lro: fast_lro(),
        ..Default::default()
    })
    .unwrap();
    arm.post(
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1/listKeys",
        "v",
        None,
    )
    .await
    .unwrap();

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("ARM request"), "{logs}");
    assert!(
        logs.contains("status=200") && logs.contains("rid-log"),
        "{logs}"
    );
    assert!(
        logs.contains("method=POST") && logs.contains("duration_ms="),
        "{logs}"
    );
    assert!(logs.contains("503 ServerBusy; retry 1"), "{logs}");
    assert!(!logs.contains(TOKEN), "token leaked into logs");
    assert!(
        !logs.to_lowercase().contains("bearer"),
        "authorization leaked into logs"
    );
    assert!(
        !logs.contains("KEY-ONE-SECRET"),
        "response body leaked into logs"
    );
}
