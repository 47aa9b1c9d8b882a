//! `drag sync` against the real distribution registry: tag filters on a real listing,
//! re-rooting under `--to` and `dest:` mapping, a failing entry that does not stop the
//! others (exit 1), the JSON report, a re-run that skips everything, `--dry-run` that
//! transfers nothing, a plain list, a bundle pushed on the other side, and a bad list refused
//! before any request.

use drag_tests::real_registry::served_manifest;
use std::path::Path;

use drag_tests::bytes::noise;
use drag_tests::drag_cli::{fresh_dir, pull};
use drag_tests::{
    drag, run, Compression, DragOutput, Image, ImageBuilder, IndexBuilder, LayerBuilder,
    ManifestFormat, RealRegistry,
};
use serde_json::Value;

fn image(seed: u64) -> Image {
    image_for(seed, "amd64")
}

fn image_for(seed: u64, arch: &str) -> Image {
    ImageBuilder::new()
        .format(ManifestFormat::Oci)
        .arch(arch)
        .layer(
            LayerBuilder::new()
                .file("bin/tool", noise(2_000, seed), 0o755)
                .build(Compression::Gzip),
        )
        .build()
}

fn sync(dir: &Path, args: &[&str]) -> DragOutput {
    run(drag().current_dir(dir).arg("sync").args(args))
}

fn report(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("the report");
    let json: Value = serde_json::from_str(&text).expect("JSON report");
    json["entries"].as_array().expect("entries").clone()
}

fn status_of<'a>(entries: &'a [Value], source: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["source"] == source)
        .unwrap_or_else(|| panic!("no entry for {source}: {entries:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_filters_maps_reports_keeps_going_past_a_failure_and_a_rerun_skips() {
    let (Some(a), Some(b)) = (RealRegistry::start().await, RealRegistry::start().await) else {
        return;
    };
    let (ah, bh) = (a.host(), b.host());
    let mut app = Vec::new();
    for (i, tag) in ["1.0", "1.1", "1.2", "1.3", "2.0", "edge", "1.3-arm"]
        .iter()
        .enumerate()
    {
        let img = image(100 + i as u64);
        a.push_image("src/app", tag, &img).await;
        app.push((tag.to_string(), img));
    }
    let digest = |tag: &str| app.iter().find(|(t, _)| t == tag).unwrap().1.digest();
    let tool = image(1);
    a.push_image("src/tool", "1", &tool).await;

    let dir = fresh_dir("sync-to-");
    std::fs::write(
        dir.join("list.yaml"),
        format!(
            "images:\n  - {ah}/src/tool:1\n  - source: {ah}/src/app\n    tags: {{regex: '^1', exclude: ['-arm'], semver: '>=1.1', latest: 2}}\n  - {ah}/missing/repo:1\n  - source: {ah}/src/app\n    tags: ['2.0']\n    dest: tools/app\n"
        ),
    )
    .unwrap();
    let to = format!("{bh}/mirror");
    let out = sync(
        &dir,
        &["-q", "list.yaml", "--to", &to, "--report", "report.json"],
    );
    out.assert_failure();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("4 copied") && out.stderr.contains("1 failed"),
        "{}",
        out.stderr
    );

    // The filters keep 1.3 and 1.2: 1.0 is below the range, 1.3-arm excluded, 1.1 not among
    // the latest two, 2.0 and edge not matching the regex.
    for (repo, tag) in [
        ("mirror/src/app", "1.3"),
        ("mirror/src/app", "1.2"),
        ("tools/app", "2.0"),
    ] {
        let served = served_manifest(&bh, repo, tag).await;
        assert_eq!(
            served.map(|b| drag_tests::sha256_digest(&b)).as_deref(),
            Some(digest(tag)),
            "{repo}:{tag}"
        );
    }
    for tag in ["1.0", "1.1", "2.0", "edge", "1.3-arm"] {
        assert!(
            served_manifest(&bh, "mirror/src/app", tag).await.is_none(),
            "{tag} was copied"
        );
    }
    let served = served_manifest(&bh, "mirror/src/tool", "1").await;
    assert_eq!(served.as_deref(), Some(&tool.manifest.bytes[..]));

    let entries = report(&dir);
    assert_eq!(entries.len(), 5, "{entries:#?}");
    let tool_entry = status_of(&entries, &format!("{ah}/src/tool:1"));
    assert_eq!(tool_entry["status"], "copied");
    assert_eq!(tool_entry["destination"], format!("{to}/src/tool:1"));
    assert_eq!(tool_entry["digest"], tool.digest());
    let mapped = status_of(&entries, &format!("{ah}/src/app:2.0"));
    assert_eq!(mapped["destination"], format!("{bh}/tools/app:2.0"));
    assert_eq!(mapped["status"], "copied");
    let missing = status_of(&entries, &format!("{ah}/missing/repo:1"));
    assert_eq!(missing["status"], "failed");
    assert!(
        missing["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{missing:#?}"
    );
    assert!(missing["digest"].is_null());

    // A re-run finds everything there: nothing copied, the missing one still failing.
    let out = sync(
        &dir,
        &["-q", "list.yaml", "--to", &to, "--report", "report.json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let entries = report(&dir);
    let statuses: Vec<_> = entries
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "skipped").count(),
        4,
        "{entries:#?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "failed").count(),
        1,
        "{entries:#?}"
    );
    assert!(out.stderr.contains("0 copied, 4 skipped"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_of_a_plain_list_plans_with_digests_and_transfers_nothing() {
    let (Some(a), Some(b)) = (RealRegistry::start().await, RealRegistry::start().await) else {
        return;
    };
    let (one, two) = (image(7), image(8));
    a.push_image("src/one", "1", &one).await;
    a.push_image("src/two", "2", &two).await;
    let dir = fresh_dir("sync-dry-");
    std::fs::write(
        dir.join("list.txt"),
        format!(
            "# mirrors\n\n{0}/src/one:1\n{0}/src/two:2  # pinned\n",
            a.host()
        ),
    )
    .unwrap();
    let out = sync(
        &dir,
        &[
            "-q",
            "list.txt",
            "--to",
            &b.host(),
            "--dry-run",
            "--report",
            "report.json",
        ],
    );
    out.assert_success();
    let entries = report(&dir);
    assert_eq!(entries.len(), 2);
    for (e, img) in entries.iter().zip([&one, &two]) {
        assert_eq!(e["status"], "planned", "{e:#?}");
        assert_eq!(e["digest"], img.digest());
    }
    assert!(served_manifest(&b.host(), "src/one", "1").await.is_none());
    assert!(served_manifest(&b.host(), "src/two", "2").await.is_none());
    // No blob went either.
    for (repo, img) in [("src/one", &one), ("src/two", &two)] {
        for layer in &img.layers {
            let url = format!("http://{}/v2/{repo}/blobs/{}", b.host(), layer.blob.digest);
            let status = reqwest::Client::new()
                .head(url)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status.as_u16(), 404, "{repo} {}", layer.blob.digest);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_from_sync_pushed_on_the_other_side_lands_every_image() {
    let (Some(a), Some(c)) = (RealRegistry::start().await, RealRegistry::start().await) else {
        return;
    };
    let (one, two) = (image(30), image(31));
    a.push_image("src/one", "1", &one).await;
    a.push_image("src/two", "2", &two).await;
    let dir = fresh_dir("sync-bundle-");
    std::fs::write(
        dir.join("list.yaml"),
        format!(
            "images:\n  - {0}/src/one:1\n  - source: {0}/src/two\n    tags: {{regex: '^2$'}}\n",
            a.host()
        ),
    )
    .unwrap();
    let out = sync(
        &dir,
        &[
            "-q",
            "list.yaml",
            "-o",
            "bundle.tar",
            "--report",
            "report.json",
        ],
    );
    out.assert_success();
    let entries = report(&dir);
    assert_eq!(entries.len(), 2, "{entries:#?}");
    for (e, img) in entries.iter().zip([&one, &two]) {
        assert_eq!(e["status"], "copied", "{e:#?}");
        assert_eq!(e["digest"], img.digest(), "{e:#?}");
        assert!(e["destination"].is_null());
    }
    let bundle = dir.join("bundle.tar").to_string_lossy().into_owned();
    run(drag().args(["push", "-q", &bundle, "--to", &format!("{}/pre", c.host())]))
        .assert_success();
    for (repo, tag, img) in [("pre/src/one", "1", &one), ("pre/src/two", "2", &two)] {
        let served = served_manifest(&c.host(), repo, tag).await;
        assert_eq!(served.as_deref(), Some(&img.manifest.bytes[..]), "{repo}");
    }
    // The bundle pulls back as the images it was made of.
    pull(
        &dir,
        &[
            "-q",
            "-o",
            "back.tar",
            &format!("{}/pre/src/one:1", c.host()),
        ],
    )
    .assert_success();
}

#[tokio::test(flavor = "multi_thread")]
async fn one_listed_platform_copies_that_image_and_no_platforms_copy_the_whole_index() {
    let (Some(a), Some(b)) = (RealRegistry::start().await, RealRegistry::start().await) else {
        return;
    };
    let (amd, arm) = (image_for(50, "amd64"), image_for(51, "arm64"));
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(&amd)
        .image(&arm)
        .build();
    a.push_index("src/multi", "1", &index, &[&amd, &arm]).await;
    let dir = fresh_dir("sync-platforms-");
    std::fs::write(
        dir.join("list.yaml"),
        format!(
            "images:\n  - {0}/src/multi:1\n  - source: {0}/src/multi\n    tags: ['1']\n    platforms: [linux/arm64]\n    dest: arm/multi\n",
            a.host()
        ),
    )
    .unwrap();
    let out = sync(
        &dir,
        &[
            "-q",
            "list.yaml",
            "--to",
            &b.host(),
            "--report",
            "report.json",
        ],
    );
    out.assert_success();
    let whole = served_manifest(&b.host(), "src/multi", "1").await;
    assert_eq!(whole.as_deref(), Some(&index.bytes[..]));
    let one = served_manifest(&b.host(), "arm/multi", "1").await;
    assert_eq!(one.as_deref(), Some(&arm.manifest.bytes[..]));
    let entries = report(&dir);
    assert_eq!(entries[0]["digest"], index.digest);
    assert_eq!(entries[1]["digest"], arm.digest());
}

#[test]
fn a_bad_list_is_refused_naming_the_entry_before_any_request() {
    let dir = fresh_dir("sync-bad-");
    std::fs::write(
        dir.join("list.yaml"),
        "images:\n  - 127.0.0.1:1/ok:1\n  - source: 127.0.0.1:1/app\n    tags: {regex: '(['}\n",
    )
    .unwrap();
    let out = sync(&dir, &["list.yaml", "--to", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("entry 2 (127.0.0.1:1/app)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("regex"), "{}", out.stderr);
    assert!(!out.stderr.contains("connect"), "{}", out.stderr);

    std::fs::write(dir.join("list.yaml"), "images:\n  - source: [unclosed\n").unwrap();
    let out = sync(&dir, &["list.yaml", "--to", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("sync list"), "{}", out.stderr);
}
