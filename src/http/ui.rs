//! `GET /` (the plan finder page) and `GET /widget.js` (the embeddable widget).
//! Both are static files compiled into the binary; the page uses the widget.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::routes::Routes;

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const WIDGET_JS: &str = include_str!("../../assets/widget.js");

pub(super) fn routes() -> Routes {
    Routes::new()
        .get("/", ui_index)
        .get("/widget.js", ui_widget)
        .map_router(|r| r.route_layer(super::edge::compression()))
}

/// The page loads only its own script and talks only to this service; feed
/// text is never HTML, and the policy makes sure nothing else could run.
const INDEX_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

async fn ui_index() -> Response {
    let mut response = asset("text/html; charset=utf-8", INDEX_HTML);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(INDEX_CSP),
    );
    response
}

async fn ui_widget() -> Response {
    asset("text/javascript; charset=utf-8", WIDGET_JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}
