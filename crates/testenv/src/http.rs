//! Just enough plain HTTP/1.1 to ask a loopback server whether it is up and to send it a
//! request, without pulling an HTTP client into every test build.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status code and body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body (chunked encoding is not decoded; servers here answer `Connection: close`).
    pub body: String,
}

/// Sends one request to `127.0.0.1:port` and reads the whole response (`Connection: close`).
///
/// # Errors
/// The I/O error, or a malformed status line.
pub async fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("malformed HTTP status line"))?;
    Ok(Response {
        status,
        body: body.to_owned(),
    })
}

/// Whether `GET path` answers with a 2xx status.
pub async fn is_ok(port: u16, path: &str) -> bool {
    matches!(request(port, "GET", path, &[], "").await, Ok(r) if (200..300).contains(&r.status))
}
