//! The command line, as clap definitions only; what each command does is in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "drag",
    version,
    about = "Pull container images from registries without a Docker daemon",
    long_about = "Pull container images from registries without a Docker daemon, and write them \
                  as a `docker load` archive (also an OCI layout)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Pull one or more images and write them to a file.
    Pull(PullArgs),
    /// Copy an image from one registry to another, with no local file. Manifests go byte for
    /// byte, so digests are kept.
    Copy(CopyArgs),
    /// Push images from a `drag pull` archive, a `docker save`/`podman save`/skopeo archive or
    /// an OCI layout into a registry: one image to DEST, or every image with --to. Layers
    /// stored uncompressed are gzipped first (a new manifest); others keep their digests.
    Push(PushArgs),
    /// Mirror many images from a list (YAML, or one reference per line): registry to
    /// registry with --to, or into one archive with -o. Keeps going past a failing image;
    /// exits 1 when any failed.
    Sync(SyncArgs),
    /// Serve the images of archives, bundles and OCI layouts as a read-only registry (OCI
    /// distribution API), e.g. as a Docker Hub mirror on the far side of an air gap. Several
    /// PATHs are one registry (a bundle and its deltas). Ctrl-C stops it.
    Serve(ServeArgs),
    /// Look at bundles (archives and layouts drag reads): list what one holds, or verify a
    /// set of them (a delta with its bases).
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Show an image's manifest, platforms, config and layers as JSON.
    Inspect(InspectArgs),
    /// List a repository's tags, one per line (entries that are not valid tags are left out,
    /// and counted on stderr).
    Tags(TagsArgs),
    /// Show how many Docker Hub pulls are left, asking with a HEAD request, which Docker Hub
    /// does not count as a pull.
    Ratelimit(RatelimitArgs),
    /// Look after the blob cache ($DRAG_CACHE_DIR, else $XDG_CACHE_HOME/drag, else ~/.cache/drag).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// List the registered registry adapters and the hosts they claim.
    Adapters,
    /// Show the config file ($DRAG_CONFIG, else $XDG_CONFIG_HOME/drag/config.toml, else
    /// ~/.config/drag/config.toml): per registry host, adapter, mirrors, insecure, certs.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Log in to a registry: check the login with it, then keep it where `docker login` does
    /// (Docker's config.json, or its credential helper), so docker, podman and skopeo see it
    /// too.
    Login(LoginArgs),
    /// Remove the login for a registry from where `drag login` keeps it.
    Logout(LogoutArgs),
}

#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    /// List a bundle's images (names, manifest digest, platforms), its blob count and size,
    /// and the blobs it leaves out (a delta's, or foreign layers), on standard output.
    Ls {
        /// An archive or layout.
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Hash every blob of every PATH, check each image's config against its manifest, and
    /// that every blob a PATH lacks (a delta's left-out layers) is in another PATH (its
    /// bases). Prints one line per problem on standard output and exits 1 if there is any.
    Verify {
        /// Archives or layouts: a delta and its bases, or whole bundles.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Blobs hashed at once (at least 1).
        #[arg(short, long, value_name = "N", default_value_t = 2, value_parser = at_least_one)]
        jobs: usize,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the path of the config file drag reads (it may not exist).
    Path,
    /// Print the config's entries, or with HOST the one entry that applies to it.
    Show {
        /// A registry host as references write it (`host[:port]`, `docker.io`).
        host: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The registry, as for `docker login`: `docker.io`, `ghcr.io`, `localhost:5000`, or a
    /// URL (`https://registry.example:5000`; `http://` for a plain-HTTP registry).
    #[arg(value_name = "HOST")]
    pub host: String,

    /// The user name (default: asked on the terminal).
    #[arg(short, long, value_name = "USER")]
    pub username: Option<String>,

    /// Read the password from standard input (one line; a trailing newline is dropped). Without
    /// it the password is asked on the terminal, without echo; it is never an argument.
    #[arg(long)]
    pub password_stdin: bool,

    #[command(flatten)]
    pub place: LoginPlaceArgs,

    /// Allow plain HTTP to hosts that are not loopback, and do not verify TLS certificates.
    #[arg(long)]
    pub insecure: bool,

    /// A certs.d-style directory of certificates for the registry (default: its entry in
    /// ~/.config/containers/certs.d, /etc/containers/certs.d, /etc/docker/certs.d).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Trace every HTTP request on stderr (no credentials are shown).
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry, as given to `drag login`.
    #[arg(value_name = "HOST")]
    pub host: String,

    #[command(flatten)]
    pub place: LoginPlaceArgs,
}

/// Where a login is kept, and which adapter's keys name it.
#[derive(Args, Debug)]
pub struct LoginPlaceArgs {
    /// The file logins are kept in (Docker's config.json format), instead of
    /// $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// Use this adapter instead of choosing one by the host (see `drag adapters`): it decides
    /// the key the login is kept under.
    #[arg(long, value_name = "NAME")]
    pub registry: Option<String>,
}

/// How to reach the registry; shared by every command that talks to one.
#[derive(Args, Debug, Clone)]
pub struct RegistryArgs {
    /// Use this adapter instead of choosing one by the image's host (see `drag adapters`)
    /// or the config file's `adapter` for it.
    #[arg(long, value_name = "NAME")]
    pub registry: Option<String>,

    /// Send requests to this base URL instead of the registry's own (a mirror, an
    /// air-gapped copy, a test registry); names are still normalized by the adapter. A URL
    /// without a scheme (`mirror.example:5000`) means https; a plain-HTTP registry needs
    /// `http://` (loopback hosts, or with --insecure). Logins from the auth files are the
    /// endpoint's own, never the named registry's. The config file's mirrors are not tried.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// Allow plain HTTP to hosts that are not loopback, and do not verify TLS certificates,
    /// for every host (the config file's `insecure` says it for one host).
    #[arg(long)]
    pub insecure: bool,

    /// A directory of certificates for the registry, as in Docker's certs.d: `*.crt` CAs to
    /// trust, `NAME.cert` + `NAME.key` a client certificate (default: the
    /// config file's `certs` for the host, else the first of
    /// ~/.config/containers/certs.d/HOST[:PORT], /etc/containers/certs.d/..., /etc/docker/certs.d/...).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Credentials as USER:PASSWORD, for the host the first image is fetched from (its
    /// registry, or --endpoint) only; images on other registries never get them (default:
    /// podman's auth.json and Docker's config.json entry for the host contacted, with their
    /// credential helpers; else anonymous).
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "DRAG_USER",
        hide_env_values = true
    )]
    pub user: Option<String>,

    /// Read credentials from this auth file only (podman's auth.json or Docker's config.json
    /// format), as skopeo's --authfile.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// How often to retry a failing request.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,

    /// Seconds to wait for a response's headers, connecting included, before the request
    /// counts as failed (and is retried).
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub header_timeout: u64,

    /// Seconds a response body may stay silent: a blob download is then resumed, any other
    /// body fails.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub read_timeout: u64,

    /// The slowest a body may be, in bytes per second averaged over --low-speed-time: slower
    /// is a stall, as with --read-timeout (0: no limit).
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub low_speed_limit: u64,

    /// Seconds over which --low-speed-limit is averaged.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub low_speed_time: u64,

    /// Trace every HTTP request on stderr: method, URL (without credentials or query),
    /// the credential's scheme, status, size and time, one line per attempt.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    /// A `docker load` / `podman load` archive that is also an OCI image layout.
    Docker,
    /// An OCI image layout directory (blobs and manifests as served).
    Oci,
    /// One tar of the image's final filesystem (for chroot, wsl --import, VM images).
    Rootfs,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Image references: `alpine:3.9`, `ghcr.io/o/app@sha256:...`.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// The platform to pick from a multi-platform image: os/arch[/variant][:os.version].
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Docker)]
    pub format: FormatArg,

    /// Store layers uncompressed, named by diff ID, as `docker save` does.
    #[arg(long)]
    pub decompress: bool,

    /// With --format docker: keep zstd layers compressed. By default they are stored
    /// uncompressed, named by diff ID, because Docker 20.10 (Debian 12, Ubuntu 22.04) cannot
    /// load them; Docker 23 and later, podman and containerd can.
    #[arg(long)]
    pub keep_zstd: bool,

    /// With --format oci: keep the whole index and every platform's image.
    #[arg(long)]
    pub all_platforms: bool,

    /// With --format oci: leave foreign (non-distributable) layers out of the layout; the
    /// manifests keep their descriptors. For targets that already hold the Windows base layers.
    #[arg(long)]
    pub skip_foreign: bool,

    /// With --format oci: rewrite Docker-typed manifests and indexes with OCI media types, as
    /// skopeo does, for tools that read only OCI layouts (umoci). Blobs keep their digests;
    /// the rewritten manifests get new ones.
    #[arg(long)]
    pub oci_media_types: bool,

    /// With --format rootfs: leave out what only privilege creates or what grants it, for
    /// extracting as an ordinary user: device nodes, setuid/setgid bits (directories keep
    /// setgid), and security.* / trusted.* extended attributes (file capabilities, SELinux
    /// labels). FIFOs, owners and user.* attributes stay.
    #[arg(long)]
    pub strip_privileges: bool,

    /// Write a delta bundle: leave out every layer that OLD (an archive or layout drag can
    /// read; repeat the flag for several) holds, without downloading it. Manifests and configs
    /// stay, so `drag serve OLD DELTA` and `drag push DELTA` to a registry holding OLD's images
    /// give whole images. OLD's blobs are trusted by presence and size (`drag bundle verify`
    /// hashes them).
    #[arg(long, value_name = "OLD")]
    pub since: Vec<PathBuf>,

    /// Output path, or `-` for standard output, which must then not be a terminal (default:
    /// <repository>_<tag>.tar; a directory <repository>_<tag> for --format oci).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Parallel blob downloads (at least 1).
    #[arg(short, long, value_name = "N", default_value_t = 4, value_parser = at_least_one)]
    pub jobs: usize,

    /// Do not use or fill the blob cache. (A cache that cannot be written is skipped with a
    /// warning.)
    #[arg(long)]
    pub no_cache: bool,

    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The image to copy: `alpine:3.9`, `ghcr.io/o/app@sha256:...`.
    #[arg(value_name = "SOURCE")]
    pub source: String,

    /// Where it goes: `registry.example/team/alpine:3.9`. Without a tag, `latest`.
    #[arg(value_name = "DEST")]
    pub dest: String,

    /// The registry flags, for the source; the destination gets the same ones except
    /// --user, --registry and --endpoint.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// The destination's login, `USER[:PASSWORD]` (default: what the auth files hold for
    /// its host).
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub dest_user: Option<String>,

    /// The platform to pick from a multi-platform image: os/arch[/variant][:os.version].
    #[arg(long, value_name = "PLATFORM", conflicts_with = "all_platforms")]
    pub platform: Option<String>,

    /// Copy the whole index and every manifest under it (attestations included).
    #[arg(long)]
    pub all_platforms: bool,

    /// Upload foreign (non-distributable) layers too. By default they are left where their
    /// URLs point, and the manifest keeps those URLs.
    #[arg(long)]
    pub include_foreign: bool,

    /// Parallel blob uploads (at least 1).
    #[arg(short, long, value_name = "N", default_value_t = 4, value_parser = at_least_one)]
    pub jobs: usize,

    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The list: YAML (`images: [...]`) or one reference per line (`#` comments).
    #[arg(value_name = "LIST")]
    pub list: PathBuf,

    /// Copy each image to its name re-rooted at HOST[/PREFIX]
    /// (`docker.io/library/alpine:3.9` → `HOST/PREFIX/library/alpine:3.9`), or to
    /// `HOST/<dest>` for an entry with `dest:`.
    #[arg(
        long,
        value_name = "HOST[/PREFIX]",
        required_unless_present = "output",
        conflicts_with = "output"
    )]
    pub to: Option<String>,

    /// Pull every image into this one archive (shared blobs once); `drag push BUNDLE --to`
    /// re-roots them on the other side.
    #[arg(short, long, value_name = "BUNDLE")]
    pub output: Option<PathBuf>,

    /// The bundle's format, as for `drag pull` (docker or oci).
    #[arg(long, value_enum, default_value_t = FormatArg::Docker)]
    pub format: FormatArg,

    /// Write a delta bundle: leave out every layer that OLD (an archive or layout drag can
    /// read; repeat the flag for several) holds, without downloading it. Manifests and configs
    /// stay, so `drag serve OLD DELTA` and `drag push DELTA` to a registry holding OLD's images
    /// give whole images. OLD's blobs are trusted by presence and size (`drag bundle verify`
    /// hashes them).
    #[arg(long, value_name = "OLD", requires = "output")]
    pub since: Vec<PathBuf>,

    /// Write a JSON report here: one entry per image and tag with source, destination,
    /// digest, status (copied, skipped, planned, failed) and error.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,

    /// Resolve tags and digests and write the report; transfer nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The registry flags, for the sources; the destination gets the same ones except
    /// --user, --registry and --endpoint.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// The destination's login, `USER[:PASSWORD]` (default: what the auth files hold for
    /// its host).
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub dest_user: Option<String>,

    /// Upload foreign (non-distributable) layers too, as `drag copy --include-foreign`.
    #[arg(long)]
    pub include_foreign: bool,

    /// Parallel blob transfers per image (at least 1).
    #[arg(short, long, value_name = "N", default_value_t = 4, value_parser = at_least_one)]
    pub jobs: usize,

    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The archive or OCI layout (a directory, or a tar of one).
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,

    /// Where its one image goes: `registry.example/team/alpine:3.9`. Without a tag, `latest`.
    #[arg(
        value_name = "DEST",
        required_unless_present = "to",
        conflicts_with = "to"
    )]
    pub dest: Option<String>,

    /// Push every image of SOURCE under its own name re-rooted at HOST[/PREFIX]:
    /// `docker.io/library/alpine:3.9` goes to `HOST/PREFIX/library/alpine:3.9`.
    #[arg(long, value_name = "HOST[/PREFIX]")]
    pub to: Option<String>,

    /// With DEST, which image of a several-image SOURCE to push: one of its names as the
    /// source writes it (`alpine:3.9`, `docker.io/library/alpine:3.9`) or its tag.
    #[arg(long, value_name = "NAME", conflicts_with = "to")]
    pub image: Option<String>,

    /// The registry flags, for the destination.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// The destination's login, `USER[:PASSWORD]`, as for `drag copy` (the same as --user
    /// here; default: what the auth files hold for its host).
    #[arg(long, value_name = "USER[:PASSWORD]", conflicts_with = "user")]
    pub dest_user: Option<String>,

    /// Upload foreign (non-distributable) layers too. By default they are not sent, and the
    /// manifest keeps their URLs.
    #[arg(long)]
    pub include_foreign: bool,

    /// Parallel blob uploads and layer compressions (at least 1).
    #[arg(short, long, value_name = "N", default_value_t = 4, value_parser = at_least_one)]
    pub jobs: usize,

    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Archives (`drag pull`, `docker save`, `podman save`, skopeo), bundles (`drag sync -o`)
    /// and OCI layouts (directories or tars). A blob missing from one is looked for in the
    /// others; a tag two of them give keeps the later one's image.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The address and port to listen on. Only this machine by default: serving others must
    /// be asked for (`--listen 0.0.0.0:5000`).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:5000")]
    pub listen: std::net::SocketAddr,

    /// Serve HTTPS with this PEM certificate (chain); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Ask every request for a login from this htpasswd file (bcrypt entries only, as made by
    /// `htpasswd -B`; HTTP Basic, so use it with TLS beyond loopback).
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,

    /// Keep each image's registry host as the first part of its name
    /// (`docker.io/library/alpine` instead of `library/alpine`; a port is written `_PORT`).
    /// containerd's mirror requests (`?ns=HOST`) are then answered from HOST's images.
    #[arg(long)]
    pub keep_host: bool,

    /// Seconds a client has to send a request's headers; an idle connection is closed after
    /// as long.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,

    /// Seconds an answer may wait on a client that reads nothing before the connection is
    /// closed (a slow but steady client goes on).
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout: u64,

    /// No line per request on stderr (the images served and errors are still shown).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Image reference.
    #[arg(value_name = "IMAGE")]
    pub image: String,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// The platform to describe when the image is an index.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// Print the manifest exactly as the registry served it (on a terminal, with control
    /// characters shown escaped).
    #[arg(long)]
    pub raw: bool,

    /// Do not read or fill the manifest cache.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Args, Debug)]
pub struct TagsArgs {
    /// Repository (a tag or digest, if given, is ignored).
    #[arg(value_name = "REPOSITORY")]
    pub repository: String,

    /// Also list entries that are digests spelled as tags (`sha256__<hex>`, as Artifactory
    /// lists the manifests it holds by digest); hidden by default.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct RatelimitArgs {
    /// The image to ask about: any Docker Hub image reports the same limit for the same
    /// login (default: the one Docker's documentation uses).
    #[arg(value_name = "IMAGE", default_value = "ratelimitpreview/test")]
    pub image: String,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// Print the figures as one JSON object (null for what Docker Hub did not say).
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Where the cache is, how many blobs and bytes it holds.
    Info,
    /// Remove blobs unused for a while, or the least recently used beyond a size.
    Prune {
        /// Keep at most this much (e.g. 5G, 500M).
        #[arg(long, value_name = "SIZE")]
        keep: Option<String>,
        /// Remove what has not been used for this long (e.g. 30d, 12h).
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
    },
    /// Remove everything in the cache.
    Clean,
}

/// A count that must not be 0 (`-j 0` would download nothing, for ever).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}
