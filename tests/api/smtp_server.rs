//! A small real SMTP server for the tests, on a TCP port of its own: it speaks the protocol
//! (EHLO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) and keeps what it accepted.
//! Recipients whose local part starts with `busy` get `451` (transient) while `busy` is on;
//! `gone` gets `550` (no such mailbox), `full` gets `552`.
//!
//! [`SmtpServer::start_tls`] serves TLS with a certificate for `localhost` from a CA of its
//! own (STARTTLS, or implicit TLS from the first byte) and requires `AUTH PLAIN` or
//! `AUTH LOGIN` with one user before it takes mail.

use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
    /// Whether it came over TLS.
    pub tls: bool,
    /// The user who authenticated, if one did.
    pub user: Option<String>,
}

/// How the server offers TLS.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TlsMode {
    StartTls,
    Implicit,
}

#[derive(Clone)]
struct Tls {
    mode: TlsMode,
    acceptor: tokio_rustls::TlsAcceptor,
    /// The only (user, password) accepted.
    login: (String, String),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Clone)]
pub struct SmtpServer {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// With TLS: the PEM of the CA that signed the server's certificate.
    pub ca_pem: Option<String>,
    busy: Arc<Mutex<bool>>,
    arrived: Arc<tokio::sync::Notify>,
    tls: Option<Tls>,
    /// While false, a message's data is kept but its `250` waits.
    open: Arc<tokio::sync::watch::Sender<bool>>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        Self::start_with(None).await
    }

    /// A server with TLS in `mode` that only takes mail from `user` with `password`.
    pub async fn start_tls(mode: TlsMode, user: &str, password: &str) -> SmtpServer {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "abm test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
        let key = rcgen::KeyPair::generate().expect("key");
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .expect("params")
            .signed_by(&key, &ca)
            .expect("certificate");
        abm::install_tls_provider();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server config");
        let mut server = Self::start_with(Some(Tls {
            mode,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            login: (user.into(), password.into()),
        }))
        .await;
        server.ca_pem = Some(ca.pem());
        server
    }

    async fn start_with(tls: Option<Tls>) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = SmtpServer {
            port,
            received: Arc::default(),
            ca_pem: None,
            busy: Arc::new(Mutex::new(true)),
            arrived: Arc::default(),
            tls,
            open: Arc::new(tokio::sync::watch::Sender::new(true)),
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = match &s.tls {
                        Some(t) if t.mode == TlsMode::Implicit => {
                            match t.acceptor.accept(socket).await {
                                Ok(tls) => s.session(Box::new(tls), true).await,
                                Err(_) => Ok(()),
                            }
                        }
                        _ => s.session(Box::new(socket), false).await,
                    };
                });
            }
        });
        server
    }

    /// Holds (false) or gives (true) the `250` that accepts each message's data; what
    /// arrives while held is kept and counted by [`Self::wait_for`].
    pub fn set_open(&self, open: bool) {
        self.open.send_replace(open);
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

    /// One SMTP session on `io` (`secure` once TLS is on); STARTTLS starts a new one over TLS.
    async fn session(&self, io: Box<dyn Io>, secure: bool) -> std::io::Result<()> {
        let mut io = BufReader::new(io);
        if !secure
            || self
                .tls
                .as_ref()
                .is_some_and(|t| t.mode == TlsMode::Implicit)
        {
            io.write_all(b"220 test.local ESMTP\r\n").await?;
        }
        let mut to: Vec<String> = Vec::new();
        let mut user: Option<String> = None;
        let mut line = String::new();
        loop {
            line.clear();
            if io.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let cmd = line.trim_end().to_ascii_uppercase();
            let reply: String = if cmd.starts_with("EHLO") {
                let mut r = String::from("250-test.local\r\n250-PIPELINING\r\n");
                match &self.tls {
                    Some(t) if !secure && t.mode == TlsMode::StartTls => {
                        r.push_str("250-STARTTLS\r\n");
                    }
                    Some(_) if secure => r.push_str("250-AUTH PLAIN LOGIN\r\n"),
                    _ => {}
                }
                r.push_str("250 8BITMIME\r\n");
                r
            } else if cmd == "STARTTLS" {
                match &self.tls {
                    Some(t) if !secure && t.mode == TlsMode::StartTls => {
                        io.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                        let tls = t.acceptor.accept(io.into_inner()).await?;
                        return Box::pin(self.session(Box::new(tls), true)).await;
                    }
                    _ => "454 4.7.0 TLS not available\r\n".into(),
                }
            } else if cmd.starts_with("AUTH ") {
                let Some(t) = self.tls.as_ref().filter(|_| secure) else {
                    io.write_all(b"538 5.7.11 Encryption required\r\n").await?;
                    continue;
                };
                let given = if let Some(b64) = line
                    .trim_end()
                    .get(11..)
                    .filter(|_| cmd.starts_with("AUTH PLAIN "))
                {
                    // \0user\0password
                    let raw = decode(b64);
                    let mut parts = raw.split('\0').skip(1);
                    (
                        parts.next().unwrap_or_default().to_string(),
                        parts.next().unwrap_or_default().to_string(),
                    )
                } else if cmd == "AUTH LOGIN" {
                    io.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                    let name = self.read_answer(&mut io).await?;
                    io.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
                    (name, self.read_answer(&mut io).await?)
                } else {
                    (String::new(), String::new())
                };
                if given == t.login {
                    user = Some(given.0);
                    "235 2.7.0 Authentication successful\r\n".into()
                } else {
                    "535 5.7.8 Authentication credentials invalid\r\n".into()
                }
            } else if cmd.starts_with("HELO") || cmd == "RSET" || cmd == "NOOP" {
                to.clear();
                "250 OK\r\n".into()
            } else if cmd.starts_with("MAIL FROM:") {
                to.clear();
                if self.tls.is_some() && user.is_none() {
                    "530 5.7.0 Authentication required\r\n".into()
                } else {
                    "250 2.1.0 OK\r\n".into()
                }
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
                    io.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let mut data = String::new();
                    loop {
                        line.clear();
                        if io.read_line(&mut line).await? == 0 {
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
                        tls: secure,
                        user: user.clone(),
                    });
                    self.arrived.notify_waiters();
                    let mut open = self.open.subscribe();
                    let _ = open.wait_for(|o| *o).await;
                    "250 2.0.0 OK queued\r\n".into()
                }
            } else if cmd == "QUIT" {
                io.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            } else {
                "502 5.5.2 Command not recognised\r\n".into()
            };
            io.write_all(reply.as_bytes()).await?;
        }
    }

    /// One base64 line of an `AUTH LOGIN` exchange, decoded.
    async fn read_answer(&self, io: &mut BufReader<Box<dyn Io>>) -> std::io::Result<String> {
        let mut line = String::new();
        io.read_line(&mut line).await?;
        Ok(decode(line.trim_end()))
    }
}

fn decode(b64: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}
