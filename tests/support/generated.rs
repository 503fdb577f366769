//! Files generated from one source of truth and committed (the hosts' constants, their WIT
//! record types): each test regenerates its files and holds the committed copies to them.

use std::path::Path;

/// Asserts that `path` (from the repository root) holds exactly `text`, what `source` generates.
/// With the variable `write_var` set, writes `text` there first: the way to update the file after
/// changing its source.
pub fn assert_committed(path: &str, text: &str, write_var: &str, source: &str) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    if std::env::var_os(write_var).is_some() {
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert_eq!(
        committed, text,
        "{path} is not what {source} generates: run this test with {write_var}=1 and commit the file"
    );
}
