//! Fewer malloc arenas. glibc gives each thread that allocates an arena of its own, up to
//! eight per core, and memory freed in one is not reused by the others. drag's threads (the
//! runtime's, one worker per blob being written) each hold a few buffers at a time, so a pull
//! with four downloads kept about 4 MiB more resident in idle arenas than it ever used at
//! once. Two arenas are enough for two busy kinds of thread (network and disk) to allocate
//! without waiting on each other.

/// How many arenas glibc may make.
#[cfg(target_env = "gnu")]
const ARENAS: libc::c_int = 2;

/// Limits glibc's arenas; must run before the first thread starts. Other C libraries keep
/// their own ways.
#[cfg(target_env = "gnu")]
#[allow(unsafe_code)]
pub fn limit() {
    // SAFETY: mallopt only reads its two integer arguments and sets a malloc parameter; it is
    // called before any other thread exists, as glibc asks for M_ARENA_MAX.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

#[cfg(not(target_env = "gnu"))]
pub fn limit() {}
