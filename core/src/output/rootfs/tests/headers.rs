//! Headers read as containerd reads them and written afresh: prefixes, GNU times, PAX records,
//! attribute spellings, privileges.

use super::*;

#[test]
fn ustar_prefix_is_applied_whatever_the_version_and_never_copied() {
    let mut b = header_block(b"passwd", b'0', 4);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"\0\0");
    b[345..348].copy_from_slice(b"etc");
    let (result, out) = raw_rootfs(vec![raw_layer(b, b"root")]);
    result.unwrap();
    let items = listing(&out);
    assert_eq!(
        items,
        [dir("etc/", 0o755), file("etc/passwd", 0o644, b"root")]
    );
    // Every header drag wrote: plain ustar, no prefix, no GNU time bytes.
    for header in out.chunks(512).take(2) {
        assert_eq!(&header[257..265], b"ustar\x0000");
        assert!(header[345..500].iter().all(|&b| b == 0));
    }
}

/// A GNU header for `file` with `atime` and `ctime` as its raw time fields.
fn gnu_block(atime: &[u8; 12], ctime: &[u8; 12]) -> [u8; 512] {
    let mut b = header_block(b"file", b'0', 1);
    b[257..265].copy_from_slice(b"ustar  \0");
    b[345..357].copy_from_slice(atime);
    b[357..369].copy_from_slice(ctime);
    b
}

#[test]
fn gnu_header_with_numeric_times_is_read_without_a_prefix_nor_copied() {
    let mut base_256 = [0u8; 12];
    base_256[0] = 0x80;
    base_256[8..].copy_from_slice(&1_700_000_000u32.to_be_bytes());
    let cases: [(&[u8; 12], &[u8; 12]); 4] = [
        (&[0; 12], &[0; 12]),
        // Real times: Python would glue `14524261400` in front of the name if copied.
        (b"14524261400\0", b"14524261401\0"),
        (b" 1452426140 ", b"\0\0\0\0\0\0\0\0\0\0\0\0"),
        (&base_256, &base_256),
    ];
    for (atime, ctime) in cases {
        let (result, out) = raw_rootfs(vec![raw_layer(gnu_block(atime, ctime), b"x")]);
        result.unwrap_or_else(|e| panic!("{atime:?} {ctime:?}: {e}"));
        assert_eq!(listing(&out), [file("file", 0o644, b"x")]);
        assert!(out[345..500].iter().all(|&b| b == 0));
    }
}

#[test]
fn gnu_header_whose_times_are_not_numbers_is_refused() {
    // Go's reader (so containerd) reads these bytes as the prefix `../../../tm`, then
    // `p/evil00000`... GNU tar and drag would not: the entry would have two names.
    let cases: [(&[u8; 12], &[u8; 12]); 3] = [
        (b"../../../tm\0", b"p/evil00000\0"),
        (b"00000000000\0", b"etc\0\0\0\0\0\0\0\0\0"),
        (b"1 2\0\0\0\0\0\0\0\0\0", &[0; 12]),
    ];
    for (atime, ctime) in cases {
        let (result, out) = raw_rootfs(vec![raw_layer(gnu_block(atime, ctime), b"x")]);
        let msg = result.expect_err("ambiguous GNU header").to_string();
        assert!(out.is_empty());
        assert!(
            msg.contains("\"file\"") && msg.contains("ambiguous GNU header"),
            "{msg}"
        );
    }
}

#[test]
fn header_only_types_carry_no_data_whatever_their_size() {
    // A symlink claiming 512 bytes of data, which hold another header: Go (and so
    // containerd) reads that header as the next entry, and so does drag.
    let mut link = header_block(b"link", b'2', 512);
    link[157..163].copy_from_slice(b"target");
    let mut bytes = raw_layer(link, &[]);
    bytes.truncate(512);
    bytes.extend(raw_layer(header_block(b"hidden", b'0', 1), b"h"));
    let (result, out) = raw_rootfs(vec![bytes]);
    result.unwrap();
    assert_eq!(
        listing(&out),
        [
            file("hidden", 0o644, b"h"),
            symlink("link", "target").mode(0o644)
        ]
    );
}

#[test]
fn oversized_long_name_is_refused_without_reading_it() {
    let mut b = header_block(b"././@LongLink", b'L', MAX_METADATA_RECORD + 1);
    b[257..265].copy_from_slice(b"ustar  \0");
    // The record's data is absent: the size alone is refused.
    let (result, out) = raw_rootfs(vec![raw_layer(b, b"")]);
    let msg = result.unwrap_err().to_string();
    assert!(out.is_empty());
    assert!(
        msg.contains("GNU long name of 1048577 bytes is over the limit"),
        "{msg}"
    );
}

#[test]
fn conflicting_name_records_are_refused() {
    let long = format!("{}/b", "a".repeat(120));
    let mut gnu = Header::new_gnu();
    gnu.set_entry_type(EntryType::Regular);
    gnu.set_mode(0o644);
    let cases = [
        Layer::new()
            .pax(&[("path", b"etc/passwd".as_slice())])
            .pax(&[("path", b"etc/shadow".as_slice())])
            .file("x", 0o644, b"x"),
        // A GNU long name (the tar crate writes one for a long path in a GNU header)
        // against a PAX path.
        Layer::new()
            .pax(&[("path", b"elsewhere".as_slice())])
            .raw(gnu, &long, b"x"),
    ];
    for layer in cases {
        let msg = refusal(vec![layer]);
        assert!(msg.contains("two different"), "{msg}");
    }
    // Saying the same thing twice is harmless.
    let same = Layer::new()
        .pax(&[("path", b"etc/passwd".as_slice()), ("path", b"etc/passwd")])
        .file("x", 0o644, b"root");
    let (items, _) = merged(vec![same]);
    assert_eq!(
        items,
        [dir("etc/", 0o755), file("etc/passwd", 0o644, b"root")]
    );
}

#[test]
fn pax_records_outside_the_allow_list_are_dropped() {
    let layer = Layer::new()
        .pax(&[
            ("comment", b"hello".as_slice()),
            ("SCHILY.dev", b"7"),
            ("mtime", b"1700000000.25"),
            ("SCHILY.xattr.user.k", b"v"),
            ("LIBARCHIVE.xattr.user.l", b"dg=="),
        ])
        .file("f", 0o644, b"f");
    let (result, out) = rootfs(vec![layer]);
    result.unwrap();
    let mut archive = tar::Archive::new(&out[..]);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let keys: Vec<String> = entry
        .pax_extensions()
        .unwrap()
        .unwrap()
        .map(|r| r.unwrap().key().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        ["mtime", "SCHILY.xattr.user.k", "LIBARCHIVE.xattr.user.l"]
    );
    assert_eq!(entry.header().mtime().unwrap(), 1_700_000_000);
}

#[test]
fn hard_link_to_a_symlink_is_written_as_a_symlink() {
    let layer = Layer::new().symlink("s", "/etc/shadow").hardlink("h", "s");
    let (items, _) = merged(vec![layer]);
    assert_eq!(
        items,
        [symlink("h", "/etc/shadow"), symlink("s", "/etc/shadow")]
    );
}

#[test]
fn symlink_to_the_root_is_written_as_a_single_slash() {
    let (result, out) = rootfs(vec![Layer::new().symlink("root", "/")]);
    result.unwrap();
    assert_eq!(&out[157..159], b"/\0");
}

#[test]
fn strip_privileges_drops_devices_setid_bits_and_privileged_xattrs() {
    let mut null = Header::new_ustar();
    null.set_entry_type(EntryType::Char);
    null.set_mode(0o666);
    null.set_device_major(1).unwrap();
    null.set_device_minor(3).unwrap();
    null.set_size(0);
    null.set_uid(0);
    null.set_gid(0);
    null.set_mtime(0);
    let layer = || {
        Layer::new()
            .raw(null.clone(), "dev/null", b"")
            .hardlink("dev/null2", "dev/null")
            .pax(&[
                (
                    "SCHILY.xattr.security.capability",
                    b"\x01\x00\x00\x02".as_slice(),
                ),
                ("SCHILY.xattr.trusted.x", b"t"),
                ("SCHILY.xattr.user.keep", b"k"),
            ])
            .owned_file("bin/ping", 0o6755, 0, 0, b"elf")
            .owned_dir("shared/", 0o3775, 0, 0)
    };
    let dir_ = tempfile::tempdir().unwrap();
    let path = dir_.path().join("layer.tar");
    std::fs::write(&path, layer().0.into_inner().unwrap()).unwrap();
    let mut out = Vec::new();
    let options = RootfsOptions {
        strip_privileges: true,
    };
    let stats = write_with(&[path], options, &mut out).unwrap();
    let items = listing(&out);
    assert_eq!(stats.entries, items.len() as u64);
    assert_eq!(
        items,
        [
            dir("bin/", 0o755),
            file("bin/ping", 0o755, b"elf"),
            dir("dev/", 0o755),
            dir("shared/", 0o3775),
        ]
    );
    let mut archive = tar::Archive::new(&out[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path_bytes().as_ref() == b"bin/ping" {
            let keys: Vec<String> = entry
                .pax_extensions()
                .unwrap()
                .unwrap()
                .map(|r| r.unwrap().key().unwrap().to_owned())
                .collect();
            assert_eq!(keys, ["SCHILY.xattr.user.keep"]);
        }
    }
    // Without the option, all of it stays.
    let (items, _) = merged(vec![layer()]);
    assert!(items.iter().any(|i| i.path == "dev/null" && i.kind == 'c'));
    assert!(items
        .iter()
        .any(|i| i.path == "bin/ping" && i.mode == 0o6755));
}

#[test]
fn base_256_numbers_are_read_and_large_ids_go_out_as_pax() {
    let mut b = header_block(b"big", b'0', 1);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    // uid 2^33 in GNU's base-256: marker bit, then big-endian bytes.
    let mut uid = [0u8; 8];
    uid[0] = 0x80;
    uid[3] = 0x02;
    b[108..116].copy_from_slice(&uid);
    let (result, out) = raw_rootfs(vec![raw_layer(b, b"x")]);
    result.unwrap();
    let mut archive = tar::Archive::new(&out[..]);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let records: Vec<(String, Vec<u8>)> = entry
        .pax_extensions()
        .unwrap()
        .unwrap()
        .map(|r| r.unwrap())
        .map(|r| (r.key().unwrap().to_owned(), r.value_bytes().to_vec()))
        .collect();
    assert_eq!(records, [("uid".to_owned(), b"8589934592".to_vec())]);
}

/// The keys of the PAX records in front of entry `path` in an output archive.
fn pax_keys(archive: &[u8], path: &str) -> Vec<String> {
    let mut archive = tar::Archive::new(archive);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path_bytes().as_ref() == path.as_bytes() {
            return match entry.pax_extensions().unwrap() {
                Some(records) => records
                    .map(|r| r.unwrap().key().unwrap().to_owned())
                    .collect(),
                None => Vec::new(),
            };
        }
    }
    panic!("{path} not in the archive");
}

#[test]
fn strip_privileges_decodes_libarchive_xattr_names() {
    let layer = || {
        Layer::new()
            .pax(&[
                // libarchive URL-decodes these names: `security.capability`,
                // `trusted.x` and `security.ima` (the name ends at the NUL).
                (
                    "LIBARCHIVE.xattr.%73ecurity.capability",
                    b"AQAAAg==".as_slice(),
                ),
                ("LIBARCHIVE.xattr.trusted%2Ex", b"dA=="),
                ("LIBARCHIVE.xattr.security.ima%00junk", b"aQ=="),
                ("LIBARCHIVE.xattr.user%2Ekeep", b"aw=="),
                ("LIBARCHIVE.xattr.user.%zz", b"eg=="),
            ])
            .file("bin/ping", 0o755, b"elf")
    };
    let dir_ = tempfile::tempdir().unwrap();
    let path = dir_.path().join("layer.tar");
    std::fs::write(&path, layer().0.into_inner().unwrap()).unwrap();
    let mut out = Vec::new();
    let options = RootfsOptions {
        strip_privileges: true,
    };
    write_with(&[path], options, &mut out).unwrap();
    assert_eq!(
        pax_keys(&out, "bin/ping"),
        ["LIBARCHIVE.xattr.user%2Ekeep", "LIBARCHIVE.xattr.user.%zz"]
    );
    // Without the option, all of it stays.
    let (result, out) = rootfs(vec![layer()]);
    result.unwrap();
    assert_eq!(pax_keys(&out, "bin/ping").len(), 5);
}

#[test]
fn one_xattr_under_two_spellings_must_have_one_value() {
    let conflicts: [&[(&str, &[u8])]; 3] = [
        &[
            ("SCHILY.xattr.user.a", b"1"),
            ("LIBARCHIVE.xattr.user.a", b"Mg=="),
        ],
        &[
            ("SCHILY.xattr.user.a", b"1"),
            ("LIBARCHIVE.xattr.user.a", b"2"),
        ],
        &[
            ("LIBARCHIVE.xattr.user.a", b"MQ=="),
            ("LIBARCHIVE.xattr.user%2Ea", b"Mg=="),
        ],
    ];
    for records in conflicts {
        // In one PAX header, and in two before the same entry.
        let one = Layer::new().pax(records).file("f", 0o644, b"f");
        let two = Layer::new()
            .pax(&records[..1])
            .pax(&records[1..])
            .file("f", 0o644, b"f");
        for layer in [one, two] {
            let msg = refusal(vec![layer]);
            assert!(
                msg.contains("two different values for extended attribute \"user.a\""),
                "{records:?}: {msg}"
            );
        }
    }
    // libarchive writes every attribute both ways, the LIBARCHIVE value in base64.
    let agreeing = Layer::new()
        .pax(&[
            ("SCHILY.xattr.user.a", b"1".as_slice()),
            ("LIBARCHIVE.xattr.user.a", b"MQ=="),
            ("LIBARCHIVE.xattr.user%2Ea", b"MQ"),
        ])
        .file("f", 0o644, b"f");
    let (result, out) = rootfs(vec![agreeing]);
    result.unwrap();
    assert_eq!(pax_keys(&out, "f").len(), 3);
}

#[test]
fn big_files_sit_in_the_output_where_they_sit_in_their_layer_within_a_folio() {
    const FOLIO: u64 = crate::output::tar_header::COPY_ALIGN;
    let big = vec![7u8; super::super::emit::SINK_COPY_MIN as usize];
    let bigger = vec![9u8; 3 * FOLIO as usize + 100];
    let layer = Layer::new()
        .dir("d", 0o755)
        .file("d/a-small", 0o644, b"small")
        .file("d/b-big", 0o644, &big)
        .file("d/c-small", 0o644, b"small again")
        .file("d/d-bigger", 0o644, &bigger);
    let tar = layer.0.into_inner().unwrap();
    let offsets = |archive: &[u8]| -> HashMap<String, u64> {
        tar::Archive::new(archive)
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                (name, e.raw_file_position())
            })
            .collect()
    };
    let in_layer = offsets(&tar);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar");
    std::fs::write(&path, &tar).unwrap();
    let mut out = Vec::new();
    write_with(&[path], RootfsOptions::default(), &mut out).unwrap();
    let in_output = offsets(&out);
    for name in ["d/b-big", "d/d-bigger"] {
        assert_eq!(
            in_output[name] % FOLIO,
            in_layer[name] % FOLIO,
            "{name}: at {} in the output, {} in the layer",
            in_output[name],
            in_layer[name]
        );
    }
    // A small file follows the entry before it with one plain header.
    let big_end = in_output["d/b-big"] + (big.len() as u64).div_ceil(512) * 512;
    assert_eq!(in_output["d/c-small"], big_end + 512);
    let items = listing(&out);
    assert_well_formed(&items);
    let data: HashMap<_, _> = items.iter().map(|i| (i.path.as_str(), &i.data)).collect();
    assert_eq!(data["d/b-big"], &big);
    assert_eq!(data["d/d-bigger"], &bigger);
    assert_eq!(data["d/c-small"], b"small again");
}
