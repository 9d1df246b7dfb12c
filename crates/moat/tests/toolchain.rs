//! The Rust version the workspace states (`rust-version`, and the README's Quickstart) is
//! one every locked dependency builds with: none of them asks for a newer one. (What moat's
//! own code uses of the standard library is checked against it by clippy's
//! `incompatible_msrv` lint.)

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// A version's numbers, missing ones as 0 (`1.89` is `1.89.0`).
fn numbers(version: &str) -> Vec<u64> {
    let mut n: Vec<u64> = version
        .split('.')
        .map(|part| part.parse().expect("a version is numbers and dots"))
        .collect();
    n.resize(3, 0);
    n
}

#[test]
fn no_locked_dependency_needs_a_newer_rust_than_the_workspace_states() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Not offline: the metadata of every platform's dependencies is read, and a build
    // downloads only the host's.
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(&root)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: Vec<&Value> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let packages = metadata["packages"].as_array().unwrap();
    let stated = packages
        .iter()
        .find(|p| p["name"] == "moat")
        .and_then(|p| p["rust_version"].as_str())
        .expect("the workspace states a rust-version");
    let newer: Vec<String> = packages
        .iter()
        .filter(|p| !members.contains(&&p["id"]))
        .filter_map(|p| {
            let needs = p["rust_version"].as_str()?;
            let (name, version) = (p["name"].as_str()?, p["version"].as_str()?);
            (numbers(needs) > numbers(stated)).then(|| format!("{name} {version} needs {needs}"))
        })
        .collect();
    assert!(
        newer.is_empty(),
        "the workspace states rust-version {stated}, but: {newer:?}"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("Rust toolchain ({stated} or newer)")),
        "README.md does not state Rust {stated}"
    );
}
