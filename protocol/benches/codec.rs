//! NT1 codec benchmarks (written with the benchmark task).

fn main() {}
