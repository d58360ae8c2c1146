//! HTTPS on the metrics port, so that the bearer tokens of scrapers do not cross the network in
//! clear text. The certificate and key are PEM files (a `kubernetes.io/tls` Secret, e.g. from
//! cert-manager, mounted into the pod) read again every minute: a renewed certificate is served
//! without a restart.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

use super::ServeError;

/// How often the files are read again. cert-manager renews long before expiry, and the kubelet
/// takes up to a minute or two to update a mounted Secret anyway.
const RELOAD_INTERVAL: Duration = Duration::from_secs(60);
/// A client that has not finished its handshake by then is dropped, so that idle connections
/// cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections past their handshake, waiting for the HTTP server to take them.
const ACCEPT_QUEUE: usize = 64;

/// The PEM files of the serving certificate chain and its private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first (`tls.crt`).
    pub cert: PathBuf,
    /// Private key: PKCS#8, PKCS#1 or SEC1 (`tls.key`).
    pub key: PathBuf,
}

/// The contents of the two files, compared to notice a renewal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pem {
    /// The certificate chain.
    pub cert: Vec<u8>,
    /// The private key.
    pub key: Vec<u8>,
}

impl TlsFiles {
    async fn read(&self) -> Result<Pem, ServeError> {
        let read = |path: &Path| {
            let path = path.to_path_buf();
            async move {
                tokio::fs::read(&path)
                    .await
                    .map_err(|source| ServeError::TlsFile { path, source })
            }
        };
        Ok(Pem {
            cert: read(&self.cert).await?,
            key: read(&self.key).await?,
        })
    }
}

/// The rustls configuration serving `pem` (HTTP/1.1, TLS 1.2 and 1.3, no client certificates).
/// Fails when either file holds no PEM block of its kind or the key does not match the
/// certificate.
pub fn server_config(pem: &Pem) -> Result<Arc<ServerConfig>, ServeError> {
    let invalid = |what: &'static str| {
        move |error: rustls::pki_types::pem::Error| ServeError::TlsPem {
            what,
            reason: error.to_string(),
        }
    };
    let certs = CertificateDer::pem_slice_iter(&pem.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid("certificate"))?;
    if certs.is_empty() {
        return Err(ServeError::TlsPem {
            what: "certificate",
            reason: "no CERTIFICATE block".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&pem.key).map_err(invalid("private key"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, key))
        .map_err(ServeError::TlsConfig)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Connections that completed their TLS handshake, for `axum::serve`. Handshakes run in tasks
/// of their own, so a slow client never holds up the others.
pub struct TlsListener {
    connections: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Serves TLS on `listener` with the certificate of `files`, read again every minute. Fails
    /// when the files cannot be read or do not make a certificate and its key.
    pub async fn new(listener: TcpListener, files: TlsFiles) -> Result<Self, ServeError> {
        Self::reloading_every(listener, files, RELOAD_INTERVAL).await
    }

    async fn reloading_every(listener: TcpListener, files: TlsFiles, interval: Duration) -> Result<Self, ServeError> {
        let pem = files.read().await?;
        let (configs_tx, configs) = watch::channel(server_config(&pem)?);
        let local = listener.local_addr().map_err(ServeError::Io)?;
        let (connections_tx, connections) = mpsc::channel(ACCEPT_QUEUE);
        tokio::spawn(reload(files, pem, configs_tx, interval));
        tokio::spawn(accept(listener, configs, connections_tx));
        Ok(Self { connections, local })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accepting task only ends once this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Reads the files every `interval` and swaps in a new configuration when they changed and
/// make a valid pair; until then (a half-written renewal, a missing file) the last good one
/// stays. Ends with the listener.
async fn reload(files: TlsFiles, mut served: Pem, configs: watch::Sender<Arc<ServerConfig>>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = configs.closed() => return,
            _ = ticks.tick() => {}
        }
        let pem = match files.read().await {
            Ok(pem) if pem != served => pem,
            Ok(_) => continue,
            Err(error) => {
                warn!(%error, "cannot read the metrics TLS files: the previous certificate is still served");
                continue;
            }
        };
        match server_config(&pem) {
            Ok(config) => {
                configs.send_replace(config);
                served = pem;
                info!(cert = %files.cert.display(), "metrics TLS certificate reloaded");
            }
            Err(error) => {
                warn!(%error, "new metrics TLS files are not usable yet: the previous certificate is still served")
            }
        }
    }
}

/// Accepts TCP connections and hands each to a handshake task, until the listener is dropped.
async fn accept(
    listener: TcpListener,
    configs: watch::Receiver<Arc<ServerConfig>>,
    connections: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            _ = connections.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                // Out of file descriptors, for instance: wait instead of spinning.
                warn!(%error, "cannot accept a metrics connection");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let acceptor = TlsAcceptor::from(configs.borrow().clone());
        let connections = connections.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = connections.send((tls, peer)).await;
                }
                Ok(Err(error)) => debug!(%peer, %error, "metrics TLS handshake failed"),
                Err(_) => debug!(%peer, "metrics TLS handshake timed out"),
            }
        });
    }
}

/// Errors of one connection (the peer went away), not of the listening socket.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::TlsConnector;

    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn pem(name: &str) -> Pem {
        Pem {
            cert: fixture(&format!("{name}.crt")),
            key: fixture(&format!("{name}.key")),
        }
    }

    /// The certificate the server at `addr` presents, trusting both test certificates.
    async fn served_certificate(addr: SocketAddr) -> Vec<u8> {
        let mut roots = rustls::RootCertStore::empty();
        for name in ["metrics-a.crt", "metrics-b.crt"] {
            for cert in CertificateDer::pem_slice_iter(&fixture(name)) {
                roots.add(cert.unwrap()).unwrap();
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
        let served = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
        tls.write_all(b"ping").await.unwrap();
        let mut echo = [0u8; 4];
        tls.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"ping");
        served
    }

    fn der(name: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(&fixture(name)).unwrap().to_vec()
    }

    #[test]
    fn a_certificate_and_its_key_make_a_configuration_and_nothing_else_does() {
        assert!(server_config(&pem("metrics-a")).is_ok());
        let mismatched = Pem {
            cert: fixture("metrics-a.crt"),
            key: fixture("metrics-b.key"),
        };
        assert!(matches!(server_config(&mismatched), Err(ServeError::TlsConfig(_))));
        let swapped = Pem {
            cert: fixture("metrics-a.key"),
            key: fixture("metrics-a.crt"),
        };
        assert!(matches!(
            server_config(&swapped),
            Err(ServeError::TlsPem {
                what: "certificate",
                ..
            })
        ));
        let no_key = Pem {
            cert: fixture("metrics-a.crt"),
            key: b"not a key".to_vec(),
        };
        assert!(matches!(
            server_config(&no_key),
            Err(ServeError::TlsPem {
                what: "private key",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_renewed_certificate_is_served_without_a_restart() {
        crate::install_crypto_provider();
        let dir = std::env::temp_dir().join(format!("studio-operator-tls-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = TlsFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        };
        let install = |name: &str| {
            let pem = pem(name);
            std::fs::write(&files.cert, pem.cert).unwrap();
            std::fs::write(&files.key, pem.key).unwrap();
        };
        install("metrics-a");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut tls = TlsListener::reloading_every(listener, files.clone(), Duration::from_millis(50))
            .await
            .unwrap();
        let addr = tls.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = tls.accept().await;
                let mut buffer = [0u8; 4];
                if stream.read_exact(&mut buffer).await.is_ok() {
                    let _ = stream.write_all(&buffer).await;
                }
            }
        });
        assert_eq!(served_certificate(addr).await, der("metrics-a.crt"));
        std::fs::write(&files.key, b"half-written").unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            served_certificate(addr).await,
            der("metrics-a.crt"),
            "an unusable pair is ignored"
        );
        install("metrics-b");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while served_certificate(addr).await != der("metrics-b.crt") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the renewed certificate is never served"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
