//! A small real HTTP receiver for webhook tests, on a TCP port of its own: it reads each
//! request (head and `Content-Length` body), keeps it, and answers with the next scripted
//! status (then 200), closing the connection.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// A scripted answer: status and extra headers.
type Answer = (u16, Vec<(String, String)>);

#[derive(Clone)]
pub struct Receiver {
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let r = Receiver {
            port,
            requests: Arc::default(),
            script: Arc::default(),
        };
        let s = r.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = s.serve(socket).await;
                });
            }
        });
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next requests get these statuses (with these headers), in order.
    pub fn answer(&self, status: u16, headers: &[(&str, &str)]) {
        self.script.lock().expect("lock").push_back((
            status,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }

    async fn serve(&self, mut socket: tokio::net::TcpStream) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let method = first.next().unwrap_or_default().to_string();
        let path = first.next().unwrap_or_default().to_string();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < len {
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        self.requests.lock().expect("lock").push(Request {
            method,
            path,
            headers,
            body,
        });
        let (status, extra) = self
            .script
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or((200, Vec::new()));
        let mut resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n");
        for (k, v) in extra {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        resp.push_str("\r\nok");
        socket.write_all(resp.as_bytes()).await?;
        socket.shutdown().await
    }
}
