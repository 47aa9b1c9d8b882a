//! Which boot of the machine this process runs in.
//!
//! Until the machine restarts, the page cache is the truth: a file the kernel accepted is what
//! every later reader sees, synced or not. Only a reboot (a crash, a power cut) can lose
//! unsynced data. So the store files what it did not sync under the boot it was written in,
//! and trusts it without a sync exactly as long as that boot lasts (see [`super::unsynced`]).

use std::sync::OnceLock;

/// Linux names each boot with a random UUID.
#[cfg(target_os = "linux")]
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// The current boot's name, read once; None where the system gives none (then everything the
/// store keeps is synced before it is stored, as before).
pub(crate) fn current() -> Option<&'static str> {
    static BOOT: OnceLock<Option<String>> = OnceLock::new();
    BOOT.get_or_init(read).as_deref()
}

#[cfg(target_os = "linux")]
fn read() -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    // A UUID is 36 bytes; anything much longer is not one.
    std::fs::File::open(BOOT_ID)
        .ok()?
        .take(128)
        .read_to_string(&mut text)
        .ok()?;
    valid(text.trim()).then(|| text.trim().to_string())
}

#[cfg(not(target_os = "linux"))]
fn read() -> Option<String> {
    None
}

/// Whether `id` can name a directory of the store: hex digits and dashes, of a UUID's length
/// or so. A boot ID becomes a path component, so nothing else is accepted.
pub(crate) fn valid(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hex_and_dashes_name_a_boot() {
        assert!(valid("8d082d57-215e-47b5-a6e5-43993d75c6a1"));
        assert!(!valid("../../etc"));
        assert!(!valid(""));
        assert!(!valid("8d082d57/215e"));
        assert!(!valid(&"a".repeat(65)));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_names_the_current_boot_and_the_name_holds() {
        let boot = current().expect("Linux has a boot id");
        assert!(valid(boot), "{boot}");
        assert_eq!(current(), Some(boot));
    }
}
