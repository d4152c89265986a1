//! TLS: which servers we trust (SAP on-premise, cloud APIs) and the certificate of our own
//! HTTPS listener.
//!
//! - [`http_client`] builds a `reqwest::Client` for one SAP Business One Service Layer: trust the
//!   system roots, exactly one private CA file, or one pinned certificate. SAP installs usually
//!   run with a self-signed certificate on port 50000, so pinning its SHA-256 fingerprint is the
//!   common choice (see `api-notes/sap-business-one.md`).
//! - [`default_client`] is for cloud APIs (Entra ID, Graph, Workflows): system roots.
//! - [`listener_config`] gives the `rustls::ServerConfig` of `[http] tls = "self-signed"`: a
//!   certificate made by rcgen on first start and reused afterwards.
//!
//! Every config here is built with an explicit ring `CryptoProvider`; only
//! [`install_crypto_provider`] touches the process-wide default (main calls it first).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::private_file::{ensure_private_file, write_private_file};

mod spec;

pub use spec::TrustSpec;

/// File name of the listener certificate (PEM) in the state directory.
pub const LISTENER_CERT_FILE: &str = "listener.crt";
/// File name of the listener private key (PEM, mode 0600) in the state directory.
pub const LISTENER_KEY_FILE: &str = "listener.key";

/// Which server certificates an SAP Service Layer client accepts (`[tenants.sap] tls`).
#[derive(Clone, PartialEq, Eq)]
pub enum Trust {
    /// `{ mode = "system" }`: the operating system's root certificates, with host name checks.
    System,
    /// `{ mode = "ca_file", path = "..." }`: only the CA certificate(s) in this PEM file, with
    /// host name checks (the certificate must name the host of `base_url`).
    CaFile(PathBuf),
    /// `{ mode = "pin", sha256 = "AB:CD:..." }`: exactly the end-entity certificate whose DER
    /// encoding has this SHA-256 digest; no CA, host name or expiry checks (the pin is the trust
    /// decision), but the handshake signature is still verified against that certificate's key.
    Pin([u8; 32]),
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::System => f.write_str("System"),
            Trust::CaFile(path) => f.debug_tuple("CaFile").field(path).finish(),
            Trust::Pin(pin) => f
                .debug_tuple("Pin")
                .field(&format_fingerprint(pin))
                .finish(),
        }
    }
}

/// Why a TLS client or listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// No usable root certificate was found on this system.
    #[error("no system root certificates could be loaded: {0}")]
    NativeRoots(String),
    /// The CA file of `tls = { mode = "ca_file" }` is unreadable or holds no usable certificate.
    #[error("CA file {}: {message}", path.display())]
    CaFile {
        /// The file named in the configuration.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The listener certificate or key in the state directory is unusable.
    #[error("listener certificate {}: {message}", path.display())]
    Listener {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it (never the key material).
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// reqwest could not build the client.
    #[error("HTTP client could not be built: {0}")]
    Client(String),
}

/// Installs ring as the process-wide rustls `CryptoProvider`. Call once, first thing in `main`,
/// so libraries that use the default provider (actix-web, reqwest internals) find one.
/// Returns `false` when a provider was already installed (harmless).
pub fn install_crypto_provider() -> bool {
    rustls::crypto::ring::default_provider()
        .install_default()
        .is_ok()
}

/// The ring provider every config of this module is built with.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 of a DER certificate as upper-case hex pairs joined by colons
/// (`AB:CD:...`, 95 characters), the form `tls = { mode = "pin", sha256 = ... }` accepts and
/// `ml-connector check` prints.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    format_fingerprint(&sha256(der))
}

fn sha256(der: &[u8]) -> [u8; 32] {
    let digest = Sha256::digest(der);
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest);
    out
}

fn format_fingerprint(digest: &[u8; 32]) -> String {
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses a SHA-256 certificate pin: 64 hex digits, upper or lower case, colons optional
/// (`AB:CD:...` as printed by `openssl x509 -fingerprint -sha256` or `abcd...`).
/// Errors say what is wrong in words, e.g. "expected 64 hex digits, found 62".
pub fn parse_sha256_pin(text: &str) -> Result<[u8; 32], String> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "invalid SHA-256 pin: `{bad}` is not a hex digit (expected 64 hex digits, colons optional)"
        ));
    }
    if digits.len() != 64 {
        return Err(format!(
            "invalid SHA-256 pin: expected 64 hex digits (colons optional), found {}",
            digits.len()
        ));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(&digits, &mut out).map_err(|e| format!("invalid SHA-256 pin: {e}"))?;
    Ok(out)
}

/// The rustls client configuration for one [`Trust`] (ALPN `http/1.1`).
///
/// Errors: [`TlsError::NativeRoots`] when the system has no roots, [`TlsError::CaFile`] when
/// the CA file is unreadable or holds no certificate.
pub fn client_config(trust: &Trust) -> Result<rustls::ClientConfig, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    let mut config = match trust {
        Trust::System => builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth(),
        Trust::CaFile(path) => builder
            .with_root_certificates(ca_file_roots(path)?)
            .with_no_client_auth(),
        Trust::Pin(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier::new(*pin, provider())))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A `reqwest::ClientBuilder` with the TLS of `trust` and `timeout` as both the connect and
/// the whole-request timeout; connectors add their own options (cookies, default headers).
pub fn http_client_builder(
    trust: &Trust,
    timeout: Duration,
) -> Result<reqwest::ClientBuilder, TlsError> {
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(client_config(trust)?)
        .connect_timeout(timeout)
        .timeout(timeout))
}

/// A `reqwest::Client` for an SAP Service Layer with the given trust and request timeout
/// (`[tenants.sap] request_timeout_seconds`).
pub fn http_client(trust: &Trust, timeout: Duration) -> Result<reqwest::Client, TlsError> {
    http_client_builder(trust, timeout)?
        .build()
        .map_err(|e| TlsError::Client(e.to_string()))
}

/// A `reqwest::Client` for cloud APIs (login.microsoftonline.com, graph.microsoft.com,
/// Workflows): system roots, `timeout` per request.
pub fn default_client(timeout: Duration) -> Result<reqwest::Client, TlsError> {
    http_client(&Trust::System, timeout)
}

/// The system's trust anchors, read once per process (reading and parsing the system bundle
/// costs ~18 M instructions, and the gateway builds a client per credential and destination).
/// A failure is not kept: the next client asks the system again.
fn system_roots() -> Result<RootCertStore, TlsError> {
    static ROOTS: std::sync::OnceLock<RootCertStore> = std::sync::OnceLock::new();
    if let Some(roots) = ROOTS.get() {
        return Ok(roots.clone());
    }
    let roots = load_system_roots()?;
    Ok(ROOTS.get_or_init(|| roots).clone())
}

fn load_system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let detail = found
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(TlsError::NativeRoots(if detail.is_empty() {
            "none found (install the ca-certificates package)".to_string()
        } else {
            detail
        }));
    }
    Ok(roots)
}

fn ca_file_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let ca_error = |message: String| TlsError::CaFile {
        path: path.to_path_buf(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| ca_error(format!("not a PEM certificate file: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| ca_error(format!("unusable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(ca_error("no \"BEGIN CERTIFICATE\" block found".to_string()));
    }
    Ok(roots)
}

/// Accepts exactly one end-entity certificate, chosen by the SHA-256 of its DER encoding.
#[derive(Debug)]
pub struct PinVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl PinVerifier {
    /// A verifier for `pin` that checks handshake signatures with `provider`'s algorithms.
    pub fn new(pin: [u8; 32], provider: Arc<CryptoProvider>) -> Self {
        PinVerifier { pin, provider }
    }
}

/// The refusal of [`PinVerifier`]; rustls prints it with `Debug`, so both forms read the same.
struct PinMismatch {
    presented: String,
    expected: String,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "server certificate SHA-256 {} does not match the configured pin {}",
            self.presented, self.expected
        )
    }
}

impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for PinMismatch {}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = sha256(end_entity.as_ref());
        if presented == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch {
                    presented: format_fingerprint(&presented),
                    expected: format_fingerprint(&self.pin),
                }))),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The listener's certificate and key as loaded from (or just written to) the state directory.
pub struct ListenerCertificate {
    /// DER of the self-signed certificate (subject alternative names `localhost`, `127.0.0.1`).
    pub cert: CertificateDer<'static>,
    /// The private key (PKCS#8).
    pub key: PrivateKeyDer<'static>,
    /// `true` when this call generated the pair, `false` when it was reused.
    pub created: bool,
}

impl fmt::Debug for ListenerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerCertificate")
            .field("sha256", &sha256_fingerprint(self.cert.as_ref()))
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// Loads `<state_dir>/listener.crt` + `listener.key`, or creates them with rcgen
/// (`generate_simple_self_signed(["localhost", "127.0.0.1"])`) when neither exists. The key is
/// written with mode 0600; an existing key readable by group or others is refused. One file
/// without the other, or an unparsable file, is an error (delete both to get a new pair).
pub fn listener_certificate(state_dir: &Path) -> Result<ListenerCertificate, TlsError> {
    let cert_path = state_dir.join(LISTENER_CERT_FILE);
    let key_path = state_dir.join(LISTENER_KEY_FILE);
    let listener_error = |path: &Path, message: String| TlsError::Listener {
        path: path.to_path_buf(),
        message,
    };
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {
            ensure_private_file(&key_path).map_err(|e| listener_error(&key_path, e.to_string()))?;
            let cert = CertificateDer::from_pem_file(&cert_path)
                .map_err(|e| listener_error(&cert_path, format!("unreadable: {e}")))?;
            let key = PrivateKeyDer::from_pem_file(&key_path)
                .map_err(|e| listener_error(&key_path, format!("unreadable: {e}")))?;
            Ok(ListenerCertificate {
                cert,
                key,
                created: false,
            })
        }
        (false, false) => {
            std::fs::create_dir_all(state_dir)
                .map_err(|e| listener_error(state_dir, format!("cannot create: {e}")))?;
            let generated = rcgen::generate_simple_self_signed(vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ])
            .map_err(|e| listener_error(&cert_path, format!("cannot generate: {e}")))?;
            let key_pem = generated.signing_key.serialize_pem();
            write_private_file(&key_path, key_pem.as_bytes())
                .map_err(|e| listener_error(&key_path, e.to_string()))?;
            write_private_file(&cert_path, generated.cert.pem().as_bytes())
                .map_err(|e| listener_error(&cert_path, e.to_string()))?;
            let key = PrivateKeyDer::try_from(generated.signing_key.serialize_der())
                .map_err(|e| listener_error(&key_path, e.to_string()))?;
            Ok(ListenerCertificate {
                cert: generated.cert.der().clone(),
                key,
                created: true,
            })
        }
        (true, false) => Err(listener_error(
            &key_path,
            format!(
                "missing while {LISTENER_CERT_FILE} exists: delete both to generate a new pair"
            ),
        )),
        (false, true) => Err(listener_error(
            &cert_path,
            format!("missing while {LISTENER_KEY_FILE} exists: delete both to generate a new pair"),
        )),
    }
}

/// The `rustls::ServerConfig` for `[http] tls = "self-signed"`, from
/// [`listener_certificate`] (created on first start, reused afterwards).
pub fn listener_config(state_dir: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let identity = listener_certificate(state_dir)?;
    Ok(rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![identity.cert], identity.key)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Serves `connections` HTTPS requests on 127.0.0.1 (ephemeral port) with `config`,
    /// answering 200 "ok"; returns the port.
    fn serve(config: rustls::ServerConfig, connections: usize) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let config = Arc::new(config);
        std::thread::spawn(move || {
            for _ in 0..connections {
                let Ok((tcp, _)) = listener.accept() else {
                    return;
                };
                let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut buf = [0u8; 4096];
                let mut request = Vec::new();
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                if !request.is_empty() {
                    let _ = tls.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            }
        });
        port
    }

    fn server_config(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> rustls::ServerConfig {
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config")
    }

    /// The error and all its sources, joined by ": ".
    fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
        let mut parts = vec![e.to_string()];
        let mut source = e.source();
        while let Some(s) = source {
            parts.push(s.to_string());
            source = s.source();
        }
        parts.join(": ")
    }

    async fn get(trust: &Trust, port: u16) -> Result<String, String> {
        let client = http_client(trust, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        let response = client
            .get(format!("https://localhost:{port}/b1s/v2/"))
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        response.text().await.map_err(|e| e.to_string())
    }

    #[test]
    fn pins_parse_with_or_without_colons() {
        let der = b"certificate";
        let fp = sha256_fingerprint(der);
        assert_eq!(fp.len(), 95);
        let pin = parse_sha256_pin(&fp).expect("colon form");
        assert_eq!(
            parse_sha256_pin(&fp.replace(':', "").to_lowercase()),
            Ok(pin)
        );
        assert!(parse_sha256_pin("AB:CD").unwrap_err().contains("found 4"));
        assert!(parse_sha256_pin(&"G".repeat(64))
            .unwrap_err()
            .contains("not a hex digit"));
    }

    #[tokio::test]
    async fn pin_accepts_the_pinned_certificate_and_rejects_another() {
        let dir = tempfile::tempdir().expect("tempdir");
        let served = listener_certificate(dir.path()).expect("listener cert");
        let pin = parse_sha256_pin(&sha256_fingerprint(served.cert.as_ref())).expect("pin");
        let port = serve(listener_config(dir.path()).expect("config"), 2);

        assert_eq!(get(&Trust::Pin(pin), port).await, Ok("ok".to_string()));

        let other =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let other_pin = parse_sha256_pin(&sha256_fingerprint(other.cert.der())).expect("pin");
        let err = get(&Trust::Pin(other_pin), port)
            .await
            .expect_err("wrong pin must fail");
        assert!(err.contains("does not match the configured pin"), "{err}");
    }

    #[test]
    fn pin_verifier_matches_only_the_pinned_certificate() {
        let served =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let pin = sha256(served.cert.der());
        let verifier = PinVerifier::new(pin, provider());
        let name = ServerName::try_from("localhost").expect("name");
        assert!(verifier
            .verify_server_cert(served.cert.der(), &[], &name, &[], UnixTime::now())
            .is_ok());
        assert!(!verifier.supported_verify_schemes().is_empty());
        let other =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        assert!(verifier
            .verify_server_cert(other.cert.der(), &[], &name, &[], UnixTime::now())
            .is_err());
    }

    #[tokio::test]
    async fn ca_file_trusts_exactly_that_ca() {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let make_ca = || {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca")
        };
        let ca = make_ca();
        let leaf_key = KeyPair::generate().expect("key");
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .expect("params")
            .signed_by(&leaf_key, &ca)
            .expect("leaf");
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_path = dir.path().join("sap-ca.pem");
        std::fs::write(&ca_path, ca.pem()).expect("write ca");
        let other_ca = make_ca();
        let other_path = dir.path().join("other-ca.pem");
        std::fs::write(&other_path, other_ca.pem()).expect("write other");

        let key = PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("key der");
        let port = serve(server_config(vec![leaf.der().clone()], key), 2);
        assert_eq!(
            get(&Trust::CaFile(ca_path), port).await,
            Ok("ok".to_string())
        );
        let err = get(&Trust::CaFile(other_path), port)
            .await
            .expect_err("other CA");
        assert!(err.contains("invalid peer certificate"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").expect("write");
        assert!(matches!(
            client_config(&Trust::CaFile(empty)),
            Err(TlsError::CaFile { .. })
        ));
    }

    #[test]
    fn listener_certificate_is_persisted_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let first = listener_certificate(dir.path()).expect("create");
        assert!(first.created);
        let mode = std::fs::metadata(dir.path().join(LISTENER_KEY_FILE))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = listener_certificate(dir.path()).expect("reuse");
        assert!(!second.created);
        assert_eq!(first.cert, second.cert);
        assert!(listener_config(dir.path()).is_ok());

        std::fs::set_permissions(
            dir.path().join(LISTENER_KEY_FILE),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        assert!(matches!(
            listener_certificate(dir.path()),
            Err(TlsError::Listener { .. })
        ));

        std::fs::remove_file(dir.path().join(LISTENER_KEY_FILE)).expect("rm");
        let err = listener_certificate(dir.path()).expect_err("half a pair");
        assert!(err.to_string().contains("delete both"), "{err}");
    }
}
