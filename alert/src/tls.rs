//! TLS for `https://` webhooks: which certificates are trusted, and what a failed handshake
//! says.
//!
//! rustls runs over the webhook client's own blocking socket, so the attempt's one deadline
//! covers the handshake too (see `notify.rs`). Trusted roots are Mozilla's, compiled in from
//! `webpki-roots` rather than read from the system: a minimal container often has no CA
//! bundle at all. A webhook's `ca_file` adds the CAs of an internal service to them. The
//! crypto is ring's, named here rather than taken from a process-wide default, so another
//! crate that enables a second provider cannot make the choice ambiguous.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, ClientConfig, RootCertStore};

/// The most a `ca_file` may hold. A system CA bundle (about 150 roots) is about 220 KiB; the
/// cap keeps a mistyped path such as `/dev/zero` from being read for ever.
const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// The certificates of a `ca_file` (PEM) as roots, or why it cannot be used: it cannot be
/// read, is too large, holds no certificate, or one of its certificates cannot be a root.
pub(crate) fn read_ca_file(path: &Path) -> Result<RootCertStore, String> {
    let why = |message: String| format!("ca_file {}: {message}", path.display());
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| why(format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(why(format!(
            "larger than {} MiB: not a PEM file of CA certificates",
            MAX_CA_FILE_BYTES >> 20
        )));
    }
    let mut roots = RootCertStore::empty();
    for (i, certificate) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let certificate = certificate.map_err(|e| why(format!("not PEM: {e}")))?;
        roots
            .add(certificate)
            .map_err(|e| why(format!("certificate {}: {e}", i + 1)))?;
    }
    if roots.is_empty() {
        return Err(why(
            "holds no certificate (a PEM `BEGIN CERTIFICATE` block)".to_owned(),
        ));
    }
    Ok(roots)
}

/// Client settings trusting Mozilla's roots plus those of `ca_file`.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        roots.roots.extend(read_ca_file(path)?.roots);
    }
    // rustls 0.23.48 deprecated ring's provider for lacking post-quantum key exchange
    // (X25519MLKEM768), which only aws-lc-rs offers there; it still negotiates X25519 with
    // every webhook service, and aws-lc-rs needs cmake to build.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What a handshake with `host` that failed with `e` (not a timeout) says in the attempt's
/// error.
pub(crate) fn handshake_error(e: &io::Error, host: &str) -> String {
    let Some(tls) = e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) else {
        return format!("TLS handshake with {host}: {e}");
    };
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "certificate not trusted for host {host}: its issuer is neither one of Mozilla's \
             roots nor in the webhook's ca_file"
        ),
        rustls::Error::InvalidCertificate(CertificateError::Other(other))
            if other.to_string().contains("CaUsedAsEndEntity") =>
        {
            format!(
                "certificate not trusted for host {host}: the server presents a CA certificate \
                 (CA:TRUE, as `openssl req -x509` makes by default), which cannot name a server; \
                 give the server a certificate that CA signed, and the CA as ca_file"
            )
        }
        rustls::Error::InvalidCertificate(why) => {
            format!("certificate not trusted for host {host}: {why}")
        }
        other => format!("TLS handshake with {host}: {other}"),
    }
}
