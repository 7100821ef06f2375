//! TLS for STARTTLS and the implicit-TLS port: the certificate given on the command
//! line, or a self-signed one for `localhost` generated at start (clients under test
//! are told not to verify it, as Postfix's `smtp_tls_security_level = encrypt` does).

use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub(crate) fn acceptor(given: Option<&(PathBuf, PathBuf)>) -> Result<TlsAcceptor, String> {
    let (chain, key) = match given {
        Some((cert, key)) => read_pem(cert, key)?,
        None => self_signed()?,
    };
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key do not make a TLS server: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn self_signed() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let names = vec!["localhost".to_string(), "smtp-relay.gmail.com".to_string()];
    let cert = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot generate a certificate: {e}"))?;
    let key = PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
    Ok((vec![cert.cert.der().clone()], PrivateKeyDer::Pkcs8(key)))
}

fn read_pem(
    cert: &PathBuf,
    key: &PathBuf,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let open = |p: &PathBuf| {
        std::fs::File::open(p)
            .map(std::io::BufReader::new)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let chain = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: holds no PEM certificate", cert.display()));
    }
    let key = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| format!("{}: not a PEM key: {e}", key.display()))?
        .ok_or_else(|| format!("{}: holds no private key", key.display()))?;
    Ok((chain, key))
}
