//! Prints every argument and every environment variable it can see, one per
//! line, so tests can check that exactly what was granted arrives.
fn main() {
    for arg in std::env::args() {
        println!("arg: {arg}");
    }
    for (key, value) in std::env::vars() {
        println!("env: {key}={value}");
    }
}
