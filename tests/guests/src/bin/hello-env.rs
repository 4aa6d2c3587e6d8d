//! Greets `$NAME`, or the World when no NAME was granted.
fn main() {
    let name = std::env::var("NAME").unwrap_or_else(|_| "World".to_string());
    println!("Hello, {name}!");
}
