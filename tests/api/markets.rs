//! Markets (SPEC section 12): scope, region and unlimited filters against an
//! independent oracle over a feed of edge countries, `/regions`, display
//! currencies from a fake reference-rates server (good, failing, garbage),
//! names in several languages, `q` in every script, and the exports read
//! back by a CSV reader and a JSON-lines reader.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

/// Continents by hand, from the SPEC's own words (Türkiye, Cyprus and the
/// Caucasus are Asia, Russia and Kosovo Europe); `QZ` is a code no one places.
fn continent(code: &str) -> Option<&'static str> {
    Some(match code {
        "TR" | "CY" | "GE" | "AM" | "AZ" | "JP" => "asia",
        "RU" | "XK" | "DE" | "FR" => "europe",
        "EG" => "africa",
        "PA" | "US" => "americas",
        "AU" => "oceania",
        _ => return None,
    })
}

/// Plans over edge countries: (code, countries, GB, price).
const PLANS: &[(&str, &[&str], f64, f64)] = &[
    ("L-TR", &["TR"], 1.0, 3.5),
    ("L-CY", &["CY"], 2.0, 4.0),
    ("L-RU", &["RU"], 3.0, 5.0),
    ("L-GE", &["GE"], 1.0, 2.5),
    ("L-EG", &["EG"], 5.0, 6.0),
    ("L-PA", &["PA"], 1.0, 4.5),
    ("L-XK", &["XK"], 1.0, 3.0),
    ("L-QZ", &["QZ"], 1.0, 9.0),
    ("L-DE", &["DE"], 10.0, 19.81),
    ("U-DE", &["DE"], 0.0, 25.0),
    ("U-JP", &["JP"], 0.0, 4.5),
    ("R-EU", &["DE", "FR", "XK"], 5.0, 12.0),
    ("R-EUTR", &["DE", "TR"], 5.0, 11.0),
    ("R-CAU", &["GE", "AM", "AZ"], 3.0, 8.0),
    ("R-RUTR", &["RU", "TR"], 3.0, 7.0),
    ("R-DEQZ", &["DE", "QZ"], 3.0, 7.5),
    ("G-3", &["DE", "EG", "PA"], 10.0, 30.0),
    ("G-4", &["US", "AU", "JP", "FR"], 0.0, 50.0),
];

fn edge_feed() -> Vec<u8> {
    let plans: Vec<Value> = PLANS
        .iter()
        .map(|(code, countries, gb, price)| plan(code, countries, *gb, 30, *price))
        .collect();
    feed(&plans)
}

fn oracle_scope(countries: &[&str]) -> &'static str {
    let continents: BTreeSet<&str> = countries.iter().filter_map(|c| continent(c)).collect();
    match (countries.len(), continents.len()) {
        (1, _) => "local",
        (_, n) if n >= 3 => "global",
        _ => "regional",
    }
}

fn oracle_region(countries: &[&str]) -> Option<&'static str> {
    let first = continent(countries[0])?;
    countries
        .iter()
        .all(|c| continent(c) == Some(first))
        .then_some(first)
}

async fn codes(app: &TestApp, query: &str) -> BTreeSet<String> {
    let (status, body) = app.get_json(&format!("/plans?limit=500&{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["packageCode"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn scope_region_and_unlimited_match_the_oracle() {
    let app = spawn_ready(edge_feed(), &[]).await;
    let (_, page) = app.get_json("/plans?limit=500").await;
    for plan in page["plans"].as_array().unwrap() {
        let code = plan["packageCode"].as_str().unwrap();
        let (_, countries, ..) = PLANS.iter().find(|p| p.0 == code).unwrap();
        assert_eq!(plan["scope"], oracle_scope(countries), "{code}");
    }
    let scopes = [None, Some("local"), Some("regional"), Some("global")];
    let regions = [
        None,
        Some("africa"),
        Some("americas"),
        Some("asia"),
        Some("europe"),
        Some("oceania"),
    ];
    for scope in scopes {
        for region in regions {
            for unlimited in [None, Some(true), Some(false)] {
                let mut query = Vec::new();
                if let Some(s) = scope {
                    query.push(format!("scope={s}"));
                }
                if let Some(r) = region {
                    query.push(format!("region={r}"));
                }
                if let Some(u) = unlimited {
                    query.push(format!("unlimited={u}"));
                }
                let query = query.join("&");
                let expected: BTreeSet<String> = PLANS
                    .iter()
                    .filter(|(_, countries, gb, _)| {
                        scope.is_none_or(|s| oracle_scope(countries) == s)
                            && region.is_none_or(|r| oracle_region(countries) == Some(r))
                            && unlimited.is_none_or(|u| (*gb == 0.0) == u)
                    })
                    .map(|p| p.0.to_owned())
                    .collect();
                assert_eq!(codes(&app, &query).await, expected, "{query}");
            }
        }
    }
    for bad in ["scope=continental", "region=antarctica", "unlimited=yes"] {
        let (status, body) = app.get_json(&format!("/plans?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
        let parameter = bad.split('=').next().unwrap();
        assert_eq!(
            error_of(&body),
            ("invalid_parameter".into(), Some(parameter.into()))
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn regions_count_plans_wholly_inside_each_continent() {
    let app = spawn_ready(edge_feed(), &[]).await;
    let (status, body) = app.get_json("/regions").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["catalog"]["version"].is_u64(), "the catalog envelope");
    let mut expected: BTreeMap<&str, (usize, BTreeSet<&str>, f64)> = BTreeMap::new();
    for (_, countries, _, price) in PLANS {
        if let Some(region) = oracle_region(countries) {
            let entry = expected
                .entry(region)
                .or_insert((0, BTreeSet::new(), f64::INFINITY));
            entry.0 += 1;
            entry.1.extend(countries.iter().copied());
            entry.2 = entry.2.min(*price);
        }
    }
    let rows = body["regions"].as_array().unwrap();
    let got: Vec<&str> = rows.iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(got, expected.keys().copied().collect::<Vec<_>>());
    for row in rows {
        let (count, countries, min) = &expected[row["code"].as_str().unwrap()];
        assert_eq!(row["planCount"], *count, "{row}");
        assert_eq!(row["countries"], countries.len(), "{row}");
        assert_eq!(row["minPrice"].as_f64(), Some(*min), "{row}");
    }
    assert_eq!(rows[0]["name"], "Africa");
    let (_, german) = app.get_json("/regions?lang=de").await;
    let names: Vec<&str> = german["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Afrika", "Amerika", "Asien", "Europa"],
        "no plan lies wholly in Oceania"
    );
    app.stop().await;
}

const ECB: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
  <Cube><Cube time='2026-12-01'>
    <Cube currency='USD' rate='1.1590'/>
    <Cube currency='JPY' rate='180.07'/>
    <Cube currency='GBP' rate='0.87713'/>
  </Cube></Cube>
</gesmes:Envelope>"#;

/// The app on the edge feed with rates from `rates`, refreshed every second.
async fn with_rates(rates: &FakeUpstream, extra: &[&str]) -> TestApp {
    let url = format!("--rates-url={}", rates.url);
    let mut args = vec![url.as_str(), "--rates-interval=1s"];
    args.extend_from_slice(extra);
    spawn_ready(edge_feed(), &args).await
}

async fn display(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get_json(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn wait_for_rates(app: &TestApp, date: &str) {
    for _ in 0..100 {
        let (status, body) = app.get_json("/plans/L-DE?currency=EUR").await;
        if status == 200 && body["display"]["rateDate"] == date {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("rates of {date} never arrived");
}

#[tokio::test]
async fn display_prices_are_converted_and_rounded_by_hand() {
    let rates = FakeUpstream::start(Reply::Json(ECB.as_bytes().to_vec())).await;
    let app = with_rates(&rates, &[]).await;
    wait_for_rates(&app, "2026-12-01").await;

    // 19.81 USD / 1.1590 = 17.0923… EUR; per GB over 10 GB: 1.709.
    let plan = display(&app, "/plans/L-DE?currency=eur").await;
    assert_eq!(
        plan["display"],
        serde_json::json!({"currency": "EUR", "retailPrice": 17.09, "pricePerGb": 1.709,
                           "approximate": true, "rateDate": "2026-12-01"})
    );
    assert_eq!(plan["retailPrice"], 19.81, "USD stays");
    // 19.81 * 0.87713 / 1.1590 = 14.9920… GBP.
    let plan = display(&app, "/plans/L-DE?currency=GBP").await;
    assert_eq!(plan["display"]["retailPrice"], 14.99);
    // 4.5 * 180.07 / 1.1590 = 699.149… JPY, no minor unit; unlimited: null per GB.
    let plan = display(&app, "/plans/U-JP?currency=JPY").await;
    assert_eq!(plan["display"]["retailPrice"], 699);
    assert_eq!(plan["display"]["pricePerGb"], Value::Null);
    let plan = display(&app, "/plans/L-DE?currency=usd").await;
    assert_eq!(
        plan["display"],
        serde_json::json!({"currency": "USD", "retailPrice": 19.81, "pricePerGb": 1.981,
                           "approximate": false, "rateDate": null})
    );
    // Pages, trips, countries and regions carry display amounts too.
    let page = display(&app, "/plans?country=DE&currency=EUR&limit=500").await;
    assert!(
        page["plans"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["display"]["currency"] == "EUR")
    );
    let trip = display(&app, "/trips?stops=DE:3,TR:3&currency=GBP").await;
    let option = &trip["options"][0];
    let legs: f64 = option["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let usd = l["plan"]["retailPrice"].as_f64().unwrap();
            (usd * 0.87713 / 1.1590 * 100.0).round() / 100.0
        })
        .sum();
    assert_eq!(option["display"]["currency"], "GBP");
    assert!(
        (option["display"]["totalPrice"].as_f64().unwrap() - legs).abs() < 1e-9,
        "{trip}"
    );
    let countries = display(&app, "/countries?currency=EUR").await;
    let de = countries["countries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "DE")
        .unwrap()
        .clone();
    // The cheapest German plan: R-DEQZ at 7.5 USD = 6.4711… EUR.
    assert_eq!(de["display"]["minPrice"], 6.47, "{de}");
    let regions = display(&app, "/regions?currency=JPY").await;
    assert!(
        regions["regions"][0]["display"]["minPrice"].is_u64(),
        "{regions}"
    );

    // A currency the rates do not list, and one that is no currency at all.
    for bad in ["ARS", "XYZ", "EURO", ""] {
        let (status, body) = app.get_json(&format!("/plans?currency={bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(
            error_of(&body),
            ("invalid_parameter".into(), Some("currency".into()))
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn rates_are_kept_across_failures_and_garbage_and_the_etag_follows_their_date() {
    let rates = FakeUpstream::start(Reply::Status(503, "down")).await;
    let app = with_rates(&rates, &[]).await;
    // Before any rates: 503 rates_unavailable, but USD needs none.
    let (status, body) = app.get_json("/plans?currency=EUR").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_of(&body).0, "rates_unavailable");
    assert_eq!(app.get_json("/plans?currency=USD").await.0, 200);
    assert!(!app.metrics().await.contains("cmg_rates_age_seconds"));

    rates.set(Reply::Json(ECB.as_bytes().to_vec()));
    wait_for_rates(&app, "2026-12-01").await;
    // The age counts from the rates' day (2026-12-01T00:00:00Z).
    let age: u64 = app
        .metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("cmg_rates_age_seconds "))
        .and_then(|v| v.parse().ok())
        .expect("cmg_rates_age_seconds once rates are in force");
    let day = std::time::UNIX_EPOCH + Duration::from_secs(1_796_083_200);
    let expected = std::time::SystemTime::now()
        .duration_since(day)
        .unwrap()
        .as_secs();
    assert!(age.abs_diff(expected) <= 2, "{age} vs {expected}");
    let etag = |r: &reqwest::Response| r.headers()["etag"].to_str().unwrap().to_owned();
    let first = etag(&app.get("/plans?currency=EUR").await);
    assert_ne!(
        first,
        etag(&app.get("/plans").await),
        "the currency is in the ETag"
    );

    // Garbage, an error page, and rates without USD: the old rates stay.
    for bad in [
        Reply::Json(b"<html>maintenance</html>".to_vec()),
        Reply::Json(b"{\"rates\":{\"EUR\":1}}".to_vec()),
        Reply::Json(ECB.replace("USD", "CHF").into_bytes()),
        Reply::Status(500, "boom"),
    ] {
        rates.set(bad);
        let seen = rates.hits();
        app.wait_for(|_| rates.hits() > seen).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let plan = display(&app, "/plans/L-DE?currency=EUR").await;
        assert_eq!(plan["display"]["retailPrice"], 17.09);
        assert_eq!(plan["display"]["rateDate"], "2026-12-01");
    }

    // New rates of a later day: new amounts, and a new ETag.
    let later = ECB
        .replace("2026-12-01", "2026-12-02")
        .replace("1.1590", "1.2000");
    rates.set(Reply::Json(later.into_bytes()));
    wait_for_rates(&app, "2026-12-02").await;
    let plan = display(&app, "/plans/L-DE?currency=EUR").await;
    // 19.81 / 1.2 = 16.508…
    assert_eq!(plan["display"]["retailPrice"], 16.51);
    assert_ne!(first, etag(&app.get("/plans?currency=EUR").await));
    app.stop().await;
}

#[tokio::test]
async fn rates_survive_a_restart_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!(
        "--database-url=sqlite:{}",
        dir.path().join("h.db").display()
    );
    let rates = FakeUpstream::start(Reply::Json(ECB.as_bytes().to_vec())).await;
    let app = with_rates(&rates, &[&database]).await;
    wait_for_rates(&app, "2026-12-01").await;
    app.stop().await;

    rates.set(Reply::Status(503, "down"));
    let app = with_rates(&rates, &[&database]).await;
    let plan = display(&app, "/plans/L-DE?currency=EUR").await;
    assert_eq!(
        plan["display"]["rateDate"], "2026-12-01",
        "restored before any fetch"
    );
    app.stop().await;
}

#[tokio::test]
async fn country_names_come_from_cldr_in_the_language_asked() {
    let app = spawn_ready(edge_feed(), &[]).await;
    let name_of = |body: &Value, code: &str| -> String {
        body["countries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == code)
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (_, feed_names) = app.get_json("/countries").await;
    assert_eq!(
        name_of(&feed_names, "DE"),
        "Land DE",
        "the feed's name without lang"
    );
    for (lang, de, tr) in [
        ("en", "Germany", "Türkiye"),
        ("de", "Deutschland", "Türkei"),
        ("de-AT", "Deutschland", "Türkei"),
        ("fr", "Allemagne", "Turquie"),
        ("es", "Alemania", "Turquía"),
        ("pt-BR", "Alemanha", "Turquia"),
        ("nl", "Duitsland", "Turkije"),
        ("pl", "Niemcy", "Turcja"),
        ("sv", "Tyskland", "Turkiet"),
        ("tr", "Almanya", "Türkiye"),
        ("ja", "ドイツ", "トルコ"),
        ("ko", "독일", "튀르키예"),
        ("zh-Hant-TW", "德国", "土耳其"),
        ("ar", "ألمانيا", "تركيا"),
        ("fi", "Germany", "Türkiye"),
    ] {
        let (status, body) = app.get_json(&format!("/countries?lang={lang}")).await;
        assert_eq!(status, 200, "{lang}");
        assert_eq!(name_of(&body, "DE"), de, "{lang}");
        assert_eq!(name_of(&body, "TR"), tr, "{lang}");
        assert_eq!(
            name_of(&body, "QZ"),
            "Land QZ",
            "{lang}: no CLDR name, the feed's"
        );
    }
    let (_, german) = app.get_json("/countries?lang=de").await;
    let names: Vec<&str> = german["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        &names[..3],
        ["Ägypten", "Armenien", "Aserbaidschan"],
        "sorted by the German name"
    );
    let (status, body) = app.get_json("/countries?lang=%3Cscript%3E").await;
    assert_eq!(status, 400);
    assert_eq!(
        error_of(&body),
        ("invalid_parameter".into(), Some("lang".into()))
    );
    app.stop().await;
}

#[tokio::test]
async fn q_finds_countries_by_name_in_every_language_and_script() {
    let app = spawn_ready(edge_feed(), &[]).await;
    let germany: BTreeSet<String> = PLANS
        .iter()
        .filter(|p| p.1.contains(&"DE"))
        .map(|p| p.0.to_owned())
        .collect();
    for q in [
        "Deutschland",
        "Allemagne",
        "Alemania",
        "Germania",
        "Alemanha",
        "Duitsland",
        "Niemcy",
        "Tyskland",
        "Almanya",
        "ドイツ",
        "독일",
        "德国",
        "ألمانيا",
        "germany",
        "DEUTSCHLAND",
    ] {
        let query = format!("q={}", urlencode(q));
        assert_eq!(codes(&app, &query).await, germany, "q={q}");
    }
    let turkey: BTreeSet<String> = PLANS
        .iter()
        .filter(|p| p.1.contains(&"TR"))
        .map(|p| p.0.to_owned())
        .collect();
    for q in [
        "turkiye",
        "Türkiye",
        "TÜRKIYE",
        "Turquía",
        "turquia",
        "トルコ",
        "Turkey",
    ] {
        let query = format!("q={}", urlencode(q));
        assert_eq!(codes(&app, &query).await, turkey, "q={q}");
    }
    app.stop().await;
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn exports_read_back_equal_to_plans_with_the_same_filters() {
    let rates = FakeUpstream::start(Reply::Json(ECB.as_bytes().to_vec())).await;
    let app = with_rates(&rates, &["--public-url=https://plans.example"]).await;
    wait_for_rates(&app, "2026-12-01").await;
    for filters in [
        "",
        "country=DE&sort=-price",
        "scope=regional&currency=EUR&ref=shop-1",
        "region=asia&sort=name&currency=JPY",
        "unlimited=true&q=land",
    ] {
        let (_, page) = app.get_json(&format!("/plans?limit=500&{filters}")).await;
        let plans = page["plans"].as_array().unwrap();

        let response = app.get(&format!("/export/plans.ndjson?{filters}")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
        assert!(
            response.headers()["etag"]
                .to_str()
                .unwrap()
                .starts_with("W/")
        );
        let text = response.text().await.unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(&lines, plans, "ndjson {filters}");

        let response = app
            .get(&format!("/export/plans.csv?{filters}&lang=de"))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/csv; charset=utf-8"
        );
        assert!(
            response.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        let bytes = response.bytes().await.unwrap();
        assert!(bytes.ends_with(b"\r\n"), "records end in CRLF");
        let mut reader = csv::Reader::from_reader(&bytes[..]);
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            header.join(","),
            "packageCode,name,productUrl,clickUrl,countries,countryNames,dataGb,days,speed,operator,priceUsd,pricePerGbUsd,scope,displayCurrency,displayPrice"
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), plans.len(), "csv {filters}");
        for (row, plan) in rows.iter().zip(plans) {
            let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
            let number = |v: &Value| v.as_f64().map(|n| n.to_string()).unwrap_or_default();
            let list = |v: &Value| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
                    .join("|")
            };
            assert_eq!(row[0], text(&plan["packageCode"]));
            assert_eq!(row[1], text(&plan["name"]));
            assert_eq!(row[2], text(&plan["productUrl"]));
            assert_eq!(row[3], text(&plan["clickUrl"]));
            assert_eq!(row[4], list(&plan["locationCodes"]));
            assert_eq!(row[6], number(&plan["dataAmount"]));
            assert_eq!(row[7], number(&plan["duration"]));
            assert_eq!(row[8], text(&plan["speed"]));
            assert_eq!(row[9], text(&plan["operator"]));
            assert_eq!(row[10], number(&plan["retailPrice"]));
            assert_eq!(row[11], number(&plan["pricePerGb"]));
            assert_eq!(row[12], text(&plan["scope"]));
            assert_eq!(row[13], text(&plan["display"]["currency"]));
            assert_eq!(row[14], number(&plan["display"]["retailPrice"]));
            if row[4].starts_with("DE") {
                assert!(
                    row[5].starts_with("Deutschland"),
                    "countryNames in lang: {row:?}"
                );
            }
        }
    }
    // A page's parameters are not an export's; a validator answers 304.
    let (status, body) = app.get_json("/export/plans.csv?limit=5").await;
    assert_eq!(status, 400);
    assert_eq!(
        error_of(&body),
        ("unknown_parameter".into(), Some("limit".into()))
    );
    let response = app.get("/export/plans.csv?country=DE").await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .get_with("/export/plans.csv?country=DE", "if-none-match", &etag)
        .await;
    assert_eq!(again.status(), 304);
    // Compressed exports decode to the same bytes.
    let raw = raw_client();
    for path in ["/export/plans.csv?lang=de", "/export/plans.ndjson"] {
        let plain = app.get(path).await.bytes().await.unwrap();
        for encoding in ["gzip", "br"] {
            let response = raw
                .get(format!("{}{path}", app.address))
                .header("Accept-Encoding", encoding)
                .send()
                .await
                .unwrap();
            assert_eq!(response.headers()["content-encoding"], encoding, "{path}");
            let decoded = decompress(encoding, &response.bytes().await.unwrap());
            assert_eq!(decoded, plain, "{path} in {encoding}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn rates_survive_a_restart_beside_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = format!(
        "--snapshot-path={}",
        dir.path().join("catalog.json").display()
    );
    let rates = FakeUpstream::start(Reply::Json(ECB.as_bytes().to_vec())).await;
    let app = with_rates(&rates, &[&snapshot]).await;
    wait_for_rates(&app, "2026-12-01").await;
    // Kept in the database, then beside the snapshot, after they are in force.
    let kept = dir.path().join("catalog.json.rates.json");
    app.wait_for(|_| kept.exists()).await;
    app.stop().await;

    // A new in-memory database has none: the file beside the snapshot has them.
    rates.set(Reply::Json(b"garbage".to_vec()));
    let app = with_rates(&rates, &[&snapshot]).await;
    let plan = display(&app, "/plans/L-DE?currency=EUR").await;
    assert_eq!(plan["display"]["rateDate"], "2026-12-01");
    app.stop().await;
}

#[tokio::test]
async fn without_rates_only_usd_is_shown() {
    // The helpers start every app with RATES_URL=none unless told otherwise.
    let app = spawn_ready(edge_feed(), &[]).await;
    let (status, body) = app.get_json("/plans?currency=EUR").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        error_of(&body),
        ("invalid_parameter".into(), Some("currency".into()))
    );
    let plan = display(&app, "/plans/L-DE?currency=USD").await;
    assert_eq!(plan["display"]["approximate"], false);
    app.stop().await;
}
