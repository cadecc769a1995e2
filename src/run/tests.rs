use super::*;

#[test]
fn a_suite_argument_names_a_bundled_suite_when_no_such_file_exists() {
    for arg in [
        "kontocloud",
        "KontoCloud",
        "kontocloud-go-live",
        "kontocloud-go-live.yaml",
    ] {
        let (name, _) = bundled_suite_named(Path::new(arg)).expect(arg);
        assert_eq!(name, "suites/kontocloud-go-live.yaml");
    }
    assert!(bundled_suite_named(Path::new("nosuch")).is_none());
    let missing = load_suite_arg(Path::new("kontocloude")).err().unwrap();
    assert!(
        missing.0[0]
            .message
            .contains("nor is it a bundled suite (by name: kontocloud, smartpay"),
        "{missing}"
    );
    // A file that exists is read, not shadowed by the bundled suite of that name.
    assert!(bundled_suite_named(Path::new("Cargo.toml")).is_none());
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("kontocloud");
    std::fs::write(&own, "not a suite").unwrap();
    assert!(bundled_suite_named(&own).is_none());
    let loaded = load_suite_arg(Path::new("ppaas")).unwrap();
    assert_eq!(loaded.value.provider, "ppaas");
    assert_eq!(loaded.file, Path::new("built-in:suites/ppaas-go-live.yaml"));
}

#[test]
fn a_bare_target_file_name_means_the_current_folder() {
    assert_eq!(target_dir(Path::new("my-shop.yaml")), PathBuf::from("."));
    assert_eq!(target_dir(Path::new("./my-shop.yaml")), PathBuf::from("."));
    assert_eq!(
        target_dir(Path::new("targets/my-shop.yaml")),
        PathBuf::from("targets")
    );
    assert_eq!(target_dir(Path::new("/a/b.yaml")), PathBuf::from("/a"));
}
