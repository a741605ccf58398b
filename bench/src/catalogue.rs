//! Catalogue search: `search_catalogue` calls against a generated catalogue of cars, in process.
//!
//! Writes a deterministic CSV of `--rows` cars (make, model, year, price, km, fuel, colour, location;
//! the model names the gearbox, `handgeschakeld` or `automaat`)
//! to a temporary directory, loads it with `wa_agent::agent::tools::catalogue::Catalogue`, then runs
//! each query of a fixed mix `--iterations` times through `run_tool` (argument parsing, filters,
//! matching and the compact JSON result: everything the tool does) and reports mean, p50, p99 and
//! max per query and over all calls, in microseconds. No server, no Redis.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use wa_agent::agent::tools::catalogue::Catalogue;

use crate::args::Args;

const MAKES: &[(&str, &[&str])] = &[
    (
        "BMW",
        &[
            "X5 xDrive45e",
            "X3 sDrive20i",
            "320d Touring",
            "118i",
            "i4 eDrive40",
        ],
    ),
    (
        "Volkswagen",
        &[
            "Golf 2.0 TDI",
            "Polo 1.0 TSI",
            "Tiguan",
            "ID.3 Pro",
            "Passat Variant",
        ],
    ),
    (
        "Škoda",
        &["Octavia Combi", "Fabia", "Superb", "Kodiaq", "Enyaq iV"],
    ),
    ("Citroën", &["C3", "C4", "C5 Aircross", "ë-C4", "Berlingo"]),
    ("Peugeot", &["208", "e-208", "308 SW", "3008", "5008"]),
    (
        "Renault",
        &["Clio", "Mégane E-Tech", "Captur", "Arkana", "Austral"],
    ),
    (
        "Toyota",
        &["Yaris", "Corolla Touring Sports", "C-HR", "RAV4", "Aygo X"],
    ),
    ("Kia", &["Picanto", "Ceed Sportswagon", "Niro", "Sportage", "EV6"]),
    (
        "Opel",
        &["Corsa", "Astra Sports Tourer", "Mokka", "Grandland", "Zafira"],
    ),
    (
        "Mercedes-Benz",
        &["A 180", "C 300e", "GLC 300e", "EQA 250", "B 200"],
    ),
];
const FUELS: &[&str] = &["benzine", "diesel", "hybride", "elektrisch"];
const GEARBOXES: &[&str] = &["handgeschakeld", "automaat"];
const COLOURS: &[&str] = &["zwart", "wit", "grijs", "zilver", "blauw", "rood", "groen"];
const LOCATIONS: &[&str] = &[
    "Utrecht",
    "Amersfoort",
    "Nieuwegein",
    "Zeist",
    "Houten",
    "Den Bosch",
];

/// A small deterministic generator (xorshift64*), so every run searches the same catalogue.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

/// The generated catalogue as CSV text.
pub fn generate(rows: usize) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::from("make,model,year,price,km,fuel,colour,location\n");
    for _ in 0..rows {
        let (make, models) = MAKES[(rng.next() % MAKES.len() as u64) as usize];
        let model = rng.pick(models);
        let year = rng.range(2012, 2026);
        let price = rng.range(60, 900) * 100 - 5;
        let km = rng.range(0, 250) * 1000;
        let _ = writeln!(
            out,
            "{make},{model} {},{year},{price},{km},{},{},{}",
            rng.pick(GEARBOXES),
            rng.pick(FUELS),
            rng.pick(COLOURS),
            rng.pick(LOCATIONS)
        );
    }
    out
}

/// The query mix: (label, tool arguments).
fn queries() -> Vec<(&'static str, Value)> {
    vec![
        ("BMW X5", json!({"query": "BMW X5"})),
        ("diesel automaat", json!({"query": "diesel automaat"})),
        ("skoda octavia utrecht", json!({"query": "skoda octavia utrecht"})),
        ("no match (zeppelin)", json!({"query": "zeppelin"})),
        (
            "filters only: max_price 30000, min_year 2020, fuel diesel",
            json!({"query": "", "filters": {"max_price": 30000, "min_year": 2020, "fuel": "diesel"}}),
        ),
        (
            "volkswagen golf + max_km 100000, colour grijs",
            json!({"query": "volkswagen golf", "filters": {"max_km": 100000, "colour": "grijs"}}),
        ),
    ]
}

fn summary(h: &Histogram<u64>) -> Value {
    let us = |ns: u64| (ns as f64 / 1000.0 * 100.0).round() / 100.0;
    json!({
        "mean_us": (h.mean() / 1000.0 * 100.0).round() / 100.0,
        "p50_us": us(h.value_at_quantile(0.50)),
        "p99_us": us(h.value_at_quantile(0.99)),
        "max_us": us(h.max()),
        "calls": h.len(),
    })
}

/// Runs the catalogue benchmark.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let rows: usize = args.get("rows", 10_000)?;
    let iterations: usize = args.get("iterations", 2_000)?;
    if rows == 0 || iterations == 0 {
        bail!("--rows and --iterations must be positive");
    }
    let dir = std::env::temp_dir().join(format!("wa-agent-bench-catalogue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("creating the temporary directory")?;
    let path = dir.join("cars.csv");
    std::fs::write(&path, generate(rows)).context("writing the generated catalogue")?;
    let started = Instant::now();
    let loaded = Catalogue::load(&path);
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let _ = std::fs::remove_dir_all(&dir);
    let catalogue = loaded.context("loading the generated catalogue")?;

    let mut all = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)?;
    let mut per_query = Vec::new();
    for (label, arguments) in queries() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)?;
        let mut total = 0;
        for _ in 0..iterations {
            let t = Instant::now();
            let out = catalogue
                .run_tool(&arguments)
                .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
            let ns = t.elapsed().as_nanos() as u64;
            h.saturating_record(ns.max(1));
            all.saturating_record(ns.max(1));
            total = std::hint::black_box(out).len();
        }
        let matches = serde_json::from_str::<Value>(&catalogue.run_tool(&arguments)?)?["total"].clone();
        let mut s = summary(&h);
        s["query"] = json!(label);
        s["matches"] = matches;
        s["result_bytes"] = json!(total);
        println!(
            "{label:<58} matches {:>5}  mean {:>7} µs  p50 {:>7} µs  p99 {:>7} µs  max {:>7} µs",
            s["matches"], s["mean_us"], s["p50_us"], s["p99_us"], s["max_us"]
        );
        per_query.push(s);
    }
    let mut result = summary(&all);
    result["rows"] = json!(rows);
    result["iterations"] = json!(iterations);
    result["load_ms"] = json!((load_ms * 10.0).round() / 10.0);
    result["queries"] = json!(per_query);
    println!(
        "all {} calls over {rows} rows: mean {} µs, p50 {} µs, p99 {} µs, max {} µs; load {:.1} ms",
        result["calls"], result["mean_us"], result["p50_us"], result["p99_us"], result["max_us"], load_ms
    );
    crate::stats::print_result(&result);
    Ok(())
}
