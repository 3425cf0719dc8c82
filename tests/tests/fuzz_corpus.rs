//! The cargo-fuzz corpora of every decoder of outside input (`fuzz/corpus/<target>`), replayed
//! on stable through the very checks the fuzz targets make (`fuzz/src/lib.rs`, included
//! below), so an input that ever found a bug fails `cargo test` wherever cargo-fuzz does not
//! run. The `mount` corpus is replayed by `flash_model.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)] // the fuzz targets use all of it; this test uses what it replays
mod harness;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir`, sorted; none if it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths
}

/// A target's checks.
type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 5] = [
    ("envelope", harness::check_envelope),
    ("armour", harness::check_armour),
    ("import", harness::check_import),
    ("provision", harness::check_provision),
    ("console", harness::check_console),
];

/// Run every file of `fuzz/corpus/<target>` through `check`; name the file that fails.
fn replay(target: &str, check: Check, at_least: usize) {
    let paths = inputs(&fuzz_dir().join("corpus").join(target));
    for path in &paths {
        let data = std::fs::read(path).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!(
                "fuzz corpus entry {} fails its target's checks",
                path.display()
            );
        }
    }
    assert!(
        paths.len() >= at_least,
        "{target}: corpus of {} inputs",
        paths.len()
    );
}

#[test]
fn envelope_corpus_decodes_without_panicking() {
    replay("envelope", harness::check_envelope, 100);
}

#[test]
fn armour_corpus_decodes_without_panicking() {
    replay("armour", harness::check_armour, 100);
}

#[test]
fn import_corpus_is_refused_or_installed_cleanly() {
    replay("import", harness::check_import, 100);
}

#[test]
fn provision_corpus_decodes_without_panicking() {
    replay("provision", harness::check_provision, 100);
}

#[test]
fn console_corpus_runs_without_panicking() {
    replay("console", harness::check_console, 100);
}

/// Inputs that still crash a target because of a core bug (`fuzz/regressions/README.md`):
/// once the bug is fixed, this passes and the inputs join their corpus.
#[test]
fn regressions_are_fixed() {
    let mut failing = Vec::new();
    for (target, check) in TARGETS {
        for path in inputs(&fuzz_dir().join("regressions").join(target)) {
            let data = std::fs::read(&path).unwrap();
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                failing.push(path.display().to_string());
            }
        }
    }
    assert!(failing.is_empty(), "still failing: {failing:?}");
}

/// The seeds the harness itself makes are valid inputs: each is accepted, not merely survived.
#[test]
fn harness_seeds_are_valid() {
    let b = harness::baseline();
    for (kind, text) in &b.signed {
        let mut agent = b.agent();
        let r = harness::import_checked(&mut agent, harness::NOW, text);
        assert!(
            matches!(r, Ok(i) if !matches!(i, tally_core::Imported::AlreadyApplied(_))),
            "{kind:?}: {r:?}"
        );
    }
    for (kind, env) in harness::envelopes() {
        let e = tally_core::envelope::open(&env, tally_core::Limits::USAGE_FILE_BYTES).unwrap();
        assert_eq!(e.kind(), kind);
    }
}

/// Writes the harness-made seeds (valid envelopes and files of this device) into
/// `fuzz/corpus/`; `fuzz/seed-corpus.sh` runs it and adds the simulator-made ones.
#[test]
#[ignore = "writes into fuzz/corpus; run by fuzz/seed-corpus.sh"]
fn write_harness_seeds() {
    let corpus = fuzz_dir().join("corpus");
    let put = |target: &str, name: &str, data: &[u8]| {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
    };
    let b = harness::baseline();
    for (kind, env) in harness::envelopes() {
        let name = format!("{kind:?}").to_lowercase();
        put("envelope", &name, &[&[0u8][..], &env].concat());
        put(
            "envelope",
            &format!("{name}-usage-limit"),
            &[&[1u8][..], &env].concat(),
        );
    }
    put("armour", "usage", &b.usage_file);
    for (i, (kind, text)) in b.signed.iter().enumerate() {
        let name = format!("{kind:?}").to_lowercase();
        put("armour", &name, text);
        // The valid file itself (raw text), and the template unmutated under each signer.
        put(
            "import",
            &format!("{name}-raw"),
            &[&[0u8][..], text].concat(),
        );
        let pick = i as u8 + 1;
        put("import", &format!("{name}-template"), &[pick]);
        put("import", &format!("{name}-second-key"), &[pick | 0x20]);
        put("import", &format!("{name}-other-label"), &[pick | 0x40]);
        put("import", &format!("{name}-rogue-key"), &[pick | 0x80]);
    }
    put("import", "usage-raw", &[&[0u8][..], &b.usage_file].concat());
    // The simulator's files (fuzz/seed-corpus.sh put them in the armour corpus) as envelopes.
    let mut sim: Vec<PathBuf> = std::fs::read_dir(corpus.join("armour"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-sim-")
        })
        .collect();
    sim.sort();
    let mut bin = vec![0u8; tally_core::Limits::USAGE_FILE_BYTES + 256];
    for path in sim {
        let text = std::fs::read(&path).unwrap();
        let (_, n) = tally_core::envelope::dearmour(&text, &mut bin).unwrap();
        let name = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace("seed-", "");
        put("envelope", &name, &[&[1u8][..], &bin[..n]].concat());
    }
}
