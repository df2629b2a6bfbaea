//! TLS for SMTP: the roots trusted (webpki's built-in set plus `email.tls_ca_file`), STARTTLS
//! parameters for lettre, and implicit TLS (`smtps://`) opened by us so that the connection
//! under it keeps `TCP_NODELAY`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::{AsyncTokioStream, Certificate, TlsParameters};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest CA file read (a bundle of every public root is about 250 KB).
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// The certificates of a PEM file; an error names the file and what is wrong with it.
pub fn read_roots(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    // Not a device or a pipe: those have no length, and may never end.
    if !meta.is_file() {
        return Err(format!("`{path}` is not a regular file"));
    }
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_FILE + 1).read_to_end(&mut pem))
        .map_err(|e| format!("cannot read `{path}`: {e}"))?;
    if pem.len() as u64 > MAX_CA_FILE {
        return Err(format!("`{path}` is larger than {MAX_CA_FILE} bytes"));
    }
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{path}` is not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!("`{path}` holds no PEM certificate"));
    }
    let mut store = rustls::RootCertStore::empty();
    for c in &certs {
        store
            .add(c.clone())
            .map_err(|e| format!("`{path}`: a certificate cannot be a root: {e}"))?;
    }
    Ok(certs)
}

/// STARTTLS parameters for `host`, trusting the built-in roots and `extra`.
pub fn starttls_parameters(
    host: &str,
    extra: &[CertificateDer<'static>],
) -> Result<TlsParameters, lettre::transport::smtp::Error> {
    crate::install_tls_provider();
    let mut builder = TlsParameters::builder(host.to_string());
    for c in extra {
        builder = builder.add_root_certificate(Certificate::from_der(c.to_vec())?);
    }
    builder.build_rustls()
}

/// A client configuration trusting the built-in roots and `extra`.
pub fn client_config(
    extra: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, String> {
    crate::install_tls_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for c in extra {
        roots
            .add(c.clone())
            .map_err(|e| format!("email.tls_ca_file: {e}"))?;
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Opens TLS on `tcp` for `host` (implicit TLS: before any SMTP is spoken).
pub async fn wrap(
    tcp: tokio::net::TcpStream,
    host: &str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(TlsStream(stream))
}

/// Longest run of bytes from an SMTP server without a line end (RFC 5321 allows 512 per
/// reply line); a server that sends more is cut off instead of filling memory.
const MAX_LINE: usize = 64 * 1024;

/// A connection whose server cannot send an endless line: reading fails once `MAX_LINE`
/// bytes have come without a `\n`.
#[derive(Debug)]
pub struct Capped<S> {
    inner: S,
    since_newline: usize,
}

impl<S> Capped<S> {
    pub fn new(inner: S) -> Self {
        Capped {
            inner,
            since_newline: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let fresh = &buf.filled()[before..];
            match fresh.iter().rposition(|b| *b == b'\n') {
                Some(at) => self.since_newline = fresh.len() - at - 1,
                None => self.since_newline += fresh.len(),
            }
            if self.since_newline > MAX_LINE {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("the SMTP server sent more than {MAX_LINE} bytes without a line end"),
                )));
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Capped<tokio::net::TcpStream> {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.peer_addr()
    }
}

impl AsyncTokioStream for Capped<TlsStream> {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.peer_addr()
    }
}

/// A TLS connection lettre's protocol client can speak SMTP over.
#[derive(Debug)]
pub struct TlsStream(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
