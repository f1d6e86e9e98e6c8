//! The OpenAPI 3.1 document of every route, built from the same constants the
//! handlers use (parameter names, sort keys, error codes), so it cannot drift
//! silently; a test holds the documented routes equal to
//! [`served_routes`](super::served_routes), the list the router is built from.

use serde_json::{Value, json};

use super::ApiError;
use crate::catalog::Outcome;
use crate::catalog::SortKey;
use crate::query::{DEFAULT_LIMIT, MAX_LIMIT};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn number_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
           "schema": {"type": "number", "minimum": 0}})
}

fn integer_param(name: &str, description: &str, min: u64, max: u64) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
           "schema": {"type": "integer", "minimum": min, "maximum": max}})
}

fn speed_param(description: &str) -> Value {
    json!({"name": "speed", "in": "query", "required": false, "description": description,
           "schema": {"type": "string", "maxLength": 32, "pattern": "^[ \\t/,|]*[A-Za-z0-9+.]+([ \\t/,|]+[A-Za-z0-9+.]+)*[ \\t/,|]*$", "example": "5G"}})
}

/// The query parameters of `/plans`, one entry per name in
/// [`PLAN_PARAMETERS`](crate::query::PLAN_PARAMETERS) (a test holds them
/// equal). The MCP tool `search_plans` takes its input schema from here too.
pub fn plans_parameters() -> Vec<Value> {
    let sort_keys: Vec<&str> = SortKey::ALL.iter().map(|k| k.as_str()).collect();
    vec![
        json!({"name": "country", "in": "query", "required": false,
         "description": "One or more ISO 3166-1 alpha-2 codes, comma-separated, any case; plans must cover all of them.",
         "schema": {"type": "string", "pattern": "^\\s*[A-Za-z]{2}\\s*(,\\s*[A-Za-z]{2}\\s*)*$", "example": "DE,FR"}}),
        number_param("min_gb", "Inclusive lower bound on dataAmount (GB)."),
        number_param("max_gb", "Inclusive upper bound on dataAmount (GB)."),
        integer_param(
            "min_days",
            "Inclusive lower bound on duration (days).",
            0,
            u64::from(u32::MAX),
        ),
        integer_param(
            "max_days",
            "Inclusive upper bound on duration (days).",
            0,
            u64::from(u32::MAX),
        ),
        number_param("min_price", "Inclusive lower bound on retailPrice (USD)."),
        number_param("max_price", "Inclusive upper bound on retailPrice (USD)."),
        speed_param("A network generation such as 5G: plans whose speed lists it."),
        json!({"name": "operator", "in": "query", "required": false,
         "description": "Case-insensitive substring of operator.",
         "schema": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"}}),
        json!({"name": "q", "in": "query", "required": false,
         "description": "Case-insensitive text match: the phrase occurs in the name, the operator or one of the location names.",
         "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"}}),
        json!({"name": "sort", "in": "query", "required": false,
         "description": "Sort order; ties are broken by ascending packageCode.",
         "schema": {"type": "string", "enum": sort_keys, "default": "price"}}),
        json!({"name": "limit", "in": "query", "required": false, "description": "Page size.",
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}}),
        json!({"name": "offset", "in": "query", "required": false, "description": "Matches to skip.",
         "schema": {"type": "integer", "minimum": 0, "maximum": u32::MAX, "default": 0}}),
        ref_param(),
        json!({"name": "scope", "in": "query", "required": false,
         "description": "local (one country), regional, or global (countries of three or more continents).",
         "schema": {"type": "string", "enum": ["local", "regional", "global"]}}),
        json!({"name": "region", "in": "query", "required": false,
         "description": "A continent (UN M49, from CLDR): plans all of whose countries lie in it.",
         "schema": {"type": "string", "enum": ["africa", "americas", "asia", "europe", "oceania"]}}),
        json!({"name": "unlimited", "in": "query", "required": false,
         "description": "true: only unlimited plans (dataAmount 0); false: none of them.",
         "schema": {"type": "boolean"}}),
        currency_param(),
    ]
}

/// The parameters of the exports: those of `/plans` but `limit` and
/// `offset`, plus `lang`.
fn export_parameters() -> Vec<Value> {
    let mut params: Vec<Value> = plans_parameters()
        .into_iter()
        .filter(|p| !matches!(p["name"].as_str(), Some("limit" | "offset")))
        .collect();
    params.push(lang_param());
    params
}

/// `currency`: display prices beside the USD ones (section 12).
pub(crate) fn currency_param() -> Value {
    json!({"name": "currency", "in": "query", "required": false,
           "description": "ISO 4217 code (any case): every USD amount also shown converted, in a display object, at the latest reference rates. USD needs no rates; a currency the rates do not list is invalid_parameter; before any rates, 503 rates_unavailable.",
           "schema": {"type": "string", "pattern": "^[A-Za-z]{3}$", "example": "EUR"}})
}

/// `lang`: country and region names from CLDR in that language.
pub(crate) fn lang_param() -> Value {
    json!({"name": "lang", "in": "query", "required": false,
           "description": "BCP 47 language tag (de, pt-BR, zh-Hans): names in that language from CLDR, sorted by it; an unsupported one falls back to its language, then to en. Served: en, de, fr, es, it, pt, nl, pl, sv, tr, ja, ko, zh, ar.",
           "schema": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$", "example": "de"}})
}

/// The query parameters of `/trips`, one per name in
/// [`TRIP_PARAMETERS`](crate::trips::TRIP_PARAMETERS); also the MCP tool
/// `plan_trip`'s input schema.
pub fn trips_parameters() -> Vec<Value> {
    use crate::trips::{DEFAULT_ESIMS, DEFAULT_OPTIONS, MAX_ESIMS, MAX_OPTIONS};
    vec![
        json!({"name": "stops", "in": "query", "required": true,
         "description": "The itinerary in order: CC:DAYS pairs, comma-separated (FR:3,DE:4,IT:7); ISO alpha-2 codes in any case, DAYS an integer 1-365; 1-10 stops, at most 365 days in all; a country may come back.",
         "schema": {"type": "string", "pattern": "^\\s*[A-Za-z]{2}\\s*:\\s*(36[0-5]|3[0-5][0-9]|[12][0-9]{2}|[1-9][0-9]?)\\s*(,\\s*[A-Za-z]{2}\\s*:\\s*(36[0-5]|3[0-5][0-9]|[12][0-9]{2}|[1-9][0-9]?)\\s*){0,9}$", "example": "FR:3,DE:4,IT:7"}}),
        number_param("gb_per_day", "Data needed per day (GB), default 0."),
        json!({"name": "max_esims", "in": "query", "required": false, "description": "The most eSIMs one option may use.",
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ESIMS, "default": DEFAULT_ESIMS}}),
        speed_param("A network generation such as 5G: every plan of an option lists it."),
        json!({"name": "limit", "in": "query", "required": false, "description": "Options returned.",
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_OPTIONS, "default": DEFAULT_OPTIONS}}),
        ref_param(),
        currency_param(),
    ]
}

pub(crate) fn ref_param() -> Value {
    json!({"name": "ref", "in": "query", "required": false,
           "description": "Partner referral code set as the `ref` parameter of every productUrl. 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit. With a partner registry, it must belong to a partner.",
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"}})
}

/// `/go`'s parameters: the ref, then labels that are never refused.
fn go_parameters() -> Vec<Value> {
    let mut params = vec![
        json!({"name": "packageCode", "in": "path", "required": true, "schema": {"type": "string"}}),
        ref_param(),
    ];
    for label in crate::clicks::LABELS {
        params.push(json!({"name": label, "in": "query", "required": false,
            "description": "A tracking label, 1-64 of A-Z a-z 0-9 . _ -; a malformed one is recorded as absent (the redirect still happens).",
            "schema": {"type": "string"}}));
    }
    params
}

fn json_ok(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "headers": {
            "ETag": {"schema": {"type": "string"}},
            "Cache-Control": {"schema": {"type": "string"}}
        },
        "content": {"application/json": {"schema": schema}}
    })
}

fn catalog_errors() -> Value {
    json!({
        "304": {"description": "Not modified (If-None-Match matched the ETag)."},
        "400": error_response("invalid_parameter, unknown_parameter or unknown_ref; `parameter` names the offending query parameter."),
        "429": error_response("rate_limited, with Retry-After."),
        "503": error_response("catalog_unavailable before the first catalog loads; rates_unavailable when a display currency is asked for before any exchange rates; both with Retry-After.")
    })
}

/// A streamed export's success answer.
fn export_ok(content_type: &str, description: &str) -> Value {
    json!({
        "description": description,
        "headers": {
            "ETag": {"schema": {"type": "string"}},
            "Cache-Control": {"schema": {"type": "string"}},
            "Content-Disposition": {"schema": {"type": "string"}}
        },
        "content": {content_type: {"schema": {"type": "string"}}}
    })
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// The document; the admin routes are listed only when `ADMIN_TOKEN` enables them.
pub fn document(admin: bool) -> Value {
    let mut doc = full_document();
    if !admin {
        if let Some(paths) = doc["paths"].as_object_mut() {
            paths.remove("/admin/refresh");
            paths.remove("/admin/clicks");
            paths.remove("/admin/webhooks");
            paths.remove("/admin/webhooks/{id}/retry");
        }
    }
    doc
}

/// The parameters `/admin/clicks` and `/partner/clicks` share.
fn report_parameters(admin: bool) -> Vec<Value> {
    let names = &crate::clicks::report::GroupBy::NAMES;
    let group_by: Vec<&str> = if admin {
        names.to_vec()
    } else {
        names[..names.len() - 1].to_vec()
    };
    let date = |name: &str, description: &str| {
        json!({"name": name, "in": "query", "required": false, "description": description,
        "schema": {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}})
    };
    let mut params = vec![
        date(
            "from",
            "First UTC date, inclusive (default: 29 days before to).",
        ),
        date(
            "to",
            "Last UTC date, inclusive (default: today). At most 400 dates from from.",
        ),
        json!({"name": "group_by", "in": "query", "required": false, "schema": {"type": "string", "enum": group_by, "default": "day"}}),
        json!({"name": "bots", "in": "query", "required": false, "description": "Include bot and prefetch clicks.", "schema": {"type": "boolean", "default": false}}),
        json!({"name": "format", "in": "query", "required": false, "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"}}),
    ];
    if admin {
        params.push(json!({"name": "partner", "in": "query", "required": false, "description": "Only this partner's clicks (a registry id).",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}}));
    }
    params
}

fn report_responses(not_found: bool) -> Value {
    let mut responses = json!({
        "200": {"description": "The report.", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ClickReport"}},
            "text/csv": {"schema": {"type": "string", "description": "key,clicks,visitors and one line per row."}}
        }},
        "400": error_response("invalid_parameter (a bad date, to before from, over 400 dates, an unknown group_by) or unknown_parameter."),
        "401": error_response("unauthorized: missing or wrong bearer token."),
        "429": error_response("rate_limited, with Retry-After."),
        "503": error_response("history_unavailable: the database cannot answer; or overloaded. Retry-After.")
    });
    if not_found {
        responses["404"] = error_response("not_found: ADMIN_TOKEN is not set.");
    }
    responses
}

fn full_document() -> Value {
    // An admin refresh can end any way a sync can (never "snapshot").
    let outcomes: Vec<&str> = Outcome::ALL
        .iter()
        .filter(|o| **o != Outcome::Snapshot)
        .map(|o| o.as_str())
        .collect();
    let plans_params = Value::Array(plans_parameters());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cmg-feed-proxy",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Cached, filtered, per-partner views of the ConnectMeGuru eSIM plan feed. Every error is {\"error\": {\"code\", \"message\", \"parameter\"?}}; unknown routes answer 404 not_found and wrong methods 405 method_not_allowed."
        },
        "paths": {
            "/plans": {"get": {
                "operationId": "plans_list", "summary": "Filtered, sorted, paged plans.",
                "parameters": plans_params,
                "responses": merge(json!({"200": json_ok("A page of plans.", json!({"$ref": "#/components/schemas/PlanPage"}))}), catalog_errors())
            }},
            "/plans/{packageCode}": {"get": {
                "operationId": "plans_show", "summary": "One plan.",
                "parameters": [
                    {"name": "packageCode", "in": "path", "required": true, "schema": {"type": "string"}},
                    ref_param(),
                    currency_param()
                ],
                "responses": merge(json!({
                    "200": json_ok("The plan.", json!({"$ref": "#/components/schemas/PlanWithPricePerGb"})),
                    "404": error_response("not_found: no plan has this packageCode.")
                }), catalog_errors())
            }},
            "/trips": {"get": {
                "operationId": "trips_quote", "summary": "The cheapest ways to cover a multi-country itinerary with 1 to max_esims eSIMs.",
                "parameters": trips_parameters(),
                "responses": merge(json!({"200": json_ok("Trip options.", json!({"$ref": "#/components/schemas/TripQuote"}))}), catalog_errors())
            }},
            "/changes": {"get": {
                "operationId": "changes_list", "summary": "What changed in the catalog after a version, oldest version first.",
                "parameters": [
                    {"name": "since", "in": "query", "required": false, "description": "A version number: changes after it (required unless cursor).", "schema": {"type": "integer", "minimum": 0, "maximum": i64::MAX}},
                    {"name": "cursor", "in": "query", "required": false, "description": "The next value of a previous page, instead of since.", "schema": {"type": "string", "pattern": "^([0-9a-f]{2})+$"}},
                    {"name": "limit", "in": "query", "required": false, "description": "Changes per page.", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 500}}
                ],
                "responses": merge(json!({
                    "200": json_ok("A page of changes.", json!({"$ref": "#/components/schemas/Changes"})),
                    "410": error_response("history_expired: since is older than the history kept (HISTORY_RETENTION).")
                }), catalog_errors())
            }},
            "/changes.atom": {"get": {
                "operationId": "changes_atom", "summary": "The last 50 catalog versions as an Atom 1.0 feed, newest first.",
                "parameters": [
                    {"name": "country", "in": "query", "required": false, "description": "Only versions that changed a plan covering all of these (ISO alpha-2, comma-separated); counts cover those plans only.", "schema": {"type": "string", "pattern": "^\\s*[A-Za-z]{2}\\s*(,\\s*[A-Za-z]{2}\\s*)*$", "example": "DE,FR"}},
                    ref_param()
                ],
                "responses": merge(json!({"200": {"description": "Atom 1.0 feed.", "content": {"application/atom+xml": {"schema": {"type": "string"}}}}}), catalog_errors())
            }},
            "/plans/{packageCode}/history": {"get": {
                "operationId": "plans_history", "summary": "Every price a plan has had while this service watched it, and the lowest price of the last 30 days.",
                "parameters": [{"name": "packageCode", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": merge(json!({
                    "200": json_ok("Price history.", json!({"$ref": "#/components/schemas/PriceHistory"})),
                    "404": error_response("not_found: no plan with this packageCode was ever seen.")
                }), catalog_errors())
            }},
            "/countries": {"get": {
                "operationId": "countries_list", "summary": "Every covered country, by name.",
                "parameters": [lang_param(), currency_param()],
                "responses": merge(json!({"200": json_ok("Countries.", json!({"type": "object", "required": ["countries", "catalog"], "properties": {
                    "countries": {"type": "array", "items": {"$ref": "#/components/schemas/Country"}},
                    "catalog": {"$ref": "#/components/schemas/CatalogInfo"}}}))}), catalog_errors())
            }},
            "/regions": {"get": {
                "operationId": "regions_list", "summary": "Every continent with a plan all of whose countries lie in it.",
                "parameters": [lang_param(), currency_param()],
                "responses": merge(json!({"200": json_ok("Regions.", json!({"type": "object", "required": ["regions", "catalog"], "properties": {
                    "regions": {"type": "array", "items": {"$ref": "#/components/schemas/Region"}},
                    "catalog": {"$ref": "#/components/schemas/CatalogInfo"}}}))}), catalog_errors())
            }},
            "/export/plans.csv": {"get": {
                "operationId": "export_csv", "summary": "Every plan matching the /plans filters as CSV (RFC 4180, UTF-8, header row, CRLF), streamed.",
                "parameters": export_parameters(),
                "responses": merge(json!({"200": export_ok("text/csv", "packageCode,name,productUrl,clickUrl,countries,countryNames,dataGb,days,speed,operator,priceUsd,pricePerGbUsd,scope,displayCurrency,displayPrice; lists joined by |.")}), catalog_errors())
            }},
            "/export/plans.ndjson": {"get": {
                "operationId": "export_ndjson", "summary": "Every plan matching the /plans filters, one JSON object per line as on /plans, streamed.",
                "parameters": export_parameters(),
                "responses": merge(json!({"200": export_ok("application/x-ndjson", "One plan per line.")}), catalog_errors())
            }},
            "/api/products/aggregator": {"get": {
                "operationId": "aggregator_mirror",
                "summary": "Drop-in mirror of the upstream feed shape; no key needed (a key parameter is ignored and never forwarded).",
                "parameters": [ref_param(), {"name": "key", "in": "query", "required": false, "description": "Ignored.", "schema": {"type": "string"}}],
                "responses": merge(json!({"200": json_ok("The whole catalog in the upstream shape.", json!({"$ref": "#/components/schemas/Feed"}))}), catalog_errors())
            }},
            "/healthz": {"get": {
                "operationId": "health_live", "summary": "Liveness: 200 while the process serves.",
                "responses": {"200": {"description": "Alive.", "content": {"application/json": {"schema": {"type": "object", "properties": {"status": {"type": "string"}}}}}}}
            }},
            "/readyz": {"get": {
                "operationId": "health_ready", "summary": "Readiness: 200 once a catalog is loaded (fresh or snapshot).",
                "responses": {
                    "200": {"description": "Ready.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}},
                    "503": {"description": "No catalog yet; Retry-After.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}}
                }
            }},
            "/metrics": {"get": {
                "operationId": "metrics_show", "summary": "Prometheus metrics.",
                "responses": {"200": {"description": "Prometheus text format.", "content": {"text/plain": {"schema": {"type": "string"}}}}}
            }},
            "/openapi.json": {"get": {
                "operationId": "openapi_show", "summary": "This document.",
                "responses": {"200": {"description": "OpenAPI 3.1 document.", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }},
            "/": {"get": {
                "operationId": "ui_index", "summary": "The plan finder page.",
                "responses": {"200": {"description": "HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}}
            }},
            "/widget.js": {"get": {
                "operationId": "ui_widget", "summary": "The embeddable plan finder widget.",
                "responses": {"200": {"description": "JavaScript.", "content": {"text/javascript": {"schema": {"type": "string"}}}}}
            }},
            "/go/{packageCode}": {"get": {
                "operationId": "go_redirect",
                "summary": "The Buy link: 302 to the plan's productUrl with the ref, recording a click (section 10).",
                "parameters": go_parameters(),
                "responses": {
                    "302": {"description": "To the plan's own productUrl, carrying the ref; Cache-Control: no-store.",
                            "headers": {"Location": {"required": true, "schema": {"type": "string", "format": "uri"}}}},
                    "400": error_response("invalid_parameter (a malformed ref) or unknown_ref (a ref no partner owns)."),
                    "404": {"description": "not_found: the plan is not in the catalog (an HTML page when Accept prefers text/html).", "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
                        "text/html": {"schema": {"type": "string"}}
                    }},
                    "429": error_response("rate_limited, with Retry-After."),
                    "503": error_response("catalog_unavailable or overloaded, with Retry-After.")
                }
            }},
            "/admin/clicks": {"get": {
                "operationId": "admin_clicks", "summary": "Click report over every partner.",
                "security": [{"bearer": []}],
                "parameters": report_parameters(true),
                "responses": report_responses(true)
            }},
            "/partner/clicks": {"get": {
                "operationId": "partner_clicks", "summary": "A partner's own click report (Bearer: the partner's token).",
                "security": [{"bearer": []}],
                "parameters": report_parameters(false),
                "responses": report_responses(false)
            }},
            "/admin/webhooks": {"get": {
                "operationId": "admin_webhooks", "summary": "Webhook endpoints with message counts, and the last 100 messages.",
                "security": [{"bearer": []}],
                "responses": {
                    "200": {"description": "Endpoints and messages.", "content": {"application/json": {"schema": {"type": "object", "required": ["endpoints", "messages"], "properties": {
                        "endpoints": {"type": "array", "items": {"type": "object"}},
                        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookMessage"}}
                    }}}}},
                    "400": error_response("unknown_parameter: this route takes none."),
                    "401": error_response("unauthorized: missing or wrong bearer token."),
                    "404": error_response("not_found: ADMIN_TOKEN is not set."),
                    "429": error_response("rate_limited, with Retry-After."),
                    "503": error_response("history_unavailable: the database cannot answer; Retry-After.")
                }
            }},
            "/admin/webhooks/{id}/retry": {"post": {
                "operationId": "admin_webhook_retry", "summary": "Send a pending or failed webhook message again now; answers after the attempt.",
                "security": [{"bearer": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The message after the attempt.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookMessage"}}}},
                    "400": error_response("unknown_parameter: this route takes none."),
                    "401": error_response("unauthorized: missing or wrong bearer token."),
                    "404": error_response("not_found: no such message, or ADMIN_TOKEN is not set."),
                    "429": error_response("rate_limited, with Retry-After."),
                    "503": error_response("overloaded: an attempt holds the message; or history_unavailable. Retry-After.")
                }
            }},
            "/admin/refresh": {"post": {
                "operationId": "admin_refresh", "summary": "Sync with upstream now (joins a sync in flight).",
                "security": [{"bearer": []}],
                "parameters": [{"name": "accept_shrink", "in": "query", "required": false,
                                "description": "Take the feed even if it lost more plans than FEED_MAX_SHRINK allows.",
                                "schema": {"type": "boolean"}}],
                "responses": {
                    "200": {"description": "The sync's outcome.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SyncReport"}}}},
                    "400": error_response("invalid_parameter (accept_shrink is not a boolean, or given twice) or unknown_parameter."),
                    "401": error_response("unauthorized: missing or wrong bearer token."),
                    "404": error_response("not_found: ADMIN_TOKEN is not set."),
                    "429": error_response("rate_limited, with Retry-After."),
                    "503": error_response("overloaded: the sync task is not running or the server is shedding load; retry later.")
                }
            }}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Plan": {
                    "type": "object",
                    "required": ["name", "packageCode", "productUrl", "dataAmount", "duration", "locationCodes", "locationNames", "operator", "speed", "retailPrice"],
                    "properties": {
                        "name": {"type": "string"},
                        "packageCode": {"type": "string"},
                        "productUrl": {"type": "string", "format": "uri", "description": "With ?ref=CODE when a ref applies; without any ref otherwise."},
                        "dataAmount": {"type": "number", "description": "GB; 0 for unlimited."},
                        "duration": {"type": "integer", "description": "Days."},
                        "locationCodes": {"type": "array", "items": {"type": "string"}},
                        "locationNames": {"type": "array", "items": {"type": "string"}},
                        "operator": {"type": "string"},
                        "speed": {"type": "string"},
                        "retailPrice": {"type": "number", "description": "USD."}
                    }
                },
                "PlanWithPricePerGb": {"allOf": [
                    {"$ref": "#/components/schemas/Plan"},
                    {"type": "object", "required": ["pricePerGb"], "properties": {
                        "pricePerGb": {"type": ["number", "null"], "description": "retailPrice / dataAmount; null when dataAmount is 0."},
                        "scope": {"type": "string", "enum": ["local", "regional", "global"]},
                        "display": {"$ref": "#/components/schemas/Display"},
                        "clickUrl": {"type": "string", "format": "uri", "description": "PUBLIC_URL/go/CODE?ref=REF, when PUBLIC_URL is set (section 10)."}
                    }}
                ]},
                "WebhookMessage": {"type": "object", "required": ["id", "partner", "type", "status", "attempts", "nextAttemptAt", "lastStatus"], "properties": {
                    "id": {"type": "string"},
                    "partner": {"type": "string"},
                    "type": {"type": "string", "enum": ["catalog.updated", "plan.added", "plan.price_dropped"]},
                    "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                    "attempts": {"type": "integer"},
                    "nextAttemptAt": {"type": ["string", "null"], "format": "date-time"},
                    "lastStatus": {"type": ["integer", "null"]}
                }},
                "ClickReport": {"type": "object", "required": ["from", "to", "groupBy", "rows", "total"], "properties": {
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": "string", "format": "date"},
                    "groupBy": {"type": "string"},
                    "rows": {"type": "array", "items": {"type": "object", "required": ["key", "clicks", "visitors"], "properties": {
                        "key": {"type": ["string", "null"]},
                        "clicks": {"type": "integer"},
                        "visitors": {"type": "integer", "description": "Distinct visitor hashes in the row."}
                    }}},
                    "total": {"type": "object", "required": ["clicks", "visitors"], "properties": {
                        "clicks": {"type": "integer"}, "visitors": {"type": "integer"}
                    }}
                }},
                "CatalogInfo": {"type": "object", "required": ["updatedAt", "stale", "planCount", "version"], "properties": {
                    "updatedAt": {"type": "string", "format": "date-time"},
                    "stale": {"type": "boolean", "description": "True when the last refresh failed, or the catalog came from the snapshot and no sync has succeeded since."},
                    "planCount": {"type": "integer"},
                    "version": {"type": "integer", "description": "The catalog version (section 8)."}
                }},
                "PlanPage": {"type": "object", "required": ["plans", "total", "limit", "offset", "catalog"], "properties": {
                    "plans": {"type": "array", "items": {"$ref": "#/components/schemas/PlanWithPricePerGb"}},
                    "total": {"type": "integer", "description": "All matches, not just this page."},
                    "limit": {"type": "integer"},
                    "offset": {"type": "integer"},
                    "catalog": {"$ref": "#/components/schemas/CatalogInfo"}
                }},
                "TripQuote": {"type": "object", "required": ["stops", "days", "gbPerDay", "options", "uncovered", "catalog"], "properties": {
                    "stops": {"type": "array", "items": {"type": "object", "required": ["country", "days"], "properties": {"country": {"type": "string"}, "days": {"type": "integer"}}}},
                    "days": {"type": "integer"},
                    "gbPerDay": {"type": "number"},
                    "options": {"type": "array", "items": {"type": "object", "required": ["totalPrice", "esims", "legs"], "properties": {
                        "totalPrice": {"type": "number", "description": "Each plan's retailPrice rounded to the cent, summed."},
                        "display": {"$ref": "#/components/schemas/Display"},
                        "esims": {"type": "integer"},
                        "legs": {"type": "array", "items": {"type": "object", "required": ["countries", "days", "plan"], "properties": {
                            "countries": {"type": "array", "items": {"type": "string"}},
                            "days": {"type": "integer"},
                            "plan": {"$ref": "#/components/schemas/PlanWithPricePerGb"}
                        }}}
                    }}},
                    "uncovered": {"type": "array", "items": {"type": "string"}},
                    "catalog": {"$ref": "#/components/schemas/CatalogInfo"}
                }},
                "Changes": {"type": "object", "required": ["since", "version", "changes", "next"], "properties": {
                    "since": {"type": "integer"},
                    "version": {"type": "integer"},
                    "changes": {"type": "array", "items": {"type": "object", "required": ["version", "at", "packageCode", "kind", "fields", "before", "after"], "properties": {
                        "version": {"type": "integer"},
                        "at": {"type": "string", "format": "date-time"},
                        "packageCode": {"type": "string"},
                        "kind": {"type": "string", "enum": ["added", "removed", "updated"]},
                        "fields": {"type": "array", "items": {"type": "string"}},
                        "before": {"oneOf": [{"$ref": "#/components/schemas/Plan"}, {"type": "null"}]},
                        "after": {"oneOf": [{"$ref": "#/components/schemas/Plan"}, {"type": "null"}]}
                    }}},
                    "next": {"type": ["string", "null"]}
                }},
                "PriceHistory": {"type": "object", "required": ["packageCode", "prices", "lowestPrice30d"], "properties": {
                    "packageCode": {"type": "string"},
                    "prices": {"type": "array", "items": {"type": "object", "required": ["price", "from", "to"], "properties": {
                        "price": {"type": "number"},
                        "from": {"type": "string", "format": "date-time"},
                        "to": {"type": ["string", "null"], "format": "date-time"}
                    }}},
                    "lowestPrice30d": {"type": ["number", "null"]}
                }},
                "Country": {"type": "object", "required": ["code", "name", "planCount", "minPrice"], "properties": {
                    "code": {"type": "string"}, "name": {"type": "string"},
                    "planCount": {"type": "integer"}, "minPrice": {"type": "number"},
                    "display": {"$ref": "#/components/schemas/Display"}
                }},
                "Region": {"type": "object", "required": ["code", "name", "countries", "planCount", "minPrice"], "properties": {
                    "code": {"type": "string", "enum": ["africa", "americas", "asia", "europe", "oceania"]},
                    "name": {"type": "string"},
                    "countries": {"type": "integer", "description": "Distinct countries of the plans wholly inside."},
                    "planCount": {"type": "integer"}, "minPrice": {"type": "number"},
                    "display": {"$ref": "#/components/schemas/Display"}
                }},
                "Display": {"type": "object", "required": ["currency", "approximate", "rateDate"], "description": "USD amounts converted at the reference rates of rateDate, rounded to the currency's minor unit (pricePerGb to 4 places).", "properties": {
                    "currency": {"type": "string"},
                    "retailPrice": {"type": "number"},
                    "pricePerGb": {"type": ["number", "null"]},
                    "totalPrice": {"type": "number"},
                    "minPrice": {"type": "number"},
                    "approximate": {"type": "boolean", "description": "false for USD."},
                    "rateDate": {"type": ["string", "null"], "format": "date"}
                }},
                "Feed": {"type": "object", "required": ["success", "aggregator", "plans"], "properties": {
                    "success": {"type": "boolean", "const": true},
                    "aggregator": {"type": "string"},
                    "plans": {"type": "array", "items": {"$ref": "#/components/schemas/Plan"}}
                }},
                "Readiness": {"type": "object", "properties": {
                    "status": {"type": "string"},
                    "planCount": {"type": "integer"},
                    "updatedAt": {"type": ["string", "null"], "format": "date-time"},
                    "role": {"type": "string", "enum": ["leader", "follower", "single"]},
                    "version": {"type": ["integer", "null"]},
                    "stale": {"type": ["boolean", "null"]},
                    "lastRefresh": {"type": ["object", "null"], "properties": {"at": {"type": "string", "format": "date-time"}, "outcome": {"type": "string"}}}
                }},
                "SyncReport": {"type": "object", "properties": {
                    "outcome": {"type": "string", "enum": outcomes},
                    "planCount": {"type": "integer"},
                    "dropped": {"type": "integer"},
                    "message": {"type": "string"}
                }},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string", "enum": ApiError::CODES},
                        "message": {"type": "string"},
                        "parameter": {"type": "string"}
                    }
                }}}
            }
        }
    })
}
