//! What a pull shows while it runs and when it ends: bars that fit the terminal (checked on a
//! real pty from util-linux `script`, at 80 and 200 columns), plain lines when stderr is not a
//! terminal, writing progress, and a last line naming the size really written.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use drag_core::progress::{Event, FnProgress};
use drag_core::pull::Cache;
use drag_core::{Destination, PullOptions};
use drag_tests::bytes::noise;
use drag_tests::drag_cli::{drag_bin, fresh_dir, pull, run_with_timeout, with_drag_env};
use drag_tests::{require_tool, Compression, FakeRegistry, Fault, Image, ImageBuilder};
use drag_tests::{DragOutput, LayerBuilder};

/// Three layers: one that compresses to almost nothing (so `--decompress` writes far more
/// than was fetched), one of noise big enough to stall in, one small.
fn image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("zeros", vec![0u8; 4 << 20], 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("noise", noise(2 << 20, 3), 0o644)
                .build(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("small", "small\n", 0o644)
                .build(Compression::Gzip),
        )
        .build()
}

fn registry_with_image() -> (FakeRegistry, Image, String) {
    let registry = FakeRegistry::start();
    let image = image();
    registry.push_image("app", "1", &image);
    let reference = format!("{}/app:1", registry.host());
    (registry, image, reference)
}

/// What a terminal `columns` wide shows, row by row. indicatif ends no row with a newline: it
/// pads each line with spaces to the terminal's width and lets the terminal move on to the
/// next row. So the text between line breaks, carriage returns and escape sequences (cursor
/// moves and line clears; NO_COLOR keeps colours out) is cut every `columns` characters, as
/// the terminal does: a line wider than the terminal shows up as a row holding its end.
fn screen_rows(raw: &str, columns: usize) -> Vec<String> {
    let mut segments = vec![String::new()];
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.next_if_eq(&'[').is_some() {
                    // Parameters, then one final byte in @..~.
                    for p in chars.by_ref() {
                        if ('@'..='~').contains(&p) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
                segments.push(String::new());
            }
            '\r' | '\n' => segments.push(String::new()),
            c => segments.last_mut().expect("one segment at least").push(c),
        }
    }
    let mut rows = Vec::new();
    for segment in segments {
        let chars: Vec<char> = segment.chars().collect();
        for row in chars.chunks(columns) {
            let row: String = row.iter().collect();
            if !row.trim().is_empty() {
                rows.push(row.trim_end().to_string());
            }
        }
    }
    rows
}

/// Checks that every row of the screen begins one of the lines drag draws (a bar, the overall
/// and writing lines, a message, the summary), or continues a message drag folded itself: a
/// line that ran past the edge would leave a row starting mid-line.
#[track_caller]
fn assert_rows_are_whole_lines(rows: &[String], reference: &str, columns: usize) {
    const STARTS: &[&str] = &[
        "layer ",
        "config ",
        "total ",
        "writing",
        "resolved ",
        "retrying ",
        "fetching ",
        "wrote ",
    ];
    let mut folding = false;
    for row in rows {
        let message = ["resolved ", "retrying ", "writing ", "wrote "]
            .iter()
            .any(|s| row.starts_with(s))
            || row.starts_with(reference);
        let continued = folding && row.starts_with("  ") && !row[2..].starts_with(' ');
        assert!(
            message || continued || STARTS.iter().any(|s| row.starts_with(s)),
            "a row that starts mid-line on a {columns}-column terminal: {row:?} in {rows:#?}"
        );
        folding = message || continued;
    }
}

/// The width of the bar in a row (`[===>   ]`).
fn bar_width(row: &str) -> usize {
    match (row.find('['), row.find(']')) {
        (Some(open), Some(close)) if close > open => close - open - 1,
        _ => 0,
    }
}

/// The byte count in the last line, `wrote PATH: 4.0 MiB (4196352 bytes)`.
fn bytes_in(line: &str) -> u64 {
    let start = line.rfind('(').expect("a byte count in parentheses") + 1;
    let count = line[start..]
        .strip_suffix(" bytes)")
        .unwrap_or_else(|| panic!("no byte count in {line:?}"));
    count
        .parse()
        .unwrap_or_else(|_| panic!("no byte count in {line:?}"))
}

/// `drag pull ARGS` in `dir` on a pty `columns` wide: what the terminal was sent.
fn pull_on_a_terminal(script: &Path, dir: &Path, columns: u16, args: &[&str]) -> DragOutput {
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let drag: Vec<String> = std::iter::once(drag_bin().display().to_string())
        .chain(std::iter::once("pull".to_string()))
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| quote(&a))
        .collect();
    let line = format!("stty cols {columns} rows 50 && exec {}", drag.join(" "));
    let mut cmd = with_drag_env(script);
    cmd.current_dir(dir).args(["-qec", &line, "/dev/null"]);
    run_with_timeout(&mut cmd, Duration::from_secs(120))
}

#[test]
fn bars_fit_80_and_200_column_terminals_and_the_last_line_is_the_size_written() {
    let Some(script) = require_tool("script") else {
        return;
    };
    for columns in [80u16, 200] {
        let (registry, image, reference) = registry_with_image();
        // A pause mid-download, so the bars are drawn while bytes are moving.
        registry.fault(Fault::Stall {
            digest: image.layers[1].blob.digest.clone(),
            after_bytes: 1 << 20,
            for_ms: 1500,
        });
        let dir = fresh_dir("progress-tty-");
        let out = pull_on_a_terminal(
            &script,
            &dir,
            columns,
            &["--decompress", "-o", "out.tar", &reference],
        );
        let shown = out.stdout_text();
        assert!(out.success(), "{columns} columns: {shown}");
        let rows = screen_rows(&shown, usize::from(columns));
        assert_rows_are_whole_lines(&rows, &reference, usize::from(columns));
        assert!(
            rows.iter()
                .any(|r| r.starts_with("layer 2/3 ") && r.contains('[')),
            "no bar for layer 2 at {columns} columns: {rows:#?}"
        );
        assert!(
            rows.iter()
                .any(|r| r.starts_with("total ") && r.contains("/s") && r.contains("ETA")),
            "no overall line at {columns} columns: {rows:#?}"
        );
        // The bars stretch with the terminal: its width is read, not assumed.
        let widest = rows.iter().map(|r| bar_width(r)).max().unwrap_or(0);
        let stretched = match columns {
            80 => (5..=40).contains(&widest),
            _ => widest >= 100,
        };
        assert!(
            stretched,
            "bars of at most {widest} columns on a {columns}-column terminal: {rows:#?}"
        );
        let last = rows.last().expect("some output");
        assert!(last.starts_with("wrote out.tar: "), "{last:?}");
        let written = std::fs::metadata(dir.join("out.tar")).unwrap().len();
        assert_eq!(bytes_in(last), written, "{last:?}");
    }
}

#[test]
fn plain_output_has_a_line_per_phase_and_stdout_ends_with_the_bytes_streamed() {
    let (_registry, _image, reference) = registry_with_image();
    let dir = fresh_dir("progress-plain-");
    let out = pull(&dir, &["--decompress", "-o", "-", &reference]);
    out.assert_success();
    assert!(
        !out.stderr.contains('\x1b') && !out.stderr.contains('\r'),
        "{:?}",
        out.stderr
    );
    assert!(out.stderr.contains("fetching 3 blobs, "), "{}", out.stderr);
    assert!(out.stderr.contains("writing -\n"), "{}", out.stderr);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("streamed ") && last.ends_with("bytes) to standard output"),
        "{last}"
    );
    let count = last.strip_suffix(" to standard output").unwrap_or(last);
    assert_eq!(bytes_in(count), out.stdout.len() as u64, "{last}");
}

#[test]
fn an_oci_layout_s_last_line_is_the_size_of_its_files() {
    let (_registry, _image, reference) = registry_with_image();
    let dir = fresh_dir("progress-oci-");
    let out = pull(&dir, &["--format", "oci", "-o", "layout", &reference]);
    out.assert_success();
    let mut total = 0;
    let mut pending = vec![dir.join("layout")];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("wrote layout: "), "{last}");
    assert_eq!(bytes_in(last), total, "{last}");
}

#[test]
fn writing_progress_counts_up_to_the_archive_written_and_fetching_announces_every_blob() {
    let (_registry, _image, reference) = registry_with_image();
    let dir = fresh_dir("progress-events-");
    let mut opts = PullOptions::new(vec![reference]);
    opts.output = Some(Destination::Path(dir.join("out.tar")));
    opts.cache = Cache::Dir(fresh_dir("progress-events-cache-"));
    opts.decompress = true;
    let events = Mutex::new(Vec::new());
    let progress = FnProgress(|e: Event| events.lock().unwrap().push(e));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime
        .block_on(drag_core::pull(&opts, &progress))
        .expect("pull");
    let events = events.into_inner().unwrap();

    let written = std::fs::metadata(dir.join("out.tar")).unwrap().len();
    assert_eq!(report.written, written);
    let fetched = report.images[0].size;
    assert!(
        written > 2 * fetched,
        "--decompress wrote {written} bytes of {fetched} fetched"
    );

    let writes: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::WriteProgress { done, total } => Some((*done, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(
        writes.last(),
        Some(&(written, written)),
        "the last report is the whole archive: {writes:?}"
    );
    assert!(
        writes.windows(2).all(|w| w[0].0 <= w[1].0),
        "writing progress goes back: {writes:?}"
    );

    let announced: u64 = events
        .iter()
        .filter_map(|e| match e {
            Event::Fetching { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .sum();
    assert_eq!(announced, fetched, "config and layers, each once");
}
