//! The real CNCF distribution registry (Debian's `docker-registry`), run as
//! a child process on loopback.
//!
//! The fake registry shows what drag does with quirks we imagine; this one
//! shows what drag does with the reference implementation's actual
//! behaviour. Content goes in through the real push API, so the registry
//! validates it as it would for any client.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::image::{Blob, Image};
use crate::pki::TestPki;
use crate::token_service::TokenService;
use crate::tools::require_tool;

/// How long the registry gets to answer `GET /v2/` after starting.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts with fresh ports, in case another process takes ours between
/// probing and binding.
const START_ATTEMPTS: usize = 3;

/// A running `docker-registry serve`; killed when dropped.
pub struct RealRegistry {
    child: Child,
    port: u16,
    /// "http", or "https" when started with [`RealRegistry::start_tls`].
    scheme: &'static str,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

/// How to configure the registry beyond the defaults.
#[derive(Default)]
struct Setup<'a> {
    extra_yaml: &'a str,
    tls: Option<(&'a TestPki, bool)>,
    /// One htpasswd user, `(user, password)`: every request then needs Basic credentials.
    htpasswd: Option<(&'a str, &'a str)>,
    /// Distribution's token auth, trusting this service's tokens.
    token: Option<&'a TokenService>,
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RealRegistry {
    /// Starts a registry with default config; `None` (test skipped) when
    /// `docker-registry` isn't installed. Panics with its log if it won't start.
    pub async fn start() -> Option<RealRegistry> {
        RealRegistry::start_with("").await
    }

    /// Like [`RealRegistry::start`], appending `extra_yaml` at the top level
    /// of the config, e.g.
    /// `"validation:\n  manifests:\n    urls:\n      allow:\n        - '^http://127\\.0\\.0\\.1'\n"`.
    pub async fn start_with(extra_yaml: &str) -> Option<RealRegistry> {
        RealRegistry::start_setup(Setup {
            extra_yaml,
            ..Setup::default()
        })
        .await
    }

    /// A registry serving HTTPS with `pki`'s server certificate; with
    /// `require_client_cert` it also demands a client certificate signed by
    /// `pki`'s CA. The support client trusts the CA (and presents the client
    /// certificate), so pushes work; `drag` is left to find its own trust.
    pub async fn start_tls(pki: &TestPki, require_client_cert: bool) -> Option<RealRegistry> {
        RealRegistry::start_setup(Setup {
            tls: Some((pki, require_client_cert)),
            ..Setup::default()
        })
        .await
    }

    /// Like [`RealRegistry::start_tls`], appending `extra_yaml` as
    /// [`RealRegistry::start_with`] does.
    pub async fn start_tls_with(
        pki: &TestPki,
        require_client_cert: bool,
        extra_yaml: &str,
    ) -> Option<RealRegistry> {
        RealRegistry::start_setup(Setup {
            extra_yaml,
            tls: Some((pki, require_client_cert)),
            ..Setup::default()
        })
        .await
    }

    /// A registry that wants HTTP Basic credentials for `user`/`password` (distribution's
    /// htpasswd auth, the way most self-hosted registries are locked). The support client
    /// sends them, so pushes work. `None` (test skipped) without `docker-registry`, or
    /// without a way to make a bcrypt hash (`htpasswd` from apache2-utils, or python3's
    /// `crypt`).
    pub async fn start_htpasswd(user: &str, password: &str) -> Option<RealRegistry> {
        RealRegistry::start_setup(Setup {
            htpasswd: Some((user, password)),
            ..Setup::default()
        })
        .await
    }

    /// A registry in distribution's token mode, trusting `tokens` (Harbor's and GitLab's way):
    /// every request needs a Bearer token from it, granting the action. The support client
    /// holds a token that grants nothing but `/v2/`: tests put content in through drag, or
    /// look with [`TokenService::mint`]ed tokens.
    pub async fn start_token(tokens: &TokenService) -> Option<RealRegistry> {
        RealRegistry::start_setup(Setup {
            token: Some(tokens),
            ..Setup::default()
        })
        .await
    }

    async fn start_setup(setup: Setup<'_>) -> Option<RealRegistry> {
        let binary = require_tool("docker-registry")?;
        let htpasswd = match setup.htpasswd {
            Some((user, password)) => Some(htpasswd_line(user, password)?),
            None => None,
        };
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            match RealRegistry::try_start(&binary, &setup, htpasswd.as_deref()).await {
                Ok(registry) => return Some(registry),
                Err(log) => last_log = log,
            }
        }
        panic!(
            "docker-registry did not start after {START_ATTEMPTS} attempts; last log:\n{last_log}"
        );
    }

    async fn try_start(
        binary: &PathBuf,
        setup: &Setup<'_>,
        htpasswd: Option<&str>,
    ) -> Result<RealRegistry, String> {
        let dir = tempfile::Builder::new()
            .prefix("drag-real-registry-")
            .tempdir()
            .expect("temp dir for docker-registry");
        let port = crate::free_port();
        let storage = dir.path().join("storage");
        let config_path = dir.path().join("config.yml");
        let log_path = dir.path().join("registry.log");
        let auth_yaml = match htpasswd {
            Some(line) => {
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, format!("{line}\n")).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: drag-test\n    path: {}\n",
                    path.display()
                )
            }
            None => setup
                .token
                .map(TokenService::registry_yaml)
                .unwrap_or_default(),
        };
        let config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  formatter: text\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n{tls}\
             {auth_yaml}{extra_yaml}\n",
            storage = storage.display(),
            tls = setup.tls.map(tls_yaml).unwrap_or_default(),
            extra_yaml = setup.extra_yaml,
        );
        std::fs::write(&config_path, config).expect("write registry config");
        let log = File::create(&log_path).expect("create registry log");
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .map_err(|e| format!("could not spawn {}: {e}", binary.display()))?;
        let mut registry = RealRegistry {
            child,
            port,
            scheme: if setup.tls.is_some() { "https" } else { "http" },
            dir,
            client: match (setup.tls, setup.htpasswd, setup.token) {
                (Some((pki, client_cert)), _, _) => tls_client(pki, client_cert),
                (None, Some((user, password)), _) => basic_client(user, password),
                (None, None, Some(tokens)) => bearer_client(&tokens.mint("drag-tests", &[])),
                (None, None, None) => crate::http_client(),
            },
        };
        registry.wait_ready().await?;
        Ok(registry)
    }

    /// Polls `GET /v2/` until it answers, the process exits, or time runs out.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("{}/v2/", self.url());
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "docker-registry exited with {status}:\n{}",
                    self.log()
                ));
            }
            let probe = self
                .client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status() == StatusCode::OK) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "docker-registry not ready after {START_TIMEOUT:?}:\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:PORT`, or `https://` for a TLS registry.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// `127.0.0.1:PORT`: the registry part of an image reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the registry has logged so far (level warn and up).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Uploads `blob` to `repo`: POST an upload session, then one monolithic PUT.
    pub async fn push_blob(&self, repo: &str, blob: &Blob) {
        let start = self
            .client
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.url()))
            .send()
            .await
            .expect("start blob upload");
        let start = expect_status(start, StatusCode::ACCEPTED, "start blob upload").await;
        let location = start
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("upload session has a Location")
            .to_string();
        let mut upload = reqwest::Url::parse(&self.url())
            .expect("registry URL")
            .join(&location)
            .expect("Location resolves against the registry URL");
        upload.query_pairs_mut().append_pair("digest", &blob.digest);
        let put = self
            .client
            .put(upload)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(blob.bytes.clone())
            .send()
            .await
            .expect("upload blob");
        expect_status(put, StatusCode::CREATED, "upload blob").await;
    }

    /// PUTs `manifest` as `reference` (tag or digest), panicking on rejection.
    pub async fn push_manifest(&self, repo: &str, reference: &str, manifest: &Blob) {
        if let Err(message) = self.try_push_manifest(repo, reference, manifest).await {
            panic!("{message}");
        }
    }

    /// PUTs `manifest` as `reference`; `Err` carries the registry's answer.
    pub async fn try_push_manifest(
        &self,
        repo: &str,
        reference: &str,
        manifest: &Blob,
    ) -> Result<(), String> {
        let response = self
            .client
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.url()))
            .header(reqwest::header::CONTENT_TYPE, &manifest.media_type)
            .body(manifest.bytes.clone())
            .send()
            .await
            .map_err(|e| format!("PUT manifest {repo}:{reference}: {e}"))?;
        if response.status() == StatusCode::CREATED {
            return Ok(());
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Err(format!(
            "registry rejected manifest {repo}:{reference} ({status}): {body}"
        ))
    }

    /// Uploads the config and distributable layers of `image` (a registry
    /// holds no foreign layers), then its manifest as `tag`.
    pub async fn push_image(&self, repo: &str, tag: &str, image: &Image) {
        self.push_image_blobs(repo, image).await;
        self.push_manifest(repo, tag, &image.manifest).await;
    }

    async fn push_image_blobs(&self, repo: &str, image: &Image) {
        self.push_blob(repo, &image.config).await;
        for layer in image.distributable_layers() {
            self.push_blob(repo, &layer.blob).await;
        }
    }

    /// Pushes each image by digest, then `index` as `tag` (the registry
    /// checks that an index's manifests exist, so they go first). Nested
    /// indexes are the caller's to push first.
    pub async fn push_index(&self, repo: &str, tag: &str, index: &Blob, images: &[&Image]) {
        for image in images {
            self.push_image_blobs(repo, image).await;
            self.push_manifest(repo, image.digest(), &image.manifest)
                .await;
        }
        self.push_manifest(repo, tag, index).await;
    }

    /// Deletes a manifest by digest (delete is enabled in the config).
    pub async fn delete_manifest(&self, repo: &str, digest: &str) {
        let response = self
            .client
            .delete(format!("{}/v2/{repo}/manifests/{digest}", self.url()))
            .send()
            .await
            .expect("delete manifest");
        expect_status(response, StatusCode::ACCEPTED, "delete manifest").await;
    }
}

async fn expect_status(
    response: reqwest::Response,
    expected: StatusCode,
    what: &str,
) -> reqwest::Response {
    if response.status() == expected {
        return response;
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    panic!("{what}: expected {expected}, got {status}: {body}");
}

/// The `http.tls` part of the config (it goes under `http:`).
fn tls_yaml((pki, client_cert): (&TestPki, bool)) -> String {
    let mut yaml = format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        pki.file("server.cert").display(),
        pki.file("server.key").display(),
    );
    if client_cert {
        // distribution then requires and verifies a client certificate.
        yaml += &format!("    clientcas:\n      - {}\n", pki.file("ca.crt").display());
    }
    yaml
}

/// The support client for a TLS registry: trusts `pki`'s CA only.
fn tls_client(pki: &TestPki, client_cert: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&pki.pem("ca.crt")).expect("CA certificate"),
        );
    if client_cert {
        let mut identity = pki.pem("client.cert");
        identity.extend(pki.pem("client.key"));
        builder =
            builder.identity(reqwest::Identity::from_pem(&identity).expect("client identity"));
    }
    builder.build().expect("build TLS reqwest client")
}

/// The support client for an htpasswd registry: sends `user`/`password` with every request.
fn basic_client(user: &str, password: &str) -> reqwest::Client {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    authorized_client(&format!("Basic {token}"))
}

/// The support client for a token registry: `token` on every request.
fn bearer_client(token: &str) -> reqwest::Client {
    authorized_client(&format!("Bearer {token}"))
}

/// A support client sending `authorization` with every request.
fn authorized_client(authorization: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        authorization.parse().expect("header value"),
    );
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()
        .expect("build reqwest client")
}

/// `user:<bcrypt hash>`, the only htpasswd format distribution takes: from `htpasswd -nbB`
/// (apache2-utils), else python3's `crypt`. `None` after a skip when neither can make one.
fn htpasswd_line(user: &str, password: &str) -> Option<String> {
    let attempts: [(&str, Vec<&str>); 2] = [
        ("htpasswd", vec!["-nbB", user, password]),
        (
            "python3",
            vec![
                "-W",
                "ignore",
                "-c",
                "import crypt, sys; print(sys.argv[1] + ':' + \
                 crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
                user,
                password,
            ],
        ),
    ];
    for (tool, args) in attempts {
        let Some(path) = crate::tools::find_tool(tool) else {
            continue;
        };
        let Ok(out) = Command::new(path).args(&args).output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().next().unwrap_or_default().trim().to_string();
        if out.status.success() && line.starts_with(&format!("{user}:$2")) {
            return Some(line);
        }
    }
    require_tool("htpasswd")?;
    panic!("htpasswd is installed but made no bcrypt line");
}

/// The manifest `reference` of `repo` as the registry at `registry` (`host:port`, plain HTTP)
/// serves it to a client accepting every image and index type; None when it has none.
pub async fn served_manifest(registry: &str, repo: &str, reference: &str) -> Option<Vec<u8>> {
    let resp = reqwest::Client::new()
        .get(format!("http://{registry}/v2/{repo}/manifests/{reference}"))
        .header(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .send()
        .await
        .expect("GET manifest");
    resp.status()
        .is_success()
        .then_some(resp.bytes().await.expect("manifest body").to_vec())
}

/// The blob `digest` of `repo` as the registry at `registry` serves it; it must have it.
pub async fn served_blob(registry: &str, repo: &str, digest: &str) -> Vec<u8> {
    let resp = reqwest::get(format!("http://{registry}/v2/{repo}/blobs/{digest}"))
        .await
        .expect("GET blob");
    assert!(resp.status().is_success(), "{digest}: {}", resp.status());
    resp.bytes().await.expect("blob body").to_vec()
}
