//! `/mcp`: the catalog as Model Context Protocol tools for AI assistants,
//! over the Streamable HTTP transport of the official Rust SDK (`rmcp`), in
//! stateless mode (any replica answers any request; no session to keep).
//!
//! Each tool answers exactly like its HTTP route because it *is* the route:
//! the tool's JSON arguments become the route's query string and the call
//! goes through the same handlers (without the outer middleware, which the
//! `/mcp` request itself already passed). Input schemas come from the same
//! parameter tables as the OpenAPI document, so a new `/plans` parameter
//! shows up in `search_plans` without a second edit.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::handler::server::ServerHandler;
use rmcp::handler::server::tool::{ToolCallContext, ToolRoute, ToolRouter};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerInfo, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use crate::http::error::ErrorBody;
use crate::http::extract::{Partner, Query, RefOnly};
use crate::http::{ApiError, AppState, openapi};

const INSTRUCTIONS: &str = "Tools over a catalog of eSIM data plans for travellers. \
search_plans finds plans by country (ISO alpha-2 codes such as DE or FR,DE), data (GB), \
duration (days), price, speed, text, scope (local, regional, global), region (a continent) \
and unlimited; get_plan shows one plan by packageCode; \
list_countries lists every covered country with its cheapest price; plan_trip finds the \
cheapest way to cover a multi-country itinerary (stops such as FR:3,DE:4) with one to three eSIMs. \
All prices are in US dollars (USD); with currency (EUR, GBP, JPY...) each also carries a \
display object with the converted, approximate amount. Every productUrl is the plan's buy link: give it to the \
traveller unchanged, it carries the partner's referral code. dataAmount 0 means unlimited data.";

/// The `/mcp` route: the transport service behind a check of the URL's `ref`.
pub(in crate::http) fn router(state: AppState, routes: Router) -> Router<AppState> {
    let config = StreamableHttpServerConfig::default()
        .with_stateful_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        // A public API behind proxies: Host is not a trust boundary here (the
        // DNS-rebinding guard protects servers on a developer's loopback), and
        // browsers are governed by the CORS layer like on every route.
        .disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || {
            Ok(McpServer {
                routes: routes.clone(),
            })
        },
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", service)
        .route_layer(middleware::from_fn(json_errors))
        .route_layer(middleware::from_fn(jsonrpc_errors))
        .route_layer(middleware::from_fn_with_state(state, check_ref))
        .route_layer(crate::http::edge::compression())
}

/// `/mcp?ref=CODE`: a malformed ref is `invalid_parameter` and, with a
/// partner registry, a ref nobody owns is `unknown_ref`, before any MCP
/// message is read. Only `ref` (and the ignored `key`) may be given. Not
/// counted per partner here: the tool's own route call counts it, once.
async fn check_ref(
    State(state): State<AppState>,
    _: Query<RefOnly>,
    request: Request,
    next: Next,
) -> Response {
    let checked = Partner::explicit(request.uri().query())
        .map_err(ApiError::from)
        .and_then(|explicit| Partner::identify(&state, explicit, request.headers()));
    match checked {
        Ok(_) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// The largest MCP message read (tool calls are small JSON objects); the
/// route's body limit, enforced before rmcp, which would read any body whole.
pub(in crate::http) const MAX_BODY: usize = 1 << 20;

/// JSON-RPC's own error codes for messages that are not valid requests.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;

/// A malformed MCP message, answered as a JSON-RPC error with HTTP 400.
#[derive(Debug, PartialEq)]
struct RpcError {
    id: Value,
    code: i64,
    message: String,
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        let body = json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {"code": self.code, "message": self.message},
        });
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }
}

/// Checks what the transport would otherwise answer with a 415 and serde's
/// text, or accept as a notification: the body (already read, bounded, at
/// the edge) must be one JSON-RPC 2.0 message, and a `tools/call` must name
/// a known tool with object arguments.
async fn jsonrpc_errors(request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return ApiError::BodyUnreadable.into_response();
    };
    if let Err(error) = check_message(&bytes) {
        return error.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn check_message(bytes: &[u8]) -> Result<(), RpcError> {
    let error = |id: &Value, code, message: &str| RpcError {
        id: id.clone(),
        code,
        message: message.to_owned(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| {
        error(
            &Value::Null,
            PARSE_ERROR,
            "Parse error: the body is not valid UTF-8",
        )
    })?;
    let message: Value = serde_json::from_str(text).map_err(|e| {
        error(
            &Value::Null,
            PARSE_ERROR,
            &format!(
                "Parse error: not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let message = match message {
        Value::Object(message) => message,
        Value::Array(_) => {
            return Err(error(
                &Value::Null,
                INVALID_REQUEST,
                "Invalid Request: batches are not supported; send one message per request",
            ));
        }
        _ => {
            return Err(error(
                &Value::Null,
                INVALID_REQUEST,
                "Invalid Request: a message is a JSON object",
            ));
        }
    };
    let id = match message.get("id") {
        None => Value::Null,
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        Some(_) => {
            return Err(error(
                &Value::Null,
                INVALID_REQUEST,
                "Invalid Request: id must be a string or a number",
            ));
        }
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(error(
            &id,
            INVALID_REQUEST,
            "Invalid Request: jsonrpc must be \"2.0\"",
        ));
    }
    let is_response = message.contains_key("result") || message.contains_key("error");
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        if is_response && message.contains_key("id") {
            return Ok(());
        }
        return Err(error(
            &id,
            INVALID_REQUEST,
            "Invalid Request: method must be a string",
        ));
    };
    if method != "tools/call" {
        return Ok(());
    }
    let Some(Value::Object(params)) = message.get("params") else {
        return Err(error(
            &id,
            INVALID_PARAMS,
            "Invalid params: tools/call needs params, an object",
        ));
    };
    match params.get("arguments") {
        None | Some(Value::Object(_)) => {}
        Some(_) => {
            return Err(error(
                &id,
                INVALID_PARAMS,
                "Invalid params: arguments must be an object",
            ));
        }
    }
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Err(error(
            &id,
            INVALID_PARAMS,
            "Invalid params: name must be a tool's name",
        ));
    };
    if !TOOLS.router.has_route(name) {
        let shown: String = name.chars().take(64).collect();
        return Err(error(
            &id,
            INVALID_PARAMS,
            &format!("Invalid params: unknown tool {shown:?}"),
        ));
    }
    Ok(())
}

/// The transport's own rejections (wrong method, `Accept` or content type,
/// a body that is not JSON-RPC) come as plain text; they leave in the API's
/// JSON error shape like every other error, with the transport's message.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message: String = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request rejected")
            .to_owned()
    } else {
        text.chars().take(300).collect()
    };
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        s if s.is_server_error() => {
            ApiError::internal(format!("MCP transport answered {s}: {message}"))
        }
        _ => ApiError::InvalidParameter {
            parameter: None,
            message,
        },
    };
    let mut out = error.into_response();
    if status.is_client_error() {
        *out.status_mut() = status;
    }
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

#[derive(Clone)]
struct McpServer {
    /// The catalog routes, called in-process.
    routes: Router,
}

fn object_schema(parameters: &[Value], required: &[&str]) -> Arc<Map<String, Value>> {
    let mut properties = Map::new();
    for p in parameters {
        let mut schema = p["schema"].clone();
        if let (Some(s), Some(d)) = (schema.as_object_mut(), p["description"].as_str()) {
            s.insert("description".into(), d.into());
        }
        if let Some(name) = p["name"].as_str() {
            properties.insert(name.to_owned(), schema);
        }
    }
    let schema = json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

/// The route a tool calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// `/plans`
    Plans,
    /// `/plans/{packageCode}`
    Plan,
    /// `/countries`
    Countries,
    /// `/trips`
    Trips,
}

/// The tool table: rmcp's router, and the tools in the order they are
/// listed (the router keeps them by name).
struct Toolbox {
    router: ToolRouter<McpServer>,
    listed: Vec<Tool>,
}

/// The four tools: name, description, input schema (from the route's own
/// parameter table) and the route each calls; built once.
static TOOLS: LazyLock<Toolbox> = LazyLock::new(|| {
    let code = json!({"name": "packageCode", "description": "The plan's packageCode, as in search results.",
                      "schema": {"type": "string", "minLength": 1}});
    let get_plan = [code, openapi::ref_param(), openapi::currency_param()];
    let places = [openapi::lang_param(), openapi::currency_param()];
    let tools = [
        tool(
            Target::Plans,
            "search_plans",
            "Search eSIM plans: filter by countries (all must be covered), data, days, price, speed, operator and text; sorted and paged. Answers like GET /plans. Prices in USD.",
            object_schema(&openapi::plans_parameters(), &[]),
        ),
        tool(
            Target::Plan,
            "get_plan",
            "One eSIM plan by packageCode, with its buy link. Answers like GET /plans/{packageCode}.",
            object_schema(&get_plan, &["packageCode"]),
        ),
        tool(
            Target::Countries,
            "list_countries",
            "Every country the catalog covers, with its plan count and lowest price (USD), named in lang and priced also in currency when given. Answers like GET /countries.",
            object_schema(&places, &[]),
        ),
        tool(
            Target::Trips,
            "plan_trip",
            "The cheapest ways to cover a multi-country trip (stops in order, e.g. FR:3,DE:4,IT:7) with one to max_esims eSIMs; each option lists its legs and plans. Answers like GET /trips. Prices in USD.",
            object_schema(&openapi::trips_parameters(), &["stops"]),
        ),
    ];
    Toolbox {
        listed: tools.iter().map(|t| t.attr.clone()).collect(),
        router: tools
            .into_iter()
            .fold(ToolRouter::new(), ToolRouter::with_route),
    }
});

/// A tool that calls `target` with its arguments.
fn tool(
    target: Target,
    name: &'static str,
    description: &'static str,
    schema: Arc<JsonObject>,
) -> ToolRoute<McpServer> {
    ToolRoute::new_dyn(
        Tool::new(name, description, schema),
        move |context: ToolCallContext<'_, McpServer>| {
            Box::pin(async move {
                let arguments = context.arguments.unwrap_or_default();
                Ok(context
                    .service
                    .call(target, name, &arguments, &context.request_context)
                    .await)
            })
        },
    )
}

/// Whether `tool` takes a `ref` (its route puts it into product links), as
/// its input schema says.
fn takes_ref(tool: &str) -> bool {
    accepted_arguments(tool).contains(&"ref")
}

/// A tool error in the API's error shape.
fn tool_error(body: ErrorBody) -> CallToolResult {
    let body = serde_json::to_value(body).unwrap_or(Value::Null);
    let mut result = CallToolResult::error(vec![ContentBlock::text(body.to_string())]);
    result.structured_content = Some(body);
    result
}

/// A JSON argument as it would be written in a query string.
fn query_value(name: &str, value: &Value) -> Result<Option<String>, ApiError> {
    let invalid = |what: &str| {
        Err(ApiError::InvalidParameter {
            parameter: Some(name.to_owned()),
            message: format!("{name} must be {what}"),
        })
    };
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        // `country: ["DE", "FR"]` and `stops: [{"country": "FR", "days": 3}]`.
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => parts.push(s.clone()),
                    Value::Object(o) if name == "stops" => {
                        match (o.get("country"), o.get("days")) {
                            (Some(Value::String(c)), Some(d)) if d.is_u64() => {
                                parts.push(format!("{c}:{d}"))
                            }
                            _ => return invalid("CC:DAYS pairs or {country, days} objects"),
                        }
                    }
                    _ => return invalid("a string or a list of strings"),
                }
            }
            parts.join(",")
        }
        Value::Object(_) => return invalid("a string or a number, not an object"),
    }))
}

/// The argument names `tool`'s input schema declares.
fn accepted_arguments(tool: &str) -> Vec<&'static str> {
    TOOLS
        .router
        .get(tool)
        .and_then(|t| t.input_schema.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// The route path and query a tool call stands for.
fn request_path(
    target: Target,
    tool: &str,
    arguments: &Map<String, Value>,
    url_ref: Option<String>,
) -> Result<String, ApiError> {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let mut path = match target {
        Target::Plans => "/plans".to_owned(),
        Target::Countries => "/countries".to_owned(),
        Target::Trips => "/trips".to_owned(),
        Target::Plan => {
            let code = match arguments.get("packageCode") {
                Some(Value::String(c)) if !c.is_empty() => c.clone(),
                _ => {
                    return Err(ApiError::InvalidParameter {
                        parameter: Some("packageCode".into()),
                        message: "packageCode is required: a plan's packageCode".into(),
                    });
                }
            };
            let encoded: String = url::form_urlencoded::byte_serialize(code.as_bytes()).collect();
            format!("/plans/{}", encoded.replace('+', "%20"))
        }
    };
    let accepted = accepted_arguments(tool);
    if let Some(unknown) = arguments.keys().find(|k| !accepted.contains(&k.as_str())) {
        let shown: String = unknown.chars().take(64).collect();
        return Err(ApiError::UnknownParameter {
            message: format!(
                "unknown argument {shown:?}; {tool} accepts: {}",
                accepted.join(", ")
            ),
            parameter: shown,
        });
    }
    let mut has_ref = false;
    for (name, value) in arguments {
        if target == Target::Plan && name == "packageCode" {
            continue;
        }
        match query_value(name, value) {
            Ok(Some(v)) => {
                has_ref |= name == "ref";
                query.append_pair(name, &v);
            }
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
    // The URL's ref is for the tools whose routes take one (`/countries`
    // has no product links and takes no parameters).
    if let (false, true, Some(r)) = (has_ref, takes_ref(tool), url_ref) {
        query.append_pair("ref", &r);
    }
    let query = query.finish();
    if !query.is_empty() {
        path = format!("{path}?{query}");
    }
    Ok(path)
}

/// Adds `subid=mcp` to every `clickUrl` in a tool's answer (SPEC section
/// 10); whether there was one.
fn tag_click_urls(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut tagged = false;
            for (key, item) in map.iter_mut() {
                match item {
                    Value::String(url) if key == "clickUrl" => {
                        url.push(if url.contains('?') { '&' } else { '?' });
                        url.push_str("subid=mcp");
                        tagged = true;
                    }
                    other => tagged |= tag_click_urls(other),
                }
            }
            tagged
        }
        Value::Array(items) => items.iter_mut().fold(false, |t, i| tag_click_urls(i) | t),
        _ => false,
    }
}

impl McpServer {
    /// Calls `target` in-process; the route's answer is the tool's, its
    /// error the route's own [`ErrorBody`].
    async fn call(
        &self,
        target: Target,
        tool: &str,
        arguments: &JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let parts = context.extensions.get::<axum::http::request::Parts>();
        // The MCP URL's `ref` applies unless the tool call names its own.
        let url_ref = parts.and_then(|p| p.uri.query()).and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "ref")
                .map(|(_, v)| v.into_owned())
        });
        let path = match request_path(target, tool, arguments, url_ref) {
            Ok(path) => path,
            Err(e) => return tool_error(e.body()),
        };
        let mut request = axum::http::Request::get(&path);
        if let Some(origin) = parts.and_then(|p| p.headers.get(header::ORIGIN)) {
            request = request.header(header::ORIGIN, origin);
        }
        let Ok(request) = request.body(Body::empty()) else {
            return tool_error(
                ApiError::InvalidParameter {
                    parameter: None,
                    message: "the arguments do not form a valid request".into(),
                }
                .body(),
            );
        };
        let response = match self.routes.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if let Some(error) = response.extensions().get::<ErrorBody>() {
            return tool_error(error.clone());
        }
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20).await;
        let (true, Ok(bytes)) = (status == StatusCode::OK, bytes) else {
            tracing::error!(%status, tool, "a tool's route failed without an API error");
            return tool_error(ApiError::internal("the route's answer was unreadable").body());
        };
        let mut body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        // Links an assistant hands out are counted as the assistant's.
        let text = if tag_click_urls(&mut body) {
            body.to_string()
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(body);
        result
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerInfo {
        ServerInfo::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "cmg-feed-proxy",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(TOOLS.listed.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        TOOLS.router.get(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        TOOLS
            .router
            .call(ToolCallContext::new(self, request, context))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_schemas_come_from_the_route_parameters() {
        let names: Vec<&str> = TOOLS.listed.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names,
            ["search_plans", "get_plan", "list_countries", "plan_trip"]
        );
        let props = |name: &str| -> Vec<String> {
            TOOLS.router.get(name).unwrap().input_schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        let mut plans = crate::query::PLAN_PARAMETERS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>();
        plans.sort();
        let mut got = props("search_plans");
        got.sort();
        assert_eq!(got, plans);
        let mut trips = crate::trips::TRIP_PARAMETERS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>();
        trips.sort();
        let mut got = props("plan_trip");
        got.sort();
        assert_eq!(got, trips);
        assert_eq!(props("get_plan"), ["packageCode", "ref", "currency"]);
        assert_eq!(props("list_countries"), ["lang", "currency"]);
    }

    #[test]
    fn arguments_become_query_values() {
        assert_eq!(
            query_value("limit", &json!(5)).ok().flatten().as_deref(),
            Some("5")
        );
        assert_eq!(
            query_value("country", &json!(["DE", "FR"]))
                .ok()
                .flatten()
                .as_deref(),
            Some("DE,FR")
        );
        assert_eq!(
            query_value("stops", &json!([{"country": "FR", "days": 3}, "DE:4"]))
                .ok()
                .flatten()
                .as_deref(),
            Some("FR:3,DE:4")
        );
        assert!(query_value("q", &json!({"a": 1})).is_err());
        assert_eq!(query_value("q", &Value::Null).ok().flatten(), None);
    }
}
