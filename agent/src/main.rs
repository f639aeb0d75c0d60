//! scout-agent binary.
fn main() {}
