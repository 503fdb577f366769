//! The embedded component must never be stale: `build.rs` rebuilds it when any crate it is
//! built from changes. This holds its watch list to the guest's path dependencies.

use std::path::Path;

#[test]
fn build_script_watches_every_crate_of_the_component() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let workspace: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
    let guest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("guest/Cargo.toml")).unwrap()).unwrap();
    let build = std::fs::read_to_string(root.join("host/build.rs")).unwrap();
    let shared = workspace["workspace"]["dependencies"].as_table().unwrap();
    let mut paths = Vec::new();
    for (name, spec) in guest["dependencies"].as_table().unwrap() {
        let path = spec
            .get("path")
            .or_else(|| shared.get(name).and_then(|s| s.get("path")))
            .and_then(|p| p.as_str());
        if let Some(path) = path {
            paths.push(path.to_string());
        }
    }
    assert!(paths.contains(&"core".to_string()), "{paths:?}");
    for path in paths {
        for watched in [format!("\"{path}/src\""), format!("\"{path}/Cargo.toml\"")] {
            assert!(
                build.contains(&watched),
                "host/build.rs does not watch {watched}: editing it would leave the embedded \
                 component stale"
            );
        }
    }
}
