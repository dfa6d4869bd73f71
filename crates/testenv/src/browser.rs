//! Real Chromium, headless, driven through `chromedriver`'s WebDriver API: for end-to-end
//! tests of a web UI as a user's browser sees it, with its JavaScript, forms, redirects and
//! cookies.
//!
//! WebDriver is JSON over HTTP, and the dozen commands tests need are written out here
//! rather than pulling a WebDriver crate and its HTTP stack into every test build. They do
//! not go through [`crate::http::request`], which reads until the server closes the
//! connection: chromedriver answers `Connection: close` but keeps the socket open, so an
//! answer is read up to its `Content-Length`.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::process::{Process, free_port};
use crate::{Error, LogDir, Result, tool};

/// The key of an element reference in WebDriver's JSON (W3C WebDriver, "Elements").
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium's flags: no display, no GPU and no sandbox (tests run as root in containers),
/// `/tmp` rather than a `/dev/shm` that containers keep small, and a fixed window size so
/// that layouts and screenshots do not depend on the machine.
const CHROMIUM_ARGS: [&str; 5] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
];

/// The session's page-load and script timeout, in milliseconds: WebDriver's default page
/// load timeout is five minutes, far longer than a test should hang on a page.
const PAGE_TIMEOUT_MS: u64 = 30_000;

/// The longest one command may take: above [`PAGE_TIMEOUT_MS`], so that WebDriver reports
/// a slow page itself, and short enough that a hung chromedriver fails the test rather than
/// hanging it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How often [`Browser::wait_for`] and [`Browser::wait_until_text`] look again.
const POLL: Duration = Duration::from_millis(100);

/// Headless Chromium in a WebDriver session of its own, with a fresh profile; it quits
/// when dropped.
///
/// Its folder (`LogDir::for_server("chromium")`) holds `chromedriver.log` (with
/// Chromium's own output), the profile and the screenshots, and is kept after the test.
#[derive(Debug)]
pub struct Browser {
    port: u16,
    session: String,
    logs: LogDir,
    // Dropped after `Drop::drop` has ended the session: stops chromedriver and kills
    // whatever is left of Chromium with its process group.
    _driver: Process,
}

/// An element of the page the [`Browser`] showed when it was found. WebDriver answers
/// `stale element reference` once that page is gone: find it again after a navigation.
#[derive(Debug)]
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

/// An error WebDriver answered with (W3C WebDriver, "Errors"): its code, such as
/// `no such element`, and its message.
#[derive(Debug)]
struct Refusal {
    error: String,
    message: String,
}

impl Refusal {
    /// Whether the page went away under the command: the element found belongs to a page
    /// that is gone (`stale element reference`), or a navigation — a form just sent, a
    /// redirect — began while chromedriver was answering (it says `aborted by navigation`,
    /// as its code or at the start of an `unknown error`). Waiting loops look again.
    fn page_changed(&self) -> bool {
        const ABORTED: &str = "aborted by navigation";
        self.error == "stale element reference"
            || self.error == ABORTED
            || self.message.starts_with(ABORTED)
    }

    fn into_error(self, step: impl Into<String>) -> Error {
        Error::Setup {
            step: step.into(),
            detail: self.to_string(),
        }
    }
}

impl std::fmt::Display for Refusal {
    /// The message, after the code unless chromedriver's message starts with it already.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.starts_with(&self.error) {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.error, self.message)
        }
    }
}

impl Browser {
    /// Starts `chromedriver` on a free loopback port, waits until it is ready, and opens a
    /// session in headless Chromium.
    ///
    /// Both programs are looked for in the installer's bin directory, then on `PATH`:
    /// Debian's `chromium` and `chromium-driver` packages put them in `/usr/bin`.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `chromedriver` or `chromium`; [`Error::NotReady`]
    /// when chromedriver does not start or Chromium does not open a session.
    pub async fn start() -> Result<Self> {
        let chromedriver = program("chromedriver")?;
        let chromium = program("chromium")?;
        let logs = LogDir::for_server("chromium")?;
        let port = free_port()?;
        let args = [format!("--port={port}"), "--enable-chrome-logs".to_owned()];
        let mut driver = Process::start("chromedriver", &chromedriver, &args, &[], &logs)?;
        driver
            .wait_ready(Duration::from_secs(30), || async move {
                matches!(call(port, "GET", "/status", None).await,
                    Ok(Ok(status)) if status["ready"] == true)
            })
            .await?;

        let mut chromium_args: Vec<String> = CHROMIUM_ARGS.map(str::to_owned).to_vec();
        chromium_args.push(format!(
            "--user-data-dir={}",
            logs.join("profile").display()
        ));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "timeouts": {"pageLoad": PAGE_TIMEOUT_MS, "script": PAGE_TIMEOUT_MS},
            "goog:chromeOptions": {"binary": chromium, "args": chromium_args},
        }}});
        let not_ready = |reason: String| Error::NotReady {
            server: "chromium".into(),
            reason,
            log: driver.log().to_owned(),
        };
        let created = call(port, "POST", "/session", Some(&capabilities))
            .await?
            .map_err(|refusal| not_ready(refusal.to_string()))?;
        let session = created["sessionId"]
            .as_str()
            .ok_or_else(|| not_ready(format!("no session id in {created}")))?
            .to_owned();
        Ok(Self {
            port,
            session,
            logs,
            _driver: driver,
        })
    }

    /// Opens `url` and waits until it has loaded.
    ///
    /// # Errors
    /// [`Error::Setup`] when WebDriver refuses, e.g. on a page that does not load in 30 s.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.command(
            &format!("opening {url}"),
            "POST",
            "/url",
            Some(&json!({"url": url})),
        )
        .await?;
        Ok(())
    }

    /// The URL of the current page, after any redirects.
    ///
    /// # Errors
    /// [`Error::Setup`] when WebDriver refuses.
    pub async fn url(&self) -> Result<String> {
        let url = self.command("reading the URL", "GET", "/url", None).await?;
        string(url, "reading the URL")
    }

    /// The current page's HTML, as the DOM is now (after scripts ran).
    ///
    /// # Errors
    /// [`Error::Setup`] when WebDriver refuses.
    pub async fn source(&self) -> Result<String> {
        let source = self
            .command("reading the page source", "GET", "/source", None)
            .await?;
        string(source, "reading the page source")
    }

    /// The first element matching the CSS selector `css`, now.
    ///
    /// # Errors
    /// [`Error::Setup`] (`no such element`) when none matches.
    pub async fn find(&self, css: &str) -> Result<Element<'_>> {
        let step = format!("finding `{css}`");
        let found = self
            .command(&step, "POST", "/element", Some(&by_css(css)))
            .await?;
        self.element(&found, &step)
    }

    /// Every element matching the CSS selector `css`, in document order; none is no error.
    ///
    /// # Errors
    /// [`Error::Setup`] when WebDriver refuses, e.g. an invalid selector.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>> {
        let step = format!("finding every `{css}`");
        let found = self
            .command(&step, "POST", "/elements", Some(&by_css(css)))
            .await?;
        let Value::Array(found) = found else {
            return Err(unexpected(&step, &found));
        };
        found.iter().map(|r| self.element(r, &step)).collect()
    }

    /// The first element matching `css`, as soon as there is one, for pages that change
    /// after they load.
    ///
    /// # Errors
    /// [`Error::Setup`] when nothing matches within `timeout` (naming the page it was
    /// looking at), or WebDriver refuses otherwise.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element<'_>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.try_find(css).await? {
                return Ok(element);
            }
            if Instant::now() >= deadline {
                return Err(Error::Setup {
                    step: format!("waiting for `{css}`"),
                    detail: format!(
                        "nothing matched within {timeout:?} on {}",
                        self.page().await
                    ),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until an element matches `css` and its text (as rendered: visible text only)
    /// contains `needle`.
    ///
    /// # Errors
    /// [`Error::Setup`] when that does not happen within `timeout`: the message quotes
    /// the text last seen, or says that nothing matched.
    pub async fn wait_until_text(&self, css: &str, needle: &str, timeout: Duration) -> Result<()> {
        let step = format!("waiting for `{css}` to contain {needle:?}");
        let deadline = Instant::now() + timeout;
        loop {
            let mut seen = None;
            if let Some(element) = self.try_find(css).await? {
                match element.attempt("GET", "/text").await? {
                    Ok(Value::String(text)) if text.contains(needle) => return Ok(()),
                    Ok(text) => seen = Some(text),
                    // The page changed between finding and reading: look again.
                    Err(refusal) if refusal.page_changed() => {}
                    Err(refusal) => return Err(refusal.into_error(step)),
                }
            }
            if Instant::now() >= deadline {
                let detail = match seen {
                    Some(Value::String(text)) => format!("after {timeout:?} its text is {text:?}"),
                    Some(other) => format!("after {timeout:?} its text is {other}"),
                    None => format!("after {timeout:?} nothing matches on {}", self.page().await),
                };
                return Err(Error::Setup { step, detail });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Saves a PNG of the window as `<name>.png` in the browser's folder, next to
    /// chromedriver's log, and returns its path.
    ///
    /// # Errors
    /// [`Error::Setup`] when WebDriver refuses or sends no base64; [`Error::Io`] when the
    /// file cannot be written.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let step = format!("taking screenshot {name}");
        let encoded = self.command(&step, "GET", "/screenshot", None).await?;
        let encoded = string(encoded, &step)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|err| Error::Setup {
                step: step.clone(),
                detail: format!("the screenshot is not base64: {err}"),
            })?;
        let path = self.logs.join(&format!("{name}.png"));
        std::fs::write(&path, png).map_err(Error::io(format!("writing {}", path.display())))?;
        Ok(path)
    }

    /// Runs `script` as the body of a function called with `args` (`arguments[0]`, …) in
    /// the page, and returns what it returns (`null` without a `return`).
    ///
    /// # Errors
    /// [`Error::Setup`] when the script throws or WebDriver refuses.
    pub async fn execute(&self, script: &str, args: &[Value]) -> Result<Value> {
        let body = json!({"script": script, "args": args});
        self.command("running a script", "POST", "/execute/sync", Some(&body))
            .await
    }

    /// The cookies the current page can see, as WebDriver describes them (`name`, `value`,
    /// `domain`, `path`, `secure`, `httpOnly`, `sameSite`, `expiry`), `HttpOnly` ones
    /// included.
    ///
    /// # Errors
    /// [`Error::Setup`] when WebDriver refuses.
    pub async fn cookies(&self) -> Result<Vec<Value>> {
        let step = "reading the cookies";
        match self.command(step, "GET", "/cookie", None).await? {
            Value::Array(cookies) => Ok(cookies),
            other => Err(unexpected(step, &other)),
        }
    }

    /// The first element matching `css`, or `None` when none does (yet: also while the
    /// page is being replaced).
    async fn try_find(&self, css: &str) -> Result<Option<Element<'_>>> {
        let step = format!("finding `{css}`");
        match self.attempt("POST", "/element", Some(&by_css(css))).await? {
            Ok(found) => self.element(&found, &step).map(Some),
            Err(refusal) if refusal.error == "no such element" || refusal.page_changed() => {
                Ok(None)
            }
            Err(refusal) => Err(refusal.into_error(step)),
        }
    }

    /// The current URL for an error message, or why it is unknown.
    async fn page(&self) -> String {
        self.url()
            .await
            .unwrap_or_else(|err| format!("a page whose URL is unknown ({err})"))
    }

    fn element(&self, reference: &Value, step: &str) -> Result<Element<'_>> {
        match reference[ELEMENT].as_str() {
            Some(id) => Ok(Element {
                browser: self,
                id: id.to_owned(),
            }),
            None => Err(unexpected(step, reference)),
        }
    }

    /// A command of this session, WebDriver's refusal turned into [`Error::Setup`] for
    /// `step`.
    async fn command(
        &self,
        step: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        self.attempt(method, path, body)
            .await?
            .map_err(|refusal| refusal.into_error(step))
    }

    /// A command of this session (`path` is below `/session/<id>`), WebDriver's refusal
    /// kept apart for callers that expect some.
    async fn attempt(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Result<Value, Refusal>> {
        let path = format!("/session/{}{path}", self.session);
        call(self.port, method, &path, body).await
    }
}

impl Drop for Browser {
    /// Ends the session, best effort: Chromium then quits and closes its profile. Drop
    /// cannot await, so this is a blocking request; chromedriver answers once Chromium is
    /// gone.
    fn drop(&mut self) {
        let quit = || -> std::io::Result<()> {
            let path = format!("/session/{}", self.session);
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            stream.write_all(request_head(self.port, "DELETE", &path, 0).as_bytes())?;
            // "HTTP/1.1 200": the start of the answer is enough to know Chromium is gone.
            stream.read_exact(&mut [0; 12])
        };
        let _ = quit();
    }
}

impl Element<'_> {
    /// Clicks the element's centre, scrolling it into view first, as a user would.
    ///
    /// # Errors
    /// [`Error::Setup`] when WebDriver refuses, e.g. when another element covers it.
    pub async fn click(&self) -> Result<()> {
        self.command("clicking an element", "POST", "/click", Some(&json!({})))
            .await?;
        Ok(())
    }

    /// Types `text` into the element (focusing it first), after what it holds already.
    ///
    /// # Errors
    /// [`Error::Setup`] when WebDriver refuses, e.g. for an element that takes no input.
    pub async fn send_keys(&self, text: &str) -> Result<()> {
        let body = json!({"text": text});
        self.command("typing into an element", "POST", "/value", Some(&body))
            .await?;
        Ok(())
    }

    /// The element's text as rendered: visible text only, with whitespace as shown.
    ///
    /// # Errors
    /// [`Error::Setup`] when WebDriver refuses.
    pub async fn text(&self) -> Result<String> {
        let text = self
            .command("reading an element's text", "GET", "/text", None)
            .await?;
        string(text, "reading an element's text")
    }

    /// The element's attribute `name` as the HTML has it, `None` when it has none. An
    /// input's `value` attribute stays its initial value; what was typed into it is the
    /// `value` property: `execute("return document.querySelector('…').value", &[])`.
    ///
    /// # Errors
    /// [`Error::Setup`] when WebDriver refuses.
    pub async fn attribute(&self, name: &str) -> Result<Option<String>> {
        let step = format!("reading attribute {name}");
        match self
            .command(&step, "GET", &format!("/attribute/{name}"), None)
            .await?
        {
            Value::Null => Ok(None),
            other => string(other, &step).map(Some),
        }
    }

    /// [`Browser::command`] of this element (`path` is below `/element/<id>`).
    async fn command(
        &self,
        step: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let path = format!("/element/{}{path}", self.id);
        self.browser.command(step, method, &path, body).await
    }

    /// [`Browser::attempt`] of this element.
    async fn attempt(&self, method: &str, path: &str) -> Result<Result<Value, Refusal>> {
        let path = format!("/element/{}{path}", self.id);
        self.browser.attempt(method, &path, None).await
    }
}

/// `name` from the installer's bin directory, else the first on `PATH`.
fn program(name: &str) -> Result<PathBuf> {
    tool(name).or_else(|missing| {
        std::env::var_os("PATH")
            .and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join(name))
                    .find(|candidate| candidate.is_file())
            })
            .ok_or(missing)
    })
}

fn by_css(css: &str) -> Value {
    json!({"using": "css selector", "value": css})
}

fn string(value: Value, step: &str) -> Result<String> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(unexpected(step, &other)),
    }
}

fn unexpected(step: &str, answer: &Value) -> Error {
    Error::Setup {
        step: step.to_owned(),
        detail: format!("unexpected answer from WebDriver: {answer}"),
    }
}

fn request_head(port: u16, method: &str, path: &str, length: usize) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// One WebDriver command to the chromedriver on `port`: `Ok(Ok(value))` is the answer's
/// `value`, `Ok(Err(refusal))` an error WebDriver answered with, `Err` a failure to get
/// an answer at all.
async fn call(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Result<Value, Refusal>> {
    let step = format!("WebDriver {method} {path}");
    let body = body.map(Value::to_string).unwrap_or_default();
    let (status, answer) =
        tokio::time::timeout(COMMAND_TIMEOUT, exchange(port, method, path, &body))
            .await
            .map_err(|_| Error::Setup {
                step: step.clone(),
                detail: format!("no answer within {COMMAND_TIMEOUT:?}"),
            })?
            .map_err(Error::io(step.clone()))?;
    let mut answer: Value = serde_json::from_slice(&answer).map_err(|err| Error::Setup {
        step,
        detail: format!(
            "HTTP {status}, not JSON ({err}): {}",
            String::from_utf8_lossy(&answer)
        ),
    })?;
    let value = answer["value"].take();
    if (200..300).contains(&status) {
        return Ok(Ok(value));
    }
    let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
    Ok(Err(Refusal {
        error: field("error"),
        message: field("message"),
    }))
}

/// Sends one HTTP/1.1 request and reads the answer's status and body, the body up to its
/// `Content-Length` (or to the end of the stream without one).
async fn exchange(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(request_head(port, method, path, body.len()).as_bytes())
        .await?;
    stream.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    let end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let mut chunk = [0; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "chromedriver closed the connection before answering",
            ));
        }
        raw.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut answer = raw.split_off(end + 4);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("malformed HTTP status line"))?;
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            value.trim().parse::<usize>().ok()
        } else {
            None
        }
    });
    match length {
        Some(length) if answer.len() < length => {
            let start = answer.len();
            answer.resize(length, 0);
            stream.read_exact(&mut answer[start..]).await?;
        }
        Some(length) => answer.truncate(length),
        None => {
            stream.read_to_end(&mut answer).await?;
        }
    }
    Ok((status, answer))
}

#[cfg(test)]
mod tests {
    use super::Refusal;

    fn refusal(error: &str, message: &str) -> Refusal {
        Refusal {
            error: error.to_owned(),
            message: message.to_owned(),
        }
    }

    #[test]
    fn a_navigation_under_a_command_is_a_changed_page_and_nothing_else_is() {
        let navigated = "aborted by navigation: Inspected target navigated or closed";
        assert!(refusal("aborted by navigation", navigated).page_changed());
        assert!(refusal("unknown error", navigated).page_changed());
        assert!(refusal("stale element reference", "stale element not found").page_changed());
        assert!(!refusal("no such element", "no such element: Unable to locate").page_changed());
        assert!(!refusal("unknown error", "unknown error: session deleted").page_changed());
    }
}
