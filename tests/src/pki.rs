//! A throwaway certificate authority, so tests can run registries over TLS signed by a CA
//! that nothing trusts until the test says so, as a company registry is.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A CA, a server certificate for `127.0.0.1` and `localhost`, and a client certificate, as
/// PEM files in a directory of their own.
pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    pub fn new() -> TestPki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.distinguished_name
            .push(DnType::CommonName, "drag tests private CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");

        let leaf = |names: Vec<String>, common_name: &str, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().expect("leaf key");
            let mut params = CertificateParams::new(names).expect("leaf params");
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            params.extended_key_usages = vec![usage];
            let cert = params
                .signed_by(&key, &ca_cert, &ca_key)
                .expect("sign with the CA");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            "127.0.0.1",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(
            Vec::new(),
            "drag-test-client",
            ExtendedKeyUsagePurpose::ClientAuth,
        );

        let dir = tempfile::Builder::new()
            .prefix("drag-pki-")
            .tempdir()
            .expect("temp dir for the PKI");
        for (name, pem) in [
            ("ca.crt", ca_cert.pem()),
            ("server.cert", server_cert),
            ("server.key", server_key),
            ("client.cert", client_cert),
            ("client.key", client_key),
        ] {
            std::fs::write(dir.path().join(name), pem).expect("write PEM");
        }
        TestPki { dir }
    }

    /// A PEM file: `ca.crt`, `server.cert`, `server.key`, `client.cert` or `client.key`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pem(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.file(name)).expect("read PEM")
    }

    /// Fills `dir` as a certs.d directory for one registry: the CA as `ca.crt`, and with
    /// `client` the client certificate as `client.cert` / `client.key`.
    pub fn write_certs_d(&self, dir: &Path, client: bool) {
        std::fs::create_dir_all(dir).expect("create certs.d directory");
        let mut names = vec!["ca.crt"];
        if client {
            names.extend(["client.cert", "client.key"]);
        }
        for name in names {
            std::fs::copy(self.file(name), dir.join(name)).expect("copy PEM");
        }
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}
