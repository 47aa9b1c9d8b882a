//! Every size a layer controls is bounded: metadata, entries, paths, open files, messages.

use super::*;

#[test]
fn more_layers_than_open_files_are_read_one_at_a_time() {
    let layers: Vec<Layer> = (0..40)
        .map(|i| {
            Layer::new()
                .file(&format!("f{i:02}"), 0o644, format!("{i}").as_bytes())
                .file("shared", 0o644, format!("top {i}").as_bytes())
        })
        .collect();
    let (items, _) = merged(layers);
    assert_eq!(items.len(), 41);
    assert_eq!(items[0], file("f00", 0o644, b"0"));
    assert_eq!(items[39], file("f39", 0o644, b"39"));
    assert_eq!(items[40], file("shared", 0o644, b"top 39"));
}

#[test]
fn refusal_messages_show_at_most_200_characters_of_a_name() {
    let name = format!("../{}", "x".repeat(3000));
    let layer = Layer::new()
        .pax(&[("path", name.as_bytes())])
        .file("x", 0o644, b"x");
    let msg = refusal(vec![layer]);
    assert!(msg.len() < 400, "{} bytes: {msg}", msg.len());
    assert!(msg.contains("... (3003 bytes)"), "{msg}");
}

#[test]
fn pax_headers_before_one_entry_are_capped_in_total() {
    let big = vec![b'v'; 900 << 10];
    let a = [("SCHILY.xattr.user.a", big.as_slice())];
    let b = [("SCHILY.xattr.user.b", big.as_slice())];
    // Each header is under the limit of 1 MiB; both before one entry are not.
    let msg = refusal(vec![Layer::new().pax(&a).pax(&b).file("f", 0o644, b"f")]);
    assert!(
        msg.contains("for one entry total over the limit of 1048576 bytes"),
        "{msg}"
    );
    // A GNU long name counts too (no ustar prefix can hold a 200-byte component).
    let long = format!("{}/f", "d".repeat(200));
    let nearly = vec![b'v'; (1 << 20) - 64];
    let nearly = [("SCHILY.xattr.user.a", nearly.as_slice())];
    let msg = refusal(vec![Layer::new().pax(&nearly).file(&long, 0o644, b"f")]);
    assert!(msg.contains("for one entry total over the limit"), "{msg}");
    // The count starts again at each entry.
    let (items, _) = merged(vec![Layer::new()
        .pax(&a)
        .file("f", 0o644, b"f")
        .pax(&b)
        .file("g", 0o644, b"g")]);
    assert_eq!(items.len(), 2);
}

/// Scans `layer` into a tree with the given limits, as pass one does.
fn scan_with_limits(
    layer: Layer,
    nodes: usize,
    pending_bytes: usize,
) -> std::result::Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar");
    std::fs::write(&path, layer.0.into_inner().unwrap()).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    let mut reader = reader::LayerReader::new(file, len);
    let mut tree = tree::Tree::with_limits(nodes, pending_bytes);
    let mut scanned = tree::Scanned::default();
    while let Some(entry) = reader.next_entry().unwrap() {
        tree.scan(0, entry, &mut scanned)?;
    }
    Ok(())
}

#[test]
fn whiteouts_count_against_the_entry_limit() {
    let layer = || {
        Layer::new()
            .whiteout(".wh.a")
            .whiteout("d/.wh.b")
            .whiteout("d/.wh..wh..opq")
            .whiteout(".wh.c")
    };
    scan_with_limits(layer(), 4, tree::MAX_PENDING_BYTES).unwrap();
    let err = scan_with_limits(layer(), 3, tree::MAX_PENDING_BYTES).unwrap_err();
    assert!(
        err.contains("more than 3 entries, whiteouts and directories"),
        "{err}"
    );
}

#[test]
fn paths_a_layer_holds_while_read_are_capped() {
    // Deep paths of 4,000 bytes: 20 of them, entries or whiteouts, are over 64 KiB.
    let deep = |i: usize| format!("{}{i:03}", "d/".repeat(1998));
    let files = |n: usize| (0..n).fold(Layer::new(), |l, i| l.file(&deep(i), 0o644, b""));
    let whiteouts = |n: usize| {
        (0..n).fold(Layer::new(), |l, i| {
            l.whiteout(&format!("{}/.wh.x", deep(i)))
        })
    };
    for (what, layer) in [("files", files(20)), ("whiteouts", whiteouts(20))] {
        let err = scan_with_limits(layer, tree::MAX_NODES, 64 << 10).unwrap_err();
        assert!(
            err.contains("the layer's paths and whiteouts take more than 65536 bytes"),
            "{what}: {err}"
        );
    }
    scan_with_limits(files(10), tree::MAX_NODES, 64 << 10).unwrap();
    scan_with_limits(whiteouts(10), tree::MAX_NODES, 64 << 10).unwrap();
}

#[test]
fn output_path_through_a_symlink_is_capped_at_path_max() {
    // 20 components of 200 bytes: 4019 bytes, a valid target.
    let target = vec!["t".repeat(200); 20].join("/");
    let lower = Layer::new().symlink("l", &target);
    // A short name in the layer, 4275 bytes once the symlink is followed.
    let name = format!("l/{}", "n".repeat(255));
    let msg = refusal(vec![lower, Layer::new().file(&name, 0o644, b"x")]);
    assert!(
        msg.contains("path of 4275 bytes through symlinks is too long"),
        "{msg}"
    );
    // Just under the limit is fine: 4020 + 75 = 4095 bytes.
    let lower = Layer::new().symlink("l", &target);
    let name = format!("l/{}", "n".repeat(75));
    let (items, _) = merged(vec![lower, Layer::new().file(&name, 0o644, b"x")]);
    assert_eq!(items.last().unwrap().path.len(), 4095);
}
