//! `cargo bench`: the end-to-end throughput benchmark (same as `ml-connector bench`), run
//! against the release binary built for this bench. `MLC_BENCH_DOCS=N` sets the number of
//! documents (default 10,000); `MLC_BENCH_BASELINE=1` also runs the plain-loop baseline and
//! prints the gateway's throughput as a percentage of it (same as `bench --baseline`).

use ml_connector::commands::bench;

fn main() {
    ml_connector::tls::install_crypto_provider();
    let docs = std::env::var("MLC_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let with_baseline = std::env::var("MLC_BENCH_BASELINE").is_ok_and(|v| v == "1");
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_ml-connector"));
    let gateway = bench::measure(docs, binary).unwrap_or_else(|e| fail(&e));
    println!("{gateway}");
    if with_baseline {
        let limit = bench::measure_baseline(docs).unwrap_or_else(|e| fail(&e));
        println!("{limit}");
        println!("{}", bench::comparison(&gateway, &limit));
    }
}

fn fail(reason: &str) -> ! {
    eprintln!("bench failed: {reason}");
    std::process::exit(1);
}
