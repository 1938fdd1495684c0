//! Every queue has a bound and an answer when it is full: an object's mailbox, open
//! connections, slow clients, the resident cap when objects cannot leave.

use std::time::Duration;

use anyhow::Result;
use holdfast_tests::{
    Server, admin, admin_config, call, class, client, guest, metric, run_expecting_failure,
    ws_connect,
};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn trap() -> String {
    class("trap", "Trapper", &guest("trapper"))
}

/// The bug it guards against: mailboxes were unbounded, so a burst queued without limit.
#[tokio::test]
async fn a_full_mailbox_answers_503_overloaded_with_retry_after() -> Result<()> {
    let s = Server::start(&format!("[runtime]\nmax_queued_events = 4\n{}", trap()))?;
    let c = client();
    // Keeps the object busy for a second.
    let busy = tokio::spawn({
        let (c, url) = (c.clone(), s.url("/trap/hot/get-slow?key=k&ms=1000"));
        async move { call(&c, Method::GET, url).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut burst = Vec::new();
    for _ in 0..20 {
        let (c, url) = (c.clone(), s.url("/trap/hot/get?key=k"));
        burst.push(tokio::spawn(async move { c.get(url).send().await }));
    }
    let (mut ok, mut overloaded) = (0, 0);
    for r in burst {
        let r = r.await??;
        match r.status().as_u16() {
            200 => ok += 1,
            503 => {
                assert_eq!(r.headers()["retry-after"], "1");
                let body: serde_json::Value = r.json().await?;
                let e = body["error"].as_str().unwrap_or_default().to_owned();
                assert!(e.starts_with("Durable Object is overloaded: "), "{e}");
                assert!(e.ends_with("the limit is 4; retry later"), "{e}");
                overloaded += 1;
            }
            other => anyhow::bail!("unexpected status {other}"),
        }
    }
    assert_eq!(busy.await??.0, 200);
    assert!(
        ok >= 4 && overloaded >= 1,
        "ok {ok}, overloaded {overloaded}"
    );
    assert_eq!(
        metric(&c, &s, "holdfast_overloaded_total").await?,
        overloaded as f64
    );
    // The object serves again once its mailbox drained.
    assert_eq!(
        call(&c, Method::GET, s.url("/trap/hot/get?key=k")).await?.0,
        200
    );
    Ok(())
}

/// The bug it guards against: a client that opened a connection and sent nothing held it forever.
#[tokio::test]
async fn a_client_that_sends_no_headers_is_disconnected_after_the_header_timeout() -> Result<()> {
    let s = Server::start(&format!("[server]\nheader_timeout_ms = 300\n{}", trap()))?;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await?;
    tcp.write_all(b"GET /trap/a/get?key=k HTTP/1.1\r\nHost: x\r\n")
        .await?; // never finished
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was still open after 5 s");
    // hyper answers 408 to a request whose headers do not arrive in time.
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408() -> Result<()> {
    let s = Server::start(&format!("[server]\nbody_timeout_ms = 300\n{}", trap()))?;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await?;
    tcp.write_all(
        b"POST /trap/a/put?key=k&len=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part",
    )
    .await?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.contains(r#"{"error":"request body did not arrive within 300 ms"}"#),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn connections_past_the_cap_get_503_and_are_closed() -> Result<()> {
    let s = Server::start(&format!("[server]\nmax_connections = 2\n{}", trap()))?;
    let _a = tokio::net::TcpStream::connect(s.addr).await?;
    let _b = tokio::net::TcpStream::connect(s.addr).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = tokio::net::TcpStream::connect(s.addr).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.ends_with(
            r#"{"error":"too many connections: the limit of 2 is reached; retry later"}"#
        ),
        "{text}"
    );
    drop((_a, _b));
    // Once the others close, new connections are served.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c = client();
    assert_eq!(
        call(&c, Method::GET, s.url("/trap/a/get?key=k")).await?.0,
        200
    );
    Ok(())
}

/// Fails against the binary before the fix: with the least recently used object pinned by a socket, every new
/// activation asked only that one to leave, and the resident count grew past the cap.
#[tokio::test]
async fn a_full_cap_evicts_the_next_object_when_the_oldest_cannot_leave() -> Result<()> {
    let s = Server::start(&format!(
        "[runtime]\nmax_live_objects = 2\n{}{}",
        admin_config(),
        trap()
    ))?;
    let c = client();
    let _pin = ws_connect(&s, "/trap/pinned/ws-accept?tags=t&pinned=1").await?;
    for i in 0..8 {
        assert_eq!(
            call(&c, Method::GET, s.url(&format!("/trap/o{i}/get?key=k")))
                .await?
                .0,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let live = metric(&c, &s, "holdfast_live_objects").await?;
    assert!(live <= 3.0, "{live} objects live over a cap of 2");
    assert!(metric(&c, &s, "holdfast_evictions_total").await? >= 6.0);
    let (_, objects) = admin(&c, &s, Method::GET, "/objects").await?;
    let names: Vec<_> = objects["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert!(names.contains(&"pinned"), "{names:?}");
    Ok(())
}

/// The bug it guards against: the instance pool's memory mappings were not counted, so a cap
/// above what `vm.max_map_count` holds (20,000 on the default 65,530) started, and the process
/// aborted once about 5,600 objects were live.
#[tokio::test]
async fn a_live_cap_the_mapping_limit_cannot_hold_is_refused_at_start() -> Result<()> {
    let Ok(limit) = std::fs::read_to_string("/proc/sys/vm/max_map_count") else {
        eprintln!("no vm.max_map_count on this system: nothing to check");
        return Ok(());
    };
    let limit: u64 = limit.trim().parse()?;
    // Six mappings per live object at least (a slot's two and a live instance's four).
    let cap = u32::try_from(limit / 4 + 1).unwrap_or(u32::MAX);
    let counter = class("counter", "Counter", &guest("counter"));
    let (ok, out) =
        run_expecting_failure(&format!("[runtime]\nmax_live_objects = {cap}\n\n{counter}"))?;
    assert!(!ok, "{out}");
    let prefix = format!("runtime.max_live_objects = {cap} needs about ");
    let at = out.find(&prefix).unwrap_or_else(|| panic!("{out}"));
    let rest = &out[at + prefix.len()..];
    assert!(
        rest.contains(&format!(
            " memory mappings and this system allows {limit} (vm.max_map_count): lower max_live_objects to at most "
        )),
        "{out}"
    );
    assert!(
        rest.contains("or raise the limit (e.g. `sysctl -w vm.max_map_count=262144`)"),
        "{out}"
    );
    // The cap it names does start.
    let fits: u32 = rest
        .split("at most ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(fits > 0 && fits < cap, "{out}");
    let s = Server::start(&format!(
        "[runtime]\nmax_live_objects = {fits}\n\n{counter}"
    ))?;
    let r = client().post(s.url("/counter/a/increment")).send().await?;
    assert_eq!(r.status(), 200);
    Ok(())
}
