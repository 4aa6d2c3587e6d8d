//! A WASI command: greets $NAME and shows the files it was granted under /data.
//!
//!     cargo build --release --target wasm32-wasip2
//!     nimbus run --env NAME=Ada --dir data::/data:ro target/wasm32-wasip2/release/hello-cli.wasm
fn main() {
    let name = std::env::var("NAME").unwrap_or_else(|_| "World".to_string());
    println!("Hello, {name}!");
    match std::fs::read_to_string("/data/message.txt") {
        Ok(message) => print!("/data/message.txt says: {message}"),
        Err(_) => println!("(no /data granted: run with --dir data::/data:ro)"),
    }
    match std::fs::read_to_string("/etc/hostname") {
        Ok(_) => println!("I could read the host's /etc/hostname: that should never happen"),
        Err(_) => println!("The host's /etc/hostname is out of reach, as it should be."),
    }
}
