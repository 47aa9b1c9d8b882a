//! Placeholder until the rootfs writer lands.
pub struct RootfsStats {
    pub entries: u64,
    pub bytes: u64,
}
pub fn write(
    _layers: &[std::path::PathBuf],
    _out: impl std::io::Write,
) -> crate::error::Result<RootfsStats> {
    Err(crate::Error::Usage("rootfs is not ready".into()))
}
