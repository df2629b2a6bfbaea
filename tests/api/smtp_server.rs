//! A small real SMTP server for the tests, on a TCP port of its own: it speaks the protocol
//! (EHLO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) and keeps what it accepted.
//! Recipients whose local part starts with `busy` get `451` (transient) while `busy` is on;
//! `gone` gets `550` (no such mailbox), `full` gets `552`.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone)]
pub struct SmtpServer {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    busy: Arc<Mutex<bool>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = SmtpServer {
            port,
            received: Arc::default(),
            busy: Arc::new(Mutex::new(true)),
            arrived: Arc::default(),
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = s.session(socket).await;
                });
            }
        });
        server
    }

    pub fn set_busy(&self, busy: bool) {
        *self.busy.lock().expect("lock") = busy;
    }

    /// Returns once at least `n` messages have arrived (or after a minute, which fails the
    /// test that waits).
    pub async fn wait_for(&self, n: usize) {
        let wait = async {
            loop {
                let arrived = self.arrived.notified();
                if self.received.lock().expect("lock").len() >= n {
                    return;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), wait)
            .await
            .expect("messages arrive");
    }

    /// The `Message-ID` header line of every message received, in order of arrival.
    pub fn message_ids(&self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|m| {
                m.data
                    .lines()
                    .find(|l| l.starts_with("Message-ID:"))
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    fn rcpt_reply(&self, address: &str) -> &'static str {
        let local = address.split('@').next().unwrap_or_default();
        if local.starts_with("busy") && *self.busy.lock().expect("lock") {
            "451 4.2.1 Mailbox busy, try again later\r\n"
        } else if local.starts_with("gone") {
            "550 5.1.1 No such user here\r\n"
        } else if local.starts_with("full") {
            "552 5.2.2 Message too large for this mailbox\r\n"
        } else {
            "250 2.1.5 OK\r\n"
        }
    }

    async fn session(&self, socket: tokio::net::TcpStream) -> std::io::Result<()> {
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 test.local ESMTP\r\n").await?;
        let mut to: Vec<String> = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let cmd = line.trim_end().to_ascii_uppercase();
            let reply: String = if cmd.starts_with("EHLO") {
                "250-test.local\r\n250-PIPELINING\r\n250 8BITMIME\r\n".into()
            } else if cmd.starts_with("HELO") || cmd == "RSET" || cmd == "NOOP" {
                to.clear();
                "250 OK\r\n".into()
            } else if cmd.starts_with("MAIL FROM:") {
                to.clear();
                "250 2.1.0 OK\r\n".into()
            } else if cmd.starts_with("RCPT TO:") {
                let address = line.trim_end()[8..]
                    .trim()
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let reply = self.rcpt_reply(&address);
                if reply.starts_with("250") {
                    to.push(address);
                }
                reply.into()
            } else if cmd == "DATA" {
                if to.is_empty() {
                    "554 5.5.1 No valid recipients\r\n".into()
                } else {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let mut data = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await? == 0 {
                            return Ok(());
                        }
                        if line == ".\r\n" || line == ".\n" {
                            break;
                        }
                        data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    }
                    self.received.lock().expect("lock").push(Received {
                        to: std::mem::take(&mut to),
                        data,
                    });
                    self.arrived.notify_waiters();
                    "250 2.0.0 OK queued\r\n".into()
                }
            } else if cmd == "QUIT" {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            } else {
                "502 5.5.2 Command not recognised\r\n".into()
            };
            write.write_all(reply.as_bytes()).await?;
        }
    }
}
