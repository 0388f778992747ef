//! A minimal HTTP/1.1 client over a std `TcpStream`, enough for the ledger tools' few JSON
//! calls: one request per connection (`Connection: close`), a body sent with
//! `Content-Length`, the answer read to the end (capped) and decoded by [`parse_response`].
//! No new dependency, no TLS, no redirects.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a read or write may make no progress.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read; the ledger API's answers are a few hundred bytes.
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

/// An answer: its status code and its body as text (invalid UTF-8 replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    /// The body as JSON.
    ///
    /// # Errors
    /// A one-line reason when it is not JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.body).map_err(|e| format!("the answer is not JSON ({e})"))
    }

    /// The `error` field of a JSON error body, or else the body itself, on one line.
    pub fn error_text(&self) -> String {
        let from_json = self.json().ok().and_then(|v| {
            v.get("error")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        });
        let text = from_json.unwrap_or_else(|| self.body.trim().to_owned());
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("talking to {addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr} did not answer in HTTP: {why}")]
    Malformed { addr: SocketAddr, why: String },
}

/// `GET path`.
///
/// # Errors
/// [`HttpError`] when nothing usable came back; any status code is an `Ok`.
pub fn get(addr: SocketAddr, path: &str) -> Result<Response, HttpError> {
    request(addr, "GET", path, None)
}

/// `POST path` with a JSON body.
///
/// # Errors
/// As [`get`].
pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> Result<Response, HttpError> {
    request(addr, "POST", path, Some(body))
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Response, HttpError> {
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|source| HttpError::Connect { addr, source })?;
    let io = |source| HttpError::Io { addr, source };
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Accept: application/json\r\nUser-Agent: pos-lottery/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(io)?;
    if let Some(body) = body {
        stream.write_all(body.as_bytes()).map_err(io)?;
    }
    stream.flush().map_err(io)?;
    let mut raw = Vec::new();
    (&mut stream)
        .take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(io)?;
    if raw.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(HttpError::Malformed {
            addr,
            why: format!("the answer is over {MAX_RESPONSE_BYTES} bytes"),
        });
    }
    parse_response(&raw).map_err(|why| HttpError::Malformed { addr, why })
}

/// Decodes a whole HTTP/1.x answer read to the end of the connection: the status line, the
/// headers, and the body by `Transfer-Encoding: chunked`, by `Content-Length` (extra bytes
/// dropped), or else up to the end.
///
/// # Errors
/// A one-line reason: no status line, no end of headers, a short or malformed body.
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = find(raw, b"\r\n\r\n").ok_or("the headers never end")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line.split(' ').collect::<Vec<_>>()[..] {
        [version, code, ..] if version.starts_with("HTTP/1.") => code.parse::<u16>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("a Content-Length of {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = if chunked {
        decode_chunked(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or_else(|| format!("the body ended after {} of {n} bytes", rest.len()))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn decode_chunked(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or("a chunk size line never ends")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("a chunk size of {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("the body ended inside a chunk")?;
        body.extend_from_slice(chunk);
        rest = rest
            .get(size..)
            .and_then(|r| r.strip_prefix(b"\r\n"))
            .ok_or("a chunk does not end with CRLF")?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_body_by_content_length() {
        let raw = b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"id\":\"x\"}\nextra";
        assert_eq!(
            parse_response(raw),
            Ok(Response {
                status: 202,
                body: "{\"id\":\"x\"}\n".into()
            })
        );
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert!(parse_response(short).unwrap_err().contains("3 of 10"));
    }

    #[test]
    fn reads_a_chunked_body_and_one_read_to_the_end() {
        let raw = b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"er\r\na;x=1\r\nror\":\"no\"}\r\n0\r\n\r\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.body, "{\"error\":\"no\"}");
        assert_eq!(r.error_text(), "no");
        let r = parse_response(b"HTTP/1.0 404 Not Found\r\n\r\nno such\npage\n").unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.error_text(), "no such page");
    }

    #[test]
    fn refuses_what_is_not_http() {
        for raw in [
            &b""[..],
            b"hello\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        ] {
            assert!(
                parse_response(raw).is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
