//! Searching, filtering and the tool schema, on the fixtures of `tests/fixtures/catalogue/`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::load::cell_value;
use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/catalogue")
        .join(name)
}

fn csv() -> Catalogue {
    Catalogue::load(&fixture("voorraad.csv")).expect("the CSV fixture loads")
}

fn json_catalogue() -> Catalogue {
    Catalogue::load(&fixture("voorraad.json")).expect("the JSON fixture loads")
}

fn filters(v: Value) -> Map<String, Value> {
    v.as_object().expect("filters are an object").clone()
}

fn models(r: &SearchResult) -> Vec<&str> {
    r.items
        .iter()
        .map(|i| i["model"].as_str().expect("a model"))
        .collect()
}

#[test]
fn csv_cells_keep_their_type() {
    let c = csv();
    assert_eq!(c.len(), 9);
    let kinds: Vec<(&str, ColumnKind)> = c.columns().iter().map(|c| (c.name.as_str(), c.kind)).collect();
    assert_eq!(kinds[2], ("bouwjaar", ColumnKind::Number));
    assert_eq!(kinds[3], ("prijs", ColumnKind::Number));
    assert_eq!(kinds[5], ("brandstof", ColumnKind::Text));
    let r = c.search("octavia", None).unwrap();
    assert_eq!(
        r.items,
        vec![
            json!({"merk": "Škoda", "model": "Octavia Combi 1.5 TSI", "bouwjaar": 2022, "prijs": 27450,
            "km": 35000, "brandstof": "benzine", "kleur": "Wit", "vestiging": "Utrecht"})
        ],
        "numbers stay numbers, text keeps its accents, the empty kenteken cell is left out"
    );
}

#[test]
fn cell_values_parse_numbers_but_not_codes() {
    assert_eq!(cell_value("58950"), json!(58950));
    assert_eq!(cell_value("-3"), json!(-3));
    assert_eq!(cell_value("1.6"), json!(1.6));
    assert_eq!(cell_value("0.5"), json!(0.5));
    assert_eq!(cell_value("0"), json!(0));
    assert_eq!(
        cell_value("0612"),
        json!("0612"),
        "a leading zero is a code, not a number"
    );
    assert_eq!(cell_value("3.0d"), json!("3.0d"));
    assert_eq!(cell_value("inf"), json!("inf"));
    assert_eq!(cell_value("P-123-XX"), json!("P-123-XX"));
    assert_eq!(cell_value(""), Value::Null);
}

#[test]
fn matching_ignores_case_and_diacritics() {
    let c = csv();
    for q in ["skoda", "ŠKODA", "Skóda"] {
        assert_eq!(
            models(&c.search(q, None).unwrap()),
            vec!["Octavia Combi 1.5 TSI"],
            "query {q:?}"
        );
    }
    assert_eq!(
        models(&c.search("citroen", None).unwrap()),
        vec!["C5 Aircross automaat"]
    );
    assert_eq!(models(&c.search("megane", None).unwrap()), vec!["Mégane E-Tech"]);
    let j = json_catalogue();
    assert_eq!(models(&j.search("Citroën", None).unwrap()), vec!["ë-C4"]);
    assert_eq!(models(&j.search("e c4", None).unwrap()), vec!["ë-C4"]);
}

#[test]
fn rows_matching_more_words_come_first_and_only_they_count() {
    let c = csv();
    let r = c.search("BMW X5", None).unwrap();
    assert_eq!(models(&r), vec!["X5 xDrive45e"]);
    assert_eq!(
        r.total, 1,
        "only rows matching every word count when any row does"
    );
    assert!(!r.partial_match);
    let r = c.search("bmw", None).unwrap();
    assert_eq!(r.total, 3);
    assert_eq!(
        models(&r),
        vec!["X5 xDrive45e", "320d Touring", "X3 sDrive20i"],
        "equal scores keep file order"
    );
    // Words are looked for in every column: fuel and gearbox live in different columns.
    let r = c.search("diesel automaat", None).unwrap();
    assert_eq!(models(&r), vec!["Golf 2.0 TDI automaat"]);
}

#[test]
fn whole_words_beat_parts_of_words() {
    let c = csv();
    // "tour" is only ever part of a word.
    let r = c.search("tour", None).unwrap();
    assert_eq!(models(&r), vec!["320d Touring", "Astra Sports Tourer"]);
    // "e" is a whole word of "Mégane E-Tech" (and of "e-208 Allure"), and only part of other words.
    let r = c.search("e", None).unwrap();
    assert_eq!(&models(&r)[..2], ["e-208 Allure", "Mégane E-Tech"]);
    assert!(r.total > 2, "parts of words still match, ranked lower");
}

#[test]
fn partial_matches_are_flagged_and_nothing_is_nothing() {
    let c = csv();
    let r = c.search("bmw zeppelin", None).unwrap();
    assert!(r.partial_match);
    assert_eq!(r.total, 3);
    let r = c.search("zeppelin", None).unwrap();
    assert_eq!(
        r,
        SearchResult {
            total: 0,
            items: vec![],
            partial_match: false
        }
    );
    assert_eq!(r.to_json(), json!({"total": 0, "items": []}));
}

#[test]
fn numeric_and_text_filters_narrow_the_matches() {
    let c = csv();
    let r = c
        .search(
            "",
            Some(&filters(json!({"max_prijs": 25000, "min_bouwjaar": 2019}))),
        )
        .unwrap();
    assert_eq!(
        models(&r),
        vec!["320d Touring", "C5 Aircross automaat", "Astra Sports Tourer"]
    );
    let r = c
        .search("", Some(&filters(json!({"brandstof": "DIESEL"}))))
        .unwrap();
    assert_eq!(r.total, 3);
    let r = c
        .search(
            "amersfoort",
            Some(&filters(json!({"brandstof": "diesel", "max_km": "100000"}))),
        )
        .unwrap();
    assert_eq!(
        models(&r),
        vec!["320d Touring"],
        "filters and words combine; a numeric string is accepted"
    );
    let r = c
        .search("bmw", Some(&filters(json!({"min_prijs": 100000}))))
        .unwrap();
    assert_eq!(r.total, 0);
    let r = c
        .search("", Some(&filters(json!({"merk": "skoda", "kenteken": null}))))
        .unwrap();
    assert_eq!(
        models(&r),
        vec!["Octavia Combi 1.5 TSI"],
        "text filters fold too; null filters are ignored"
    );
}

#[test]
fn bad_filters_name_the_allowed_ones() {
    let c = csv();
    let err = c
        .search("bmw", Some(&filters(json!({"max_kleur": 3}))))
        .unwrap_err();
    assert!(err.0.contains("\"max_kleur\""), "{err}");
    assert!(err.0.contains("min_prijs, max_prijs"), "{err}");
    assert!(err.0.contains("brandstof"), "{err}");
    let err = c.search("", Some(&filters(json!({"prijs": 3})))).unwrap_err();
    assert!(
        err.0.starts_with("unknown filter \"prijs\""),
        "numeric columns filter by min/max only: {err}"
    );
    let err = c
        .search("", Some(&filters(json!({"max_prijs": "goedkoop"}))))
        .unwrap_err();
    assert!(err.0.contains("needs a number"), "{err}");
    let err = c
        .search("", Some(&filters(json!({"kleur": ["rood"]}))))
        .unwrap_err();
    assert!(err.0.contains("needs a text value"), "{err}");
    // In the JSON fixture bouwjaar holds a string once, so it is a text column.
    let err = json_catalogue()
        .search("", Some(&filters(json!({"min_bouwjaar": 2020}))))
        .unwrap_err();
    assert!(err.0.contains("min_prijs, max_prijs, bouwjaar"), "{err}");
}

#[test]
fn at_most_five_items_with_the_total() {
    let rows: String = (0..12)
        .map(|i| format!("Kia,Picanto {i},{}\n", 10000 + i))
        .collect();
    let c = Catalogue::parse(
        Path::new("many.csv"),
        format!("merk,model,prijs\n{rows}").as_bytes(),
    )
    .unwrap();
    let r = c.search("kia", None).unwrap();
    assert_eq!(r.total, 12);
    assert_eq!(r.items.len(), MAX_RESULTS);
    assert_eq!(
        models(&r),
        vec!["Picanto 0", "Picanto 1", "Picanto 2", "Picanto 3", "Picanto 4"]
    );
    let r = c.search("kia picanto 7", None).unwrap();
    assert_eq!(
        models(&r)[0],
        "Picanto 7",
        "the row matching every word, as a whole word, comes first"
    );
}

#[test]
fn run_tool_reads_the_models_arguments() {
    let c = csv();
    let out = c
        .run_tool(&json!({"query": "renault", "filters": {"brandstof": "elektrisch"}}))
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(v["items"][0]["model"], "Mégane E-Tech");
    assert!(!out.contains('\n'), "compact JSON");
    assert!(c.run_tool(&json!({"query": 5})).is_err());
    assert!(c.run_tool(&json!("bmw")).is_err());
    assert!(c.run_tool(&json!({"query": "bmw", "filters": "cheap"})).is_err());
    assert_eq!(
        c.run_tool(&json!({"filters": {"merk": "opel"}}))
            .unwrap()
            .matches("Astra")
            .count(),
        1
    );
}

#[test]
fn the_schema_is_generated_from_the_columns() {
    let s = csv().tool_schema();
    assert_eq!(s["function"]["name"], SEARCH_CATALOGUE_TOOL);
    let description = s["function"]["description"].as_str().unwrap();
    assert!(description.contains("9 items"), "{description}");
    assert!(
        description.contains("merk, model, bouwjaar (number), prijs (number)"),
        "{description}"
    );
    let f = &s["function"]["parameters"]["properties"]["filters"]["properties"];
    let mut names: Vec<&String> = f.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "brandstof",
            "kenteken",
            "kleur",
            "max_bouwjaar",
            "max_km",
            "max_prijs",
            "merk",
            "min_bouwjaar",
            "min_km",
            "min_prijs",
            "model",
            "vestiging"
        ]
    );
    assert_eq!(f["max_prijs"]["type"], "number");
    let fuel = f["brandstof"]["description"].as_str().unwrap();
    assert!(fuel.contains("hybride, diesel, benzine, elektrisch"), "{fuel}");
    assert_eq!(s["function"]["parameters"]["required"], json!(["query"]));
}
