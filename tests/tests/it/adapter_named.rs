//! Which adapter served a reference is part of what `drag inspect` says about it.

use drag_tests::{drag, run, Compression, FakeRegistry, ImageBuilder, LayerBuilder};

fn adapter_of(args: &[&str]) -> serde_json::Value {
    let out = run(drag().arg("inspect").args(args));
    out.assert_success();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("inspect printed no JSON ({e}):\n{}", out.stdout_text()));
    v["adapter"].clone()
}

#[test]
fn inspect_json_names_the_adapter_chosen() {
    let registry = FakeRegistry::start();
    let image = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("hello", "hi", 0o644)
                .build(Compression::Gzip),
        )
        .build();
    registry.push_image("app", "1", &image);
    registry.push_image("windows/nanoserver", "1", &image);

    // A host no adapter claims goes to the catch-all.
    let reference = format!("{}/app:1", registry.host());
    assert_eq!(adapter_of(&[&reference]), "oci");

    // `--registry` picks another; the JSON says which.
    let endpoint = registry.url();
    assert_eq!(
        adapter_of(&[
            "--registry",
            "mcr",
            "--endpoint",
            &endpoint,
            "windows/nanoserver:1"
        ]),
        "mcr"
    );
}
