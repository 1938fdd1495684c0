//! Outbound `fetch()` from objects and workers to URLs outside Holdfast, in the three SDKs:
//! allowed only to the hosts of the config's `outbound` list (redirects too), with errors that
//! name the config key; a real upstream server on loopback answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use anyhow::Result;
use holdfast_tests::{Server, built, call, client, guest};
use reqwest::Method;
use serde_json::{Value, json};

/// An HTTP/1.1 server on 127.0.0.1 answering `{method} {path} {body}` with `x-upstream: yes`;
/// `/redirect?to=URL` answers 302 to URL, `/big` a 17 MiB body, `/slow` after 1.5 s. Returns
/// its port.
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut length = 0;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let mut parts = line.split_whitespace();
                let (method, path) = (parts.next().unwrap(), parts.next().unwrap());
                let (status, extra, payload) = if let Some(to) = path.strip_prefix("/redirect?to=")
                {
                    ("302 Found", format!("location: {to}\r\n"), Vec::new())
                } else if path == "/slow" {
                    std::thread::sleep(std::time::Duration::from_millis(1500));
                    ("200 OK", String::new(), b"slow".to_vec())
                } else if path == "/big" {
                    ("200 OK", String::new(), vec![b'x'; 17 << 20])
                } else {
                    let text = format!("{method} {path} {}", String::from_utf8_lossy(&body));
                    ("200 OK", String::new(), text.into_bytes())
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nx-upstream: yes\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
                    payload.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&payload);
            });
        }
    });
    port
}

/// The test guests with `outbound` allowing the upstream, the Python one allowing nothing; with
/// `worker`, the Rust router in front.
fn config(port: u16, worker: bool) -> String {
    let allow = format!("outbound = [\"127.0.0.1:{port}\"]\n");
    let worker = if worker {
        format!(
            "[worker]\ncomponent = \"{}\"\n{allow}",
            guest("router").display()
        )
    } else {
        String::new()
    };
    format!(
        "{worker}[[class]]\nbinding = \"probe\"\nclass = \"Probe\"\ncomponent = \"{}\"\n{allow}\
         [[class]]\nbinding = \"caller\"\nclass = \"Caller\"\ncomponent = \"{}\"\n{allow}\
         [[class]]\nbinding = \"py\"\nclass = \"PyRpc\"\ncomponent = \"{}\"\n",
        built("target/js-guests/probe.wasm").display(),
        guest("caller").display(),
        built("target/py-guests/rpc.wasm").display(),
    )
}

async fn js(c: &reqwest::Client, s: &Server, query: &str) -> Result<Value> {
    let (status, body) = call(c, Method::GET, s.url(&format!("/probe/p/outbound?{query}"))).await?;
    anyhow::ensure!(status == 200, "{status} {body}\n{}", s.log());
    Ok(body)
}

async fn rust(c: &reqwest::Client, s: &Server, url: &str) -> Result<Value> {
    let r = c
        .post(s.url("/caller/r/run"))
        .json(&json!([{ "http": url }]))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "{}", s.log());
    Ok(r.json::<Value>().await?[0].clone())
}

fn denied(url: &str, host: &str, key: &str) -> String {
    format!(
        "fetch() of {url} denied: host `{host}` is not in {key}, the hosts this code may reach \
         (add \"{host}\" to it)"
    )
}

#[tokio::test]
async fn objects_fetch_allowed_hosts_and_are_denied_others_naming_the_config_key() -> Result<()> {
    let port = upstream();
    let s = Server::start(&config(port, false))?;
    let c = client();
    let base = format!("http://127.0.0.1:{port}");
    // JavaScript: the global fetch(), as on Cloudflare.
    assert_eq!(
        js(&c, &s, &format!("url={base}/hello%3Fx=1")).await?,
        json!({ "status": 200, "body": "GET /hello?x=1 ", "upstream": "yes" })
    );
    assert_eq!(
        js(&c, &s, &format!("url={base}/post&method=POST&body=payload")).await?["body"],
        "POST /post payload"
    );
    let other = format!("http://localhost:{port}/");
    assert_eq!(
        js(&c, &s, &format!("url={other}")).await?,
        json!({ "error": {
            "name": "TypeError",
            "kind": "denied",
            "message": denied(&other, "localhost", "class[0].outbound (the class with binding `probe`)"),
        }})
    );
    // A redirect is followed only to allowed hosts.
    assert_eq!(
        js(&c, &s, &format!("url={base}/redirect%3Fto={base}/landed")).await?["body"],
        "GET /landed "
    );
    let m = js(&c, &s, &format!("url={base}/redirect%3Fto={other}")).await?;
    assert_eq!(m["error"]["kind"], "denied", "{m}");
    assert!(
        m["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "fetch() of a redirect to {other} denied: host `localhost`"
            )),
        "{m}"
    );
    let m = js(&c, &s, "url=/relative").await?;
    assert_eq!(m["error"]["kind"], "invalid-url", "{m}");
    let m = js(&c, &s, &format!("url={base}/big")).await?;
    assert_eq!(
        m["error"],
        json!({ "name": "TypeError", "kind": "too-large",
                "message": format!("the response of {base}/big is larger than 16 MiB, the most a guest receives") })
    );
    // A port nobody listens on: the connection's failure, named.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let s2 = Server::start(&config(closed, false))?;
    let m = js(&c, &s2, &format!("url=http://127.0.0.1:{closed}/")).await?;
    assert_eq!(m["error"]["kind"], "failed", "{m}");
    assert!(
        m["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{m}"
    );
    drop(s2);

    // Rust: holdfast_sdk::fetch.
    assert_eq!(
        rust(&c, &s, &format!("{base}/from-rust")).await?,
        json!({ "status": 200, "body": "GET /from-rust " })
    );
    assert_eq!(
        rust(&c, &s, &other).await?,
        json!({ "error": { "kind": "Denied",
            "message": denied(&other, "localhost", "class[1].outbound (the class with binding `caller`)") } })
    );
    // Python: holdfast.fetch; its class allows nothing.
    let r = c
        .post(s.url("/caller/r/run"))
        .json(&json!([{ "call": ["py", "p", "http_get", [format!("{base}/from-python")]] }]))
        .send()
        .await?;
    let out: Value = r.json().await?;
    assert_eq!(
        out[0]["ok"],
        json!({ "error": { "kind": "denied",
            "message": denied(&format!("{base}/from-python"), "127.0.0.1", "class[2].outbound (the class with binding `py`)") } })
    );
    Ok(())
}

#[tokio::test]
async fn a_worker_fetches_allowed_hosts_and_is_denied_others() -> Result<()> {
    let port = upstream();
    let s = Server::start(&config(port, true))?;
    let c = client();
    let base = format!("http://127.0.0.1:{port}");
    let (_, out) = call(
        &c,
        Method::GET,
        s.url(&format!("/http?url={base}/from-worker")),
    )
    .await?;
    assert_eq!(out, json!({ "status": 200, "body": "GET /from-worker " }));
    let other = format!("http://localhost:{port}/");
    let (_, out) = call(&c, Method::GET, s.url(&format!("/http?url={other}"))).await?;
    assert_eq!(out["error"], denied(&other, "localhost", "worker.outbound"));
    Ok(())
}

#[tokio::test]
async fn an_object_waiting_on_a_fetch_is_not_evicted_while_others_come_and_go() -> Result<()> {
    let port = upstream();
    let s = Server::start(&format!(
        "[runtime]\nmax_live_objects = 2\n{}",
        config(port, false)
    ))?;
    let c = client();
    let slow = {
        let (c, url) = (
            c.clone(),
            s.url(&format!(
                "/probe/waiting/outbound?url=http://127.0.0.1:{port}/slow"
            )),
        );
        tokio::spawn(async move { call(&c, Method::GET, url).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Ten other objects activate while it waits, two at most resident: the idle ones leave.
    for i in 0..10 {
        let (status, _) = call(&c, Method::GET, s.url(&format!("/probe/o{i}/kv"))).await?;
        assert_eq!(status, 200, "{}", s.log());
    }
    assert!(holdfast_tests::metric(&c, &s, "holdfast_evictions_total").await? >= 8.0);
    let (status, body) = slow.await??;
    assert_eq!(
        (status, body),
        (
            200,
            json!({ "status": 200, "body": "slow", "upstream": "yes" })
        ),
        "{}",
        s.log()
    );
    Ok(())
}
