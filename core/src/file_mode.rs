//! The mode drag's temporary files and directories are created with: what a plain create asks
//! for, so outputs, layouts and cache entries get the modes the user's umask gives any new file,
//! whichever path wrote them.

/// Asks for the mode a plain create asks for (0666 for files, 0777 for directories) instead of
/// tempfile's private 0600/0700, so the kernel applies the umask (and any default ACL) exactly
/// as for any other new file. Reading the umask instead would mean `umask(2)`, which sets it
/// process-wide while other threads create files.
#[cfg(unix)]
pub(crate) fn new_file_mode<'a, 'b, 'c>(
    b: &'c mut tempfile::Builder<'a, 'b>,
) -> &'c mut tempfile::Builder<'a, 'b> {
    use std::os::unix::fs::PermissionsExt;
    b.permissions(std::fs::Permissions::from_mode(0o666))
}

/// [`new_file_mode`] for directories.
#[cfg(unix)]
pub(crate) fn new_dir_mode<'a, 'b, 'c>(
    b: &'c mut tempfile::Builder<'a, 'b>,
) -> &'c mut tempfile::Builder<'a, 'b> {
    use std::os::unix::fs::PermissionsExt;
    b.permissions(std::fs::Permissions::from_mode(0o777))
}

#[cfg(not(unix))]
pub(crate) fn new_file_mode<'a, 'b, 'c>(
    b: &'c mut tempfile::Builder<'a, 'b>,
) -> &'c mut tempfile::Builder<'a, 'b> {
    b
}

#[cfg(not(unix))]
pub(crate) fn new_dir_mode<'a, 'b, 'c>(
    b: &'c mut tempfile::Builder<'a, 'b>,
) -> &'c mut tempfile::Builder<'a, 'b> {
    b
}
