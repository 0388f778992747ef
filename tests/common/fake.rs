//! Tiny fake servers for the client tools to talk to, on their own threads: an HTTP server
//! answering one request per connection, and a line server for one TCP connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::WAIT;

/// One request a fake HTTP server received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The header lines, line ends trimmed.
    pub headers: Vec<String>,
    pub body: String,
}

/// Every request a fake HTTP server received, in order.
pub type Requests = Arc<Mutex<Vec<Request>>>;

/// A fake HTTP server: one request per connection (read timeout [`WAIT`]), answered
/// `(status, JSON body)` by `answer` and kept, then the connection closed.
pub fn serve_http(
    mut answer: impl FnMut(&Request) -> (u16, String) + Send + 'static,
) -> (SocketAddr, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Requests::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            stream.set_read_timeout(Some(WAIT)).unwrap();
            let mut reader = BufReader::new(stream);
            let Some(request) = read_request(&mut reader) else {
                continue;
            };
            let (status, body) = answer(&request);
            log.lock().unwrap().push(request);
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = reader.into_inner().write_all(reply.as_bytes());
        }
    });
    (addr, seen)
}

/// The request line, the headers and a `Content-Length` body; `None` where the client sent
/// no request line.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push(line.trim_end().to_owned()),
        }
    }
    let start = head.first()?;
    let mut words = start.split(' ');
    let method = words.next().unwrap_or_default().to_owned();
    let path = words.next().unwrap_or_default().to_owned();
    let length = head[1..]
        .iter()
        .find_map(|h| {
            let (name, value) = h.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers: head[1..].to_vec(),
        body: String::from_utf8(body).unwrap(),
    })
}

/// A fake line server for one connection: `script` runs on its own thread with the
/// connection (read timeout [`WAIT`]); what it returns comes back through the handle.
pub fn serve_one<T: Send + 'static>(
    script: impl FnOnce(Conn) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        script(Conn::new(stream))
    });
    (addr, handle)
}

/// The server's side of one connection, line by line.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    /// Sends `line` plus `\n`.
    pub fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    /// The next line the client sent, which must end with `\n`.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.ends_with('\n'), "the client sent {line:?}");
        line.trim_end_matches('\n').to_owned()
    }

    /// Closes the server's side, then returns whatever else the client sent before it closed.
    pub fn close(mut self) -> String {
        self.writer.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = String::new();
        self.reader.read_to_string(&mut rest).unwrap();
        rest
    }

    /// Sends the `help` line and `challenge <chain_id> <nonce>`; returns the client's answer
    /// (unchecked).
    pub fn challenge(&mut self, help: &str, chain_id: &str, nonce: &str) -> String {
        self.send(help);
        self.send(&format!("challenge {chain_id} {nonce}"));
        self.line()
    }
}
