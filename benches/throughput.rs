//! `cargo bench`: the end-to-end throughput benchmark (same as `ml-connector bench`), run
//! against the release binary built for this bench.

fn main() {
    ml_connector::tls::install_crypto_provider();
    let docs = std::env::var("MLC_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_ml-connector"));
    match ml_connector::commands::bench::measure(docs, binary) {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::exit(1);
        }
    }
}
