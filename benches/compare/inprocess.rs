//! In-process timing of `thumbnail::render` for `make bench-compare`
//! (placeholder until the comparison script lands).
fn main() {}
