//! SMTP connections for `email.smtp_url`: `smtp://` (plain, or STARTTLS with `?tls=required`
//! / `?tls=opportunistic`) and `smtps://` (implicit TLS), opened by us with `TCP_NODELAY` and
//! handed to lettre's protocol client. lettre's own transport leaves Nagle's algorithm on; it
//! writes a message and its closing `.` separately, so every message waited for the server's
//! delayed ACK (about 40 ms, 21 messages/s per connection, measured). TLS trusts the built-in
//! roots and `email.tls_ca_file`.

use std::sync::Mutex;
use std::time::Duration;

use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;

/// Why a send did not reach a reply: the SMTP error, or trouble before the protocol began.
#[derive(Debug)]
pub enum PoolError {
    Smtp(lettre::transport::smtp::Error),
    Connect(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Security {
    None,
    /// STARTTLS when the server offers it.
    Opportunistic,
    /// STARTTLS or no session.
    Required,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// Where and how to connect, from an `smtp://` URL.
#[derive(Debug, Clone)]
struct Target {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    /// Extra roots (`email.tls_ca_file`).
    roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// For implicit TLS, built once.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// Idle connections to one server, reused across sends.
pub struct SmtpPool {
    target: Target,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    max_idle: usize,
    timeout: Duration,
}

impl SmtpPool {
    /// A pool for an `smtp://` or `smtps://` URL as lettre reads it (`user:pass@`,
    /// `?tls=required|opportunistic`, a path naming the EHLO host; ports 25, 587 with STARTTLS
    /// and 465 for `smtps` by default), trusting `ca_file`'s roots beside the built-in ones.
    pub fn for_url(
        raw: &str,
        max_idle: usize,
        ca_file: &str,
        timeout: Duration,
    ) -> Result<SmtpPool, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("email.smtp_url: {e}"))?;
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(format!(
                    "email.smtp_url: unknown scheme `{other}` (smtp or smtps)"
                ));
            }
        };
        let host = url
            .host_str()
            .ok_or("email.smtp_url has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let security = match url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned())
            .as_deref()
        {
            _ if implicit => Security::Implicit,
            None => Security::None,
            Some("required") => Security::Required,
            Some("opportunistic") => Security::Opportunistic,
            Some(other) => return Err(format!("email.smtp_url: unknown tls={other}")),
        };
        let roots = match ca_file.trim() {
            "" => Vec::new(),
            path => super::tls::read_roots(path).map_err(|e| format!("email.tls_ca_file: {e}"))?,
        };
        let tls = implicit
            .then(|| super::tls::client_config(&roots))
            .transpose()?;
        // lettre's defaults: 25 plain, 587 with STARTTLS (submission), 465 implicit TLS.
        let default_port = match security {
            Security::None => 25,
            Security::Opportunistic | Security::Required => 587,
            Security::Implicit => 465,
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = (!url.username().is_empty()).then(|| {
            Credentials::new(
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            )
        });
        let hello = match url.path().trim_start_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(decode(name)),
        };
        if credentials.is_some()
            && security != Security::Required
            && security != Security::Implicit
            && !matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1")
        {
            tracing::warn!(
                host = %host,
                "email.smtp_url has a password but does not require TLS: it may go in clear \
                 text (add ?tls=required, or use smtps://)"
            );
        }
        Ok(SmtpPool {
            target: Target {
                host,
                port: url.port().unwrap_or(default_port),
                security,
                credentials,
                hello,
                roots,
                tls,
            },
            idle: Mutex::new(Vec::new()),
            max_idle: max_idle.max(1),
            timeout,
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, PoolError> {
        let t = &self.target;
        let stream = tokio::time::timeout(
            self.timeout,
            tokio::net::TcpStream::connect((t.host.as_str(), t.port)),
        )
        .await
        .map_err(|_| PoolError::Connect(format!("connecting to {}:{} timed out", t.host, t.port)))?
        .map_err(|e| PoolError::Connect(format!("connecting to {}:{}: {e}", t.host, t.port)))?;
        stream
            .set_nodelay(true)
            .map_err(|e| PoolError::Connect(format!("TCP_NODELAY: {e}")))?;
        // A refusal before the first message (greeting, STARTTLS, AUTH) is the server's or the
        // configuration's trouble, not the message's: it counts as transient (see `setup`).
        let stream: Box<dyn AsyncTokioStream> = match &t.tls {
            Some(config) => Box::new(super::tls::Capped::new(
                tokio::time::timeout(
                    self.timeout,
                    super::tls::wrap(stream, &t.host, config.clone()),
                )
                .await
                .map_err(|_| PoolError::Connect(format!("TLS with {} timed out", t.host)))?
                .map_err(|e| PoolError::Connect(format!("TLS with {}: {e}", t.host)))?,
            )),
            None => Box::new(super::tls::Capped::new(stream)),
        };
        // The whole session setup (greeting, EHLO, STARTTLS, AUTH) within the timeout: a
        // server that accepts and then says nothing holds no sender.
        tokio::time::timeout(self.timeout, self.setup(stream))
            .await
            .map_err(|_| {
                PoolError::Connect(format!(
                    "the SMTP server {} did not complete the session setup in time",
                    t.host
                ))
            })?
    }

    async fn setup(
        &self,
        stream: Box<dyn AsyncTokioStream>,
    ) -> Result<AsyncSmtpConnection, PoolError> {
        let t = &self.target;
        let setup = |e: lettre::transport::smtp::Error| {
            PoolError::Connect(format!("setting up the SMTP session with {}: {e}", t.host))
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &t.hello)
            .await
            .map_err(setup)?;
        if matches!(t.security, Security::Opportunistic | Security::Required) {
            if conn.can_starttls() {
                let tls = super::tls::starttls_parameters(&t.host, &t.roots).map_err(setup)?;
                conn.starttls(tls, &t.hello).await.map_err(setup)?;
            } else if t.security == Security::Required {
                conn.abort().await;
                return Err(PoolError::Connect(format!(
                    "{} does not offer STARTTLS, which email.smtp_url requires",
                    t.host
                )));
            }
        }
        if let Some(c) = &t.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], c)
                .await
                .map_err(setup)?;
        }
        Ok(conn)
    }

    /// Sends one email on an idle connection (or a new one); a connection that failed is
    /// closed, one that worked goes back to the pool.
    pub async fn send(&self, email: &Message) -> Result<String, PoolError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match idle {
            Some(c) if !c.has_broken() => c,
            _ => self.connect().await?,
        };
        let sent = tokio::time::timeout(
            self.timeout,
            conn.send(email.envelope(), &email.formatted()),
        )
        .await;
        match sent {
            Ok(Ok(reply)) => {
                let code = reply.code().to_string();
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < self.max_idle && !conn.has_broken() {
                    idle.push(conn);
                }
                Ok(code)
            }
            Ok(Err(e)) => {
                // lettre has already given up on this connection when the server said no
                // (it sends QUIT); it is dropped either way.
                Err(PoolError::Smtp(e))
            }
            Err(_) => Err(PoolError::Connect(
                "the SMTP server did not answer in time".into(),
            )),
        }
    }
}
