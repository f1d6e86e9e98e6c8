//! `/mcp` spoken as a client would: JSON-RPC over Streamable HTTP, each
//! request on its own (no session), answers compared with the HTTP routes.

use serde_json::{Value, json};

use crate::helpers::*;

async fn rpc(app: &TestApp, path: &str, method: &str, params: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn call(app: &TestApp, path: &str, tool: &str, arguments: Value) -> Value {
    let (status, body) = rpc(
        app,
        path,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["result"].clone()
}

/// The route's JSON without the per-second `ageSeconds`.
fn without_age(mut v: Value) -> Value {
    if let Some(c) = v.get_mut("catalog").and_then(Value::as_object_mut) {
        c.remove("ageSeconds");
    }
    v
}

#[tokio::test]
async fn initialize_lists_four_tools_with_input_schemas() {
    let app = spawn_ready(simple_feed(5), &[]).await;
    let (status, init) = rpc(
        &app,
        "/mcp",
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
    )
    .await;
    assert_eq!(status, 200, "{init}");
    let instructions = init["result"]["instructions"].as_str().unwrap();
    assert!(instructions.contains("USD"), "{instructions}");

    // A fresh request without any session id: the server is stateless.
    let (_, tools) = rpc(&app, "/mcp", "tools/list", json!({})).await;
    let tools = tools["result"]["tools"].as_array().unwrap().clone();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["search_plans", "get_plan", "list_countries", "plan_trip"]
    );
    let search = &tools[0]["inputSchema"]["properties"];
    for parameter in cmg_feed_proxy::query::PLAN_PARAMETERS {
        assert!(
            search.get(*parameter).is_some(),
            "search_plans lacks {parameter}"
        );
    }
    assert_eq!(tools[3]["inputSchema"]["required"], json!(["stops"]));
    app.stop().await;
}

#[tokio::test]
async fn each_tool_answers_like_its_route_with_the_ref() {
    let body = feed(&[
        plan("FR-7", &["FR"], 5.0, 7, 4.0),
        plan("DE-7", &["DE"], 5.0, 7, 4.5),
        plan("EU-15", &["FR", "DE"], 10.0, 15, 12.0),
    ]);
    let app = spawn_ready(body, &[]).await;
    let cases = [
        (
            "search_plans",
            json!({"country": "DE", "limit": 5}),
            "/plans?country=DE&limit=5&ref=acme-01",
        ),
        (
            "get_plan",
            json!({"packageCode": "FR-7"}),
            "/plans/FR-7?ref=acme-01",
        ),
        (
            "plan_trip",
            json!({"stops": "FR:3,DE:4"}),
            "/trips?stops=FR:3,DE:4&ref=acme-01",
        ),
    ];
    for (tool, arguments, route) in cases {
        let result = call(&app, "/mcp?ref=acme-01", tool, arguments).await;
        assert_ne!(result["isError"], true, "{tool}: {result}");
        let (_, expected) = app.get_json(route).await;
        assert_eq!(
            without_age(result["structuredContent"].clone()),
            without_age(expected),
            "{tool}"
        );
        let text: Value =
            serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(
            without_age(text),
            without_age(result["structuredContent"].clone())
        );
        assert!(
            result.to_string().contains("?ref=acme-01"),
            "{tool}: the ref is injected"
        );
    }
    let result = call(&app, "/mcp", "list_countries", json!({})).await;
    let (_, countries) = app.get_json("/countries").await;
    assert_eq!(result["structuredContent"], countries);
    // A ref given to the tool wins over none in the URL.
    let result = call(
        &app,
        "/mcp",
        "get_plan",
        json!({"packageCode": "DE-7", "ref": "shop-2"}),
    )
    .await;
    assert!(
        result["structuredContent"]["productUrl"]
            .as_str()
            .unwrap()
            .ends_with("?ref=shop-2")
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_inputs_are_tool_errors_naming_the_parameter() {
    let app = spawn_ready(simple_feed(3), &[]).await;
    for (tool, arguments, parameter) in [
        ("search_plans", json!({"min_gb": -1}), Some("min_gb")),
        ("search_plans", json!({"limit": 0}), Some("limit")),
        ("search_plans", json!({"colour": "red"}), Some("colour")),
        ("plan_trip", json!({"stops": "FR:0"}), Some("stops")),
        ("plan_trip", json!({}), Some("stops")),
        ("get_plan", json!({}), Some("packageCode")),
        ("get_plan", json!({"packageCode": "NOPE"}), None),
    ] {
        let result = call(&app, "/mcp", tool, arguments.clone()).await;
        assert_eq!(result["isError"], true, "{tool} {arguments}: {result}");
        assert_eq!(
            result["structuredContent"]["error"]["parameter"].as_str(),
            parameter,
            "{tool} {arguments}: {result}"
        );
    }
    let (status, body) = rpc(&app, "/mcp?ref=%3Cx%3E", "tools/list", json!({})).await;
    assert_eq!((status, error_of(&body).1.as_deref()), (400, Some("ref")));
    app.stop().await;
}

#[tokio::test]
async fn browser_based_clients_pass_the_cors_preflight() {
    let app = spawn_ready(simple_feed(1), &[]).await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/mcp", app.address))
        .header("Origin", "https://assistant.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type, accept, mcp-protocol-version",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let allowed = response.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    assert!(allowed.contains("POST"), "{allowed}");
    let headers = response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("mcp-protocol-version"), "{headers}");
    app.stop().await;
}

#[tokio::test]
async fn transport_rejections_are_json_errors() {
    let app = spawn_ready(simple_feed(1), &[]).await;
    let get = app.get("/mcp").await;
    assert_eq!(get.status(), 405);
    let body: Value = get.json().await.unwrap();
    assert_eq!(error_of(&body).0, "method_not_allowed");
    let no_accept = app
        .client
        .post(format!("{}/mcp", app.address))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_accept.status(), 406);
    assert!(no_accept.headers().contains_key("x-request-id"));
    let body: Value = no_accept.json().await.unwrap();
    assert!(error_of(&body).0.len() > 3, "{body}");
    app.stop().await;
}

/// A hostile client cannot make the server buffer a huge MCP body: past
/// 1 MiB the answer is a JSON 413, whether the length is announced or the
/// body is chunked (rmcp itself would read any body whole).
#[tokio::test]
async fn oversized_mcp_bodies_are_refused_without_being_buffered() {
    use std::io::{Read, Write};
    let app = spawn_ready(simple_feed(2), &[]).await;
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(2 << 20)
    );
    let response = app
        .client
        .post(format!("{}/mcp", app.address))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_parameter", "{body}");

    // Chunked, no length announced: cut off once past the limit.
    let addr = app.address.trim_start_matches("http://").to_owned();
    let status = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let head = "POST /mcp HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
                    Accept: application/json, text/event-stream\r\n\
                    Transfer-Encoding: chunked\r\n\r\n";
        let _ = stream.write_all(head.as_bytes());
        let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, "y".repeat(64 << 10));
        for _ in 0..64 {
            if stream.write_all(chunk.as_bytes()).is_err() {
                break; // the server stopped reading: that is the point
            }
        }
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(status.starts_with("HTTP/1.1 413"), "{status:.200}");
    assert!(status.contains("invalid_parameter"), "{status:.400}");
}

#[tokio::test]
async fn every_tool_answers_through_an_mcp_url_that_carries_a_ref() {
    let app = spawn_ready(simple_feed(3), &[]).await;
    let path = "/mcp?ref=acme-01";
    for (tool, arguments) in [
        ("search_plans", json!({})),
        ("get_plan", json!({"packageCode": "P0000"})),
        ("list_countries", json!({})),
        ("plan_trip", json!({"stops": "DE:1"})),
    ] {
        let result = call(&app, path, tool, arguments).await;
        assert_ne!(result["isError"], json!(true), "{tool}: {result}");
        let text = result["content"][0]["text"].as_str().unwrap();
        if tool != "list_countries" {
            assert!(text.contains("ref=acme-01"), "{tool}: {text}");
        }
    }
}

/// Posts raw bytes as an MCP message.
async fn post_raw(app: &TestApp, body: Vec<u8>) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/mcp", app.address))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_messages_get_json_rpc_errors_with_http_400() {
    let app = spawn_ready(simple_feed(2), &[]).await;
    let cases: Vec<(Vec<u8>, i64, Value)> = vec![
        (b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"meth".to_vec(), -32700, Value::Null),
        (b"\"\xff\xfe\"".to_vec(), -32700, Value::Null),
        (
            br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#.to_vec(),
            -32600,
            Value::Null,
        ),
        (
            br#"{"jsonrpc":"1.0","id":1,"method":"tools/list"}"#.to_vec(),
            -32600,
            json!(1),
        ),
        (
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}"#.to_vec(),
            -32600,
            Value::Null,
        ),
        (
            br#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#.to_vec(),
            -32600,
            Value::Null,
        ),
        (
            br#"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"search_plans","arguments":"x"}}"#.to_vec(),
            -32602,
            json!("c"),
        ),
        (
            br#"{"jsonrpc":"2.0","id":4,"method":"tools/call"}"#.to_vec(),
            -32602,
            json!(4),
        ),
        (
            br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"launch_rockets"}}"#.to_vec(),
            -32602,
            json!(5),
        ),
    ];
    for (body, code, id) in cases {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let (status, answer) = post_raw(&app, body).await;
        assert_eq!(status, 400, "{shown}: {answer}");
        assert_eq!(answer["jsonrpc"], "2.0", "{shown}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{shown}: {answer}");
        assert_eq!(answer["id"], id, "{shown}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().len() > 5);
    }
    let (_, unknown) = post_raw(
        &app,
        br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"launch_rockets"}}"#
            .to_vec(),
    )
    .await;
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("launch_rockets")
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_argument_error_lists_every_argument_the_tool_takes() {
    let app = spawn_ready(simple_feed(2), &[]).await;
    let result = call(
        &app,
        "/mcp",
        "get_plan",
        json!({"packageCode": "P0000", "colour": "red"}),
    )
    .await;
    assert_eq!(result["isError"], true, "{result}");
    let error = &result["structuredContent"]["error"];
    assert_eq!(error["code"], "unknown_parameter");
    assert_eq!(error["parameter"], "colour");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("packageCode") && message.contains("ref"),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test]
async fn tool_answers_carry_click_urls_tagged_as_the_assistants() {
    let app = spawn_ready(simple_feed(3), &["--public-url=https://plans.example"]).await;
    let result = call(
        &app,
        "/mcp?ref=acme-01",
        "search_plans",
        json!({"limit": 2}),
    )
    .await;
    let plans = result["structuredContent"]["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 2);
    for plan in plans {
        let code = plan["packageCode"].as_str().unwrap();
        assert_eq!(
            plan["clickUrl"],
            format!("https://plans.example/go/{code}?ref=acme-01&subid=mcp")
        );
    }
    // The text content says the same as the structured content.
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, result["structuredContent"]);
    let result = call(&app, "/mcp", "get_plan", json!({"packageCode": "P0001"})).await;
    assert_eq!(
        result["structuredContent"]["clickUrl"],
        "https://plans.example/go/P0001?subid=mcp"
    );
    let result = call(&app, "/mcp", "plan_trip", json!({"stops": "DE:3"})).await;
    let url = result["structuredContent"]["options"][0]["legs"][0]["plan"]["clickUrl"]
        .as_str()
        .unwrap();
    assert!(url.ends_with("?subid=mcp"), "{url}");
    // The HTTP routes themselves carry no subid.
    let (_, body) = app.get_json("/plans/P0001").await;
    assert_eq!(body["clickUrl"], "https://plans.example/go/P0001");
}

#[tokio::test]
async fn a_tool_call_counts_its_partner_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partners.toml");
    std::fs::write(&path, "[[partner]]\nid = \"acme\"\nref = \"acme-01\"\n").unwrap();
    let app = spawn_ready(
        simple_feed(3),
        &[&format!("--partners-file={}", path.display())],
    )
    .await;
    let result = call(&app, "/mcp?ref=acme-01", "search_plans", json!({})).await;
    assert_ne!(result["isError"], json!(true), "{result}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("cmg_partner_requests_total{partner=\"acme\"} 1\n"),
        "{metrics}"
    );
    // An unknown ref is still refused before any message is read.
    let (status, body) = rpc(&app, "/mcp?ref=nobody", "tools/list", json!({})).await;
    assert_eq!((status, error_of(&body).0.as_str()), (400, "unknown_ref"));
}

#[tokio::test]
async fn tools_take_the_market_parameters_of_their_routes() {
    let body = feed(&[
        plan("FR-7", &["FR"], 5.0, 7, 4.0),
        plan("TR-7", &["TR"], 0.0, 7, 9.0),
        plan("EU-15", &["FR", "DE"], 10.0, 15, 12.0),
    ]);
    let app = spawn_ready(body, &[]).await;
    let cases = [
        (
            "search_plans",
            json!({"scope": "local", "region": "asia", "unlimited": true, "currency": "USD", "q": "turkiye"}),
            "/plans?scope=local&region=asia&unlimited=true&currency=USD&q=turkiye",
        ),
        (
            "get_plan",
            json!({"packageCode": "FR-7", "currency": "usd"}),
            "/plans/FR-7?currency=usd",
        ),
        (
            "list_countries",
            json!({"lang": "de"}),
            "/countries?lang=de",
        ),
        (
            "plan_trip",
            json!({"stops": "FR:3,TR:2", "currency": "USD"}),
            "/trips?stops=FR:3,TR:2&currency=USD",
        ),
    ];
    for (tool, arguments, route) in cases {
        let result = call(&app, "/mcp", tool, arguments).await;
        assert_ne!(result["isError"], true, "{tool}: {result}");
        let (status, expected) = app.get_json(route).await;
        assert_eq!(status, 200, "{route}: {expected}");
        assert_eq!(result["structuredContent"], expected, "{tool}");
    }
    let result = call(&app, "/mcp", "search_plans", json!({"scope": "galactic"})).await;
    assert_eq!(result["isError"], true);
    assert_eq!(result["structuredContent"]["error"]["parameter"], "scope");
    app.stop().await;
}
