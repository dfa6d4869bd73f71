//! The browser harness against a page of our own: real Chromium fills in a form and sends
//! it, and the answer is read as a user would see it.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::Query;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use lockstep_testenv::{Browser, free_port, need};

const FORM: &str = r#"<!doctype html><title>Greeter</title>
<form action="/greet" method="get">
  <input id="name" name="name" placeholder="Your name">
  <button id="send" type="submit">Greet</button>
</form>"#;

/// Greets the name sent, as HTML, and remembers it in a cookie only HTTP can read.
async fn greet(Query(query): Query<HashMap<String, String>>) -> impl IntoResponse {
    let name = query.get("name").map_or("", String::as_str);
    let escaped = name.replace('&', "&amp;").replace('<', "&lt;");
    (
        [(header::SET_COOKIE, "greeted=yes; HttpOnly; Path=/")],
        Html(format!(
            r#"<!doctype html><title>Greeted</title><p id="result">Hello, {escaped}!</p>"#
        )),
    )
}

#[tokio::test]
async fn chromium_fills_in_and_sends_a_form() {
    let browser = need!(Browser::start().await);
    let port = free_port().unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let app = axum::Router::new()
        .route("/", get(|| async { Html(FORM) }))
        .route("/greet", get(greet));
    tokio::spawn(async move { axum::serve(listener, app).await });

    browser
        .goto(&format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    let input = browser.find("#name").await.unwrap();
    assert_eq!(
        input.attribute("placeholder").await.unwrap().as_deref(),
        Some("Your name")
    );
    assert_eq!(input.attribute("required").await.unwrap(), None);
    input.send_keys("Ada <Lovelace>").await.unwrap();
    browser.find("#send").await.unwrap().click().await.unwrap();

    browser
        .wait_until_text("#result", "Hello, Ada <Lovelace>!", Duration::from_secs(10))
        .await
        .unwrap();
    let url = browser.url().await.unwrap();
    assert!(url.contains("/greet?name=Ada+%3CLovelace%3E"), "{url}");
    assert!(
        browser
            .source()
            .await
            .unwrap()
            .contains("Hello, Ada &lt;Lovelace&gt;!")
    );
    assert_eq!(browser.find_all("p").await.unwrap().len(), 1);
    let title = browser
        .execute(
            "return document.title + arguments[0]",
            &[serde_json::json!("!")],
        )
        .await
        .unwrap();
    assert_eq!(title, "Greeted!");
    let cookies = browser.cookies().await.unwrap();
    assert!(
        cookies
            .iter()
            .any(|c| c["name"] == "greeted" && c["value"] == "yes" && c["httpOnly"] == true),
        "{cookies:?}"
    );

    let waited = browser
        .wait_until_text("#result", "Goodbye", Duration::from_millis(300))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        waited.contains(r#"its text is "Hello, Ada <Lovelace>!""#),
        "{waited}"
    );
    let missing = browser
        .wait_for("#nothing", Duration::from_millis(300))
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("/greet?name="), "{missing}");

    let shot = browser.screenshot("greeted").await.unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", shot.display());
}
