//! Connections: TCP with a timeout, TLS by rustls (webpki roots plus an optional extra CA file),
//! and the loopback rule for plain connections.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::error::ServerErrorKind;
use super::settings::Security;

/// How long to wait for a TCP connection, a TLS handshake or one server answer.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to a server, in the clear (loopback, or before STARTTLS) or over TLS.
pub(crate) enum Stream {
    /// TCP without TLS.
    Plain(TcpStream),
    /// TCP with TLS.
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Plain(_) => "Stream::Plain",
            Stream::Tls(_) => "Stream::Tls",
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TLS client configuration: the webpki roots, plus every certificate in `extra_ca` (PEM).
pub(crate) fn tls_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, ServerErrorKind> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra_ca {
        let ca_error = |reason: String| ServerErrorKind::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let mut added = 0usize;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| ca_error(e.to_string()))? {
            let cert = cert.map_err(|e| ca_error(e.to_string()))?;
            roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(ca_error("no PEM certificate in it".to_owned()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerErrorKind::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Runs `future` with [`IO_TIMEOUT`].
pub(crate) async fn timed<T>(
    future: impl Future<Output = Result<T, ServerErrorKind>>,
) -> Result<T, ServerErrorKind> {
    match tokio::time::timeout(IO_TIMEOUT, future).await {
        Ok(result) => result,
        Err(_) => Err(ServerErrorKind::Timeout(IO_TIMEOUT.as_secs())),
    }
}

/// Whether `host` is a loopback address literal or `localhost`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// Opens a TCP connection to `host:port`; for `Security::Plain` only if the host is a loopback
/// name and every address it resolves to is a loopback address.
pub(crate) async fn tcp(
    host: &str,
    port: u16,
    security: Security,
) -> Result<TcpStream, ServerErrorKind> {
    if security == Security::Plain && !is_loopback_host(host) {
        return Err(ServerErrorKind::PlainNotLoopback);
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = timed(async {
        tokio::net::lookup_host((bare, port))
            .await
            .map(Iterator::collect)
            .map_err(ServerErrorKind::Connect)
    })
    .await?;
    if security == Security::Plain && addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(ServerErrorKind::PlainNotLoopback);
    }
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    for addr in addrs {
        match tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
        }
    }
    Err(ServerErrorKind::Connect(last))
}

/// Runs the TLS handshake on `tcp`, checking the certificate against `host`.
pub(crate) async fn tls(
    tcp: TcpStream,
    host: &str,
    config: &Arc<ClientConfig>,
) -> Result<Stream, ServerErrorKind> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(bare.to_owned())
        .map_err(|e| ServerErrorKind::Tls(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    let connector = TlsConnector::from(Arc::clone(config));
    let stream = timed(async {
        connector
            .connect(name, tcp)
            .await
            .map_err(ServerErrorKind::Tls)
    })
    .await?;
    Ok(Stream::Tls(Box::new(stream)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LocalHost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "example.org",
            "localhost.example.org",
            "::",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
