//! Hostile ARM responses (issue 21) end in a clear error within moat's documented limits
//! (docs/reliability.md, "Limits on what ARM sends back"): each limit at the limit and one past
//! it, against scripted servers on 127.0.0.1.

use crate::arm_support;
use crate::own_process::in_own_process;

use std::time::{Duration, Instant};

use arm_support::{fast_lro, raw_server, request_target, Reply, Server};
use moat::arm::body::MAX_RESPONSE_BYTES;
use moat::arm::http::HttpTimeouts;
use moat::arm::limiter::LimiterConfig;
use moat::arm::lro::IN_PROGRESS_STATES;
use moat::arm::{connect_http, ArmApi, ArmError, ConnectOptions, HttpArm, Precondition};
use moat::arm::{
    ArmRequest, Method, RetryPolicy, MAX_LIST_BYTES, MAX_LIST_ITEMS, MAX_LIST_PAGES, MAX_PAGE_ITEMS,
};
use moat::resources::kind::{provisioning_gate, Ready};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

const SUB: &str = "00000000-0000-0000-0000-00000000000a";

fn acct() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1"
    )
}

fn accounts() -> String {
    format!("/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/accounts")
}

fn client_for(base: &str, timeouts: HttpTimeouts) -> HttpArm {
    connect_http(&ConnectOptions {
        arm_endpoint: Some(base.to_string()),
        access_token: Some("tok".into()),
        retry: RetryPolicy::none(),
        lro: fast_lro(),
        timeouts,
        ..Default::default()
    })
    .unwrap()
    // Thousands of pages: ARM's request budget (mirrored locally) is not what these tests test.
    .with_limiter(LimiterConfig {
        read_capacity: 100_000,
        read_refill_per_sec: 100_000,
        ..LimiterConfig::default()
    })
}

fn client(s: &Server) -> HttpArm {
    client_for(&s.base, HttpTimeouts::default())
}

fn protocol_message(err: ArmError) -> String {
    match err {
        ArmError::Protocol { .. } => err.to_string(),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

/// A JSON object of exactly `n` bytes.
fn body_of_len(n: usize) -> String {
    let pad = n - r#"{"p":""}"#.len();
    format!(r#"{{"p":"{}"}}"#, "x".repeat(pad))
}

// 1. Response body size.

#[tokio::test]
async fn a_body_at_the_size_limit_is_read_one_byte_more_is_refused() {
    let s = Server::start().await;
    s.push(Reply::text(200, &body_of_len(MAX_RESPONSE_BYTES)));
    s.push(Reply::text(200, &body_of_len(MAX_RESPONSE_BYTES + 1)));
    let arm = client(&s);
    let got = arm.get(&acct(), "v").await.unwrap().unwrap();
    assert_eq!(got["p"].as_str().unwrap().len(), MAX_RESPONSE_BYTES - 8);
    let msg = protocol_message(arm.get(&acct(), "v").await.unwrap_err());
    assert!(msg.contains("over moat's limit of 16777216 bytes"), "{msg}");
}

#[tokio::test]
async fn an_endless_body_without_a_length_stops_at_the_size_limit() {
    let base = raw_server(|_, mut sock| async move {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                    transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
        // 1 GiB unless the client hangs up first.
        for _ in 0..16 * 1024 {
            if sock.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let arm = client_for(&base, HttpTimeouts::default());
    let t0 = Instant::now();
    let msg = protocol_message(arm.get(&acct(), "v").await.unwrap_err());
    assert!(
        msg.contains("over moat's limit") && msg.contains("stopped reading"),
        "{msg}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

// 3. Read timeouts (configured short so that the tests take seconds).

/// A response of `len` body bytes written one byte per `gap`.
async fn trickle(len: usize, gap: Duration) -> String {
    raw_server(move |_, mut sock| async move {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\
             connection: close\r\n\r\n"
        );
        let _ = sock.write_all(head.as_bytes()).await;
        let body = format!(r#"{{"p":"{}"}}"#, "x".repeat(len - 8));
        for b in body.bytes() {
            tokio::time::sleep(gap).await;
            if sock.write_all(&[b]).await.is_err() {
                return;
            }
        }
    })
    .await
}

fn short_timeouts() -> HttpTimeouts {
    HttpTimeouts {
        idle: Duration::from_millis(400),
        total: Duration::from_millis(1500),
        ..HttpTimeouts::default()
    }
}

fn transport_message(err: ArmError) -> String {
    match err {
        ArmError::Transport { .. } => err.to_string(),
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_trickling_body_ends_at_the_total_timeout() {
    // Within the total: 10 bytes 100 ms apart (1 s of 1.5 s).
    let base = trickle(10, Duration::from_millis(100)).await;
    let arm = client_for(&base, short_timeouts());
    assert!(arm.get(&acct(), "v").await.unwrap().is_some());
    // Past it: 40 bytes 100 ms apart, never idle for 400 ms, ends at 1.5 s.
    let base = trickle(40, Duration::from_millis(100)).await;
    let arm = client_for(&base, short_timeouts());
    let t0 = Instant::now();
    let msg = transport_message(arm.get(&acct(), "v").await.unwrap_err());
    assert!(msg.contains("within 1.5s (total timeout)"), "{msg}");
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn a_pause_longer_than_the_idle_timeout_is_a_stall() {
    let base = trickle(9, Duration::from_millis(150)).await;
    let arm = client_for(&base, short_timeouts());
    let mut t = short_timeouts();
    t.total = Duration::from_secs(10);
    assert!(client_for(&base, t).get(&acct(), "v").await.is_ok());
    let base = trickle(9, Duration::from_millis(700)).await;
    let msg = transport_message(client_for(&base, t).get(&acct(), "v").await.unwrap_err());
    assert!(msg.contains("no byte for 400ms (idle timeout)"), "{msg}");
    drop(arm);
}

// 2. Lists: items per page, items per list, pages, nextLink loops.

fn item(i: usize) -> Value {
    json!({"id": format!("{}/a{i}", accounts().replace("/providers", "/resourceGroups/rg/providers")), "name": format!("a{i}")})
}

fn page(s: &Server, items: std::ops::Range<usize>, next: Option<usize>) -> Reply {
    let mut body = json!({"value": items.map(item).collect::<Vec<_>>()});
    if let Some(n) = next {
        body["nextLink"] = json!(s.url(&format!("{}?page={n}", accounts())));
    }
    Reply::json(200, body)
}

#[tokio::test]
async fn list_pages_at_the_cap_and_one_more() {
    let s = Server::start().await;
    for p in 1..=MAX_LIST_PAGES {
        s.push(page(&s, p..p + 1, (p < MAX_LIST_PAGES).then_some(p + 1)));
    }
    let arm = client(&s);
    assert_eq!(
        arm.list(&accounts(), "v").await.unwrap().len(),
        MAX_LIST_PAGES
    );
    for p in 1..=MAX_LIST_PAGES {
        s.push(page(&s, p..p + 1, Some(p + 1)));
    }
    let msg = protocol_message(arm.list(&accounts(), "v").await.unwrap_err());
    assert!(msg.contains("more than 1000 pages"), "{msg}");
    assert!(msg.contains("page=1001"), "names the next link: {msg}");
    assert_eq!(
        s.seen().len(),
        2 * MAX_LIST_PAGES,
        "page 1001 is never fetched"
    );
}

#[tokio::test]
async fn page_items_at_the_cap_and_one_more() {
    let s = Server::start().await;
    s.push(page(&s, 0..MAX_PAGE_ITEMS, None));
    s.push(page(&s, 0..MAX_PAGE_ITEMS + 1, None));
    let arm = client(&s);
    assert_eq!(
        arm.list(&accounts(), "v").await.unwrap().len(),
        MAX_PAGE_ITEMS
    );
    let msg = protocol_message(arm.list(&accounts(), "v").await.unwrap_err());
    assert!(
        msg.contains("a page of 10001 items (more than 10000"),
        "{msg}"
    );
}

#[tokio::test]
async fn list_items_at_the_cap_and_one_more() {
    let s = Server::start().await;
    let pages = MAX_LIST_ITEMS / MAX_PAGE_ITEMS;
    for extra in [0, 1] {
        for p in 0..pages {
            let end = (p + 1) * MAX_PAGE_ITEMS;
            s.push(page(&s, p * MAX_PAGE_ITEMS..end, Some(p + 2)));
        }
        s.push(page(&s, MAX_LIST_ITEMS..MAX_LIST_ITEMS + extra, None));
    }
    let arm = client(&s);
    assert_eq!(
        arm.list(&accounts(), "v").await.unwrap().len(),
        MAX_LIST_ITEMS
    );
    let msg = protocol_message(arm.list(&accounts(), "v").await.unwrap_err());
    assert!(msg.contains("more than 100000 items"), "{msg}");
}

/// Eight pages of one padded item each, 8 MiB of items per page (each page under the 16 MiB body
/// cap), add up to exactly [`MAX_LIST_BYTES`], then to one byte more.
#[tokio::test]
async fn list_bytes_at_the_cap_and_one_more() {
    const PAGES: usize = 8;
    for extra in [0, 1] {
        let s = Server::start().await;
        let per_page = MAX_LIST_BYTES / PAGES;
        for p in 0..PAGES {
            let mut it = item(p);
            let bare = serde_json::to_string(&it).unwrap().len() + r#","pad":"""#.len();
            let want = per_page + if p == PAGES - 1 { extra } else { 0 };
            it["pad"] = json!("x".repeat(want - bare));
            assert_eq!(serde_json::to_string(&it).unwrap().len(), want);
            let mut body = json!({ "value": [it] });
            if p + 1 < PAGES {
                body["nextLink"] = json!(s.url(&format!("{}?page={}", accounts(), p + 1)));
            }
            s.push(Reply::json(200, body));
        }
        let got = client(&s).list(&accounts(), "v").await;
        if extra == 0 {
            assert_eq!(got.unwrap().len(), PAGES);
        } else {
            let msg = protocol_message(got.unwrap_err());
            assert!(msg.contains("more than 67108864 bytes of items"), "{msg}");
            assert!(msg.contains("after 8 pages"), "{msg}");
        }
    }
}

#[tokio::test]
async fn a_next_link_seen_before_is_a_paging_loop() {
    let s = Server::start().await;
    // A page pointing at itself.
    s.default_reply(page(&s, 0..1, Some(7)));
    let arm = client(&s);
    let msg = protocol_message(arm.list(&accounts(), "v").await.unwrap_err());
    assert!(msg.contains("?page=7 was already followed"), "{msg}");
    assert_eq!(s.seen().len(), 2);
    // A → B → A.
    let s = Server::start().await;
    s.push(page(&s, 0..1, Some(1)));
    s.push(page(&s, 1..2, Some(2)));
    s.push(page(&s, 2..3, Some(1)));
    let msg = protocol_message(client(&s).list(&accounts(), "v").await.unwrap_err());
    assert!(msg.contains("?page=1 was already followed"), "{msg}");
}

/// VmHWM (peak resident memory) of this process, from /proc/self/status.
fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024
}

/// The security review's 1,000,000-item list (7.6 GB before the caps), served as pages of
/// 10,000 generated per request, and as a single page: each ends in the error, in a process of
/// its own whose peak memory stays under 300 MB.
#[test]
fn a_million_item_list_ends_under_300_mb() {
    if !in_own_process(module_path!(), "a_million_item_list_ends_under_300_mb") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        const TOTAL: usize = 1_000_000;
        let pages = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let served = pages.clone();
        let base = raw_server(move |head, mut sock| {
            served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                let target = request_target(&head).to_string();
                let host = head
                    .lines()
                    .find_map(|l| l.strip_prefix("host: "))
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let body = if target.contains("single") {
                    format!(r#"{{"value":[{}{{}}]}}"#, "{},".repeat(TOTAL - 1))
                } else {
                    let p: usize = target
                        .split("page=")
                        .nth(1)
                        .map_or(0, |n| n.parse().unwrap());
                    let start = p * MAX_PAGE_ITEMS;
                    let items: Vec<Value> = (start..start + MAX_PAGE_ITEMS).map(item).collect();
                    let mut b = json!({ "value": items });
                    if start + MAX_PAGE_ITEMS < TOTAL {
                        let next = format!("http://{host}{}?page={}", accounts(), p + 1);
                        b["nextLink"] = json!(next);
                    }
                    b.to_string()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
            }
        })
        .await;
        let arm = client_for(&base, HttpTimeouts::default());
        let msg = protocol_message(arm.list(&accounts(), "v").await.unwrap_err());
        assert!(msg.contains("more than 100000 items"), "{msg}");
        let served = pages.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(served, MAX_LIST_ITEMS / MAX_PAGE_ITEMS + 1, "pages fetched");

        let single = ArmRequest::new(Method::Get, accounts(), "v").with_query("single", "1");
        let msg = protocol_message(arm.list_query(single).await.unwrap_err());
        assert!(msg.contains("a page of 1000000 items"), "{msg}");
    });
    let peak = peak_rss_mb();
    eprintln!("arm-hostile: 1,000,000-item list refused, peak RSS {peak} MB");
    assert!(peak < 300, "peak RSS {peak} MB");
}

// 4. Unknown provisioningState.

fn state(s: &str) -> Value {
    json!({"id": acct(), "properties": {"provisioningState": s}})
}

#[tokio::test]
async fn an_unknown_provisioning_state_fails_fast_in_the_poller() {
    let s = Server::start().await;
    // In the first response: no poll at all.
    s.push(Reply::json(201, state("Frobnicating")));
    let arm = client(&s);
    let t0 = Instant::now();
    let msg = protocol_message(
        arm.put(&acct(), "v", &json!({}), Precondition::None)
            .await
            .unwrap_err(),
    );
    assert!(
        msg.contains("accounts/a1") && msg.contains("\"Frobnicating\""),
        "{msg}"
    );
    assert_eq!(arm.stats().polls, 0);
    // While polling the resource: after every documented in-progress state, a new one.
    s.push(Reply::json(201, state("Creating")));
    for st in IN_PROGRESS_STATES {
        s.push(Reply::json(200, state(st)));
    }
    s.push(Reply::json(200, state("Defrosting")));
    let msg = protocol_message(
        arm.put(&acct(), "v", &json!({}), Precondition::None)
            .await
            .unwrap_err(),
    );
    assert!(msg.contains("provisioningState \"Defrosting\""), "{msg}");
    assert_eq!(arm.stats().polls as usize, IN_PROGRESS_STATES.len() + 1);
    // An operation status outside the documented ones.
    let op = s.url("/subscriptions/x/providers/Microsoft.CognitiveServices/operations/1");
    s.push(Reply::json(201, state("Accepted")).header("azure-asyncoperation", op.clone()));
    s.push(Reply::json(200, json!({"status": "Thinking"})));
    let msg = protocol_message(
        arm.put(&acct(), "v", &json!({}), Precondition::None)
            .await
            .unwrap_err(),
    );
    assert!(msg.contains("operation status \"Thinking\""), "{msg}");
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn an_unknown_provisioning_state_is_never_ready_in_the_gates() {
    let id = acct();
    assert_eq!(provisioning_gate("account", &id, Some("Succeeded")), None);
    assert!(matches!(
        provisioning_gate("account", &id, Some("Creating")),
        Some(Ready::Wait(_))
    ));
    assert!(matches!(
        provisioning_gate("account", &id, None),
        Some(Ready::Wait(_))
    ));
    assert!(matches!(
        provisioning_gate("account", &id, Some("failed")),
        Some(Ready::Never(_))
    ));
    match provisioning_gate("private endpoint", &id, Some("Frobnicating")) {
        Some(Ready::Never(why)) => {
            assert!(
                why.contains(&id) && why.contains("\"Frobnicating\""),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
}

// 5. Response ids checked against the request.

#[tokio::test]
async fn a_response_id_outside_the_requested_scope_is_refused() {
    let s = Server::start().await;
    let other = acct().replace(SUB, "ffffffff-0000-0000-0000-000000000000");
    // The same id in other casing is the same resource.
    s.push(Reply::json(200, json!({"id": acct().to_uppercase()})));
    s.push(Reply::json(200, json!({ "id": other })));
    s.push(Reply::json(
        200,
        json!({ "id": acct().replace("/rg/", "/rg2/") }),
    ));
    s.push(Reply::json(
        200,
        json!({"id": other, "properties": {"provisioningState": "Succeeded"}}),
    ));
    s.push(Reply::json(200, json!({"value": [item(1), {"id": other}]})));
    let arm = client(&s);
    assert!(arm.get(&acct(), "v").await.unwrap().is_some());
    let msg = protocol_message(arm.get(&acct(), "v").await.unwrap_err());
    assert!(
        msg.contains(&other) && msg.contains(&format!("subscription {SUB}")),
        "{msg}"
    );
    assert!(
        msg.contains("GET") && msg.contains(&acct()),
        "names the request: {msg}"
    );
    let msg = protocol_message(arm.get(&acct(), "v").await.unwrap_err());
    assert!(msg.contains("resource group rg"), "{msg}");
    let err = arm
        .patch(&acct(), "v", &json!({}), Precondition::None)
        .await;
    assert!(protocol_message(err.unwrap_err()).contains("PATCH"));
    let msg = protocol_message(arm.list(&accounts(), "v").await.unwrap_err());
    assert!(
        msg.contains("a list item has id") && msg.contains(&other),
        "{msg}"
    );
}

#[tokio::test]
async fn inherited_list_items_at_tenant_scope_are_accepted() {
    let s = Server::start().await;
    let mg = "/providers/Microsoft.Management/managementGroups/mg/providers/Microsoft.Authorization/roleAssignments/r1";
    let at_sub =
        format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/r2");
    s.push(Reply::json(
        200,
        json!({"value": [{"id": mg}, {"id": at_sub}]}),
    ));
    let path = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments",
        acct()
    );
    assert_eq!(client(&s).list(&path, "v").await.unwrap().len(), 2);
}
