//! `GET /` (the plan finder page) and `GET /widget.js` (the embeddable widget).
//! Both are static files compiled into the binary; the page uses the widget.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::AppState;
use super::pages::respond::StaticBody;
use super::routes::Routes;

static INDEX_HTML: LazyLock<StaticBody> = LazyLock::new(|| {
    StaticBody::new(
        include_str!("../../assets/index.html"),
        "text/html; charset=utf-8",
        300,
    )
});
static WIDGET_JS: LazyLock<StaticBody> = LazyLock::new(|| {
    StaticBody::new(
        include_str!("../../assets/widget.js"),
        "text/javascript; charset=utf-8",
        300,
    )
});

/// Made once and compressed at most once per encoding (no on-the-fly
/// compression layer: every storefront page view asks for the widget).
pub(super) fn routes() -> Routes {
    Routes::new()
        .get("/", ui_index)
        .get("/widget.js", ui_widget)
}

/// The page loads only its own script and talks only to this service; feed
/// text is never HTML, and the policy makes sure nothing else could run.
const INDEX_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

async fn ui_index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut response = INDEX_HTML.respond(&state, &headers);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(INDEX_CSP),
    );
    response
}

async fn ui_widget(State(state): State<AppState>, headers: HeaderMap) -> Response {
    WIDGET_JS.respond(&state, &headers)
}
