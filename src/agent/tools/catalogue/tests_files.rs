//! Loading catalogue files (formats, errors with lines) and the reloading handle.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/catalogue")
        .join(name)
}

fn error_of(name: &str) -> CatalogueError {
    Catalogue::load(&fixture(name)).expect_err(name)
}

#[test]
fn bad_csv_files_name_the_file_and_line() {
    let e = error_of("bad_field_count.csv");
    assert_eq!(e.line(), Some(3));
    let text = e.to_string();
    assert!(
        text.contains("bad_field_count.csv, line 3: this row has 4 fields but the header row has 3"),
        "{text}"
    );
    let e = error_of("bad_empty_header.csv");
    assert_eq!(e.line(), Some(1));
    assert!(
        e.to_string().contains("column 2 of the header row has no name"),
        "{e}"
    );
    let e = error_of("bad_duplicate_header.csv");
    assert_eq!(e.line(), Some(1));
    assert!(e.to_string().contains("duplicate column name \"Merk\""), "{e}");
    let e = Catalogue::parse(Path::new("empty.csv"), b"").unwrap_err();
    assert!(e.to_string().contains("empty.csv, line 1: no header row"), "{e}");
    let e = Catalogue::parse(Path::new("latin1.csv"), b"merk\nCitro\xebn\n").unwrap_err();
    assert_eq!(e.line(), Some(2), "{e}");
}

#[test]
fn bad_json_files_name_the_file_and_line() {
    let e = error_of("bad_not_array.json");
    assert!(
        e.to_string()
            .contains("bad_not_array.json, line 1: the file must be a JSON array of objects"),
        "{e}"
    );
    let e = error_of("bad_element.json");
    assert_eq!(e.line(), Some(3));
    assert!(
        e.to_string()
            .contains("item 2 of the array is a string, not an object"),
        "{e}"
    );
    let e = error_of("bad_syntax.json");
    assert_eq!(e.line(), Some(3));
    assert!(e.to_string().contains("invalid JSON"), "{e}");
    let e = Catalogue::load(&fixture("missing.csv")).unwrap_err();
    assert!(
        matches!(e, CatalogueError::Io { .. }) && e.to_string().contains("missing.csv"),
        "{e}"
    );
}

#[test]
fn format_is_sniffed_without_a_known_extension() {
    let j = Catalogue::parse(Path::new("stock.txt"), b"  [{\"merk\": \"Kia\", \"prijs\": 1}]").unwrap();
    assert_eq!(j.columns()[0].name, "merk");
    assert_eq!(j.columns()[1].kind, ColumnKind::Number);
    let c = Catalogue::parse(Path::new("stock"), b"merk;model\nKia;Niro\n").unwrap();
    assert_eq!(
        c.columns().len(),
        1,
        "without an extension, non-JSON content is CSV (comma-separated)"
    );
    let empty = Catalogue::parse(Path::new("empty.json"), b"[]").unwrap();
    assert!(empty.is_empty(), "an empty catalogue is allowed");
    assert_eq!(empty.search("bmw", None).unwrap().total, 0);
}

fn write(path: &Path, content: &str) {
    // Write then rename, as an operator's tooling should, so the handle never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn the_handle_reloads_a_changed_file_and_keeps_the_old_one_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stock.csv");
    write(&path, "merk,model\nKia,Niro\n");
    let handle = CatalogueHandle::open_with_interval(&path, Duration::ZERO).unwrap();
    let clone = handle.clone();
    assert_eq!(handle.search("niro", None).unwrap().total, 1);

    write(&path, "merk,model\nKia,Niro\nKia,Ceed Sportswagon\n");
    assert_eq!(
        clone.search("kia", None).unwrap().total,
        2,
        "a clone sees the reload"
    );
    assert_eq!(handle.current().len(), 2);

    write(&path, "merk,model\nKia,Niro,extra field\n");
    assert_eq!(
        handle.search("kia", None).unwrap().total,
        2,
        "a bad file keeps the previous catalogue"
    );
    assert_eq!(handle.current().len(), 2);

    write(&path, "merk,model,prijs\nOpel,Corsa,17950\n");
    assert_eq!(
        handle.search("corsa", None).unwrap().total,
        1,
        "a fixed file is picked up"
    );
    assert!(handle.tool_schema().to_string().contains("max_prijs"));

    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        handle.search("corsa", None).unwrap().total,
        1,
        "a deleted file keeps the catalogue"
    );
}

#[test]
fn the_handle_looks_at_the_file_at_most_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stock.json");
    write(&path, r#"[{"merk": "Kia"}]"#);
    let handle = CatalogueHandle::open_with_interval(&path, Duration::from_secs(3600)).unwrap();
    write(&path, r#"[{"merk": "Kia"}, {"merk": "Kia"}]"#);
    assert_eq!(
        handle.search("kia", None).unwrap().total,
        1,
        "within the interval the file is not looked at"
    );
    assert_eq!(handle.path(), path);
    assert!(
        CatalogueHandle::open(dir.path().join("nope.csv")).is_err(),
        "a missing file fails at start-up"
    );
}
