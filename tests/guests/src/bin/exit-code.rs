//! Exits with the status given as first argument (default 3).
//!
//! On wasip2, Rust's `std::process::exit` can only report success or failure
//! (wasi-libc maps it to `wasi:cli/exit.exit`), so by default this guest calls
//! `exit-with-code` (WASI 0.2.12) directly; with a second argument `std` it uses
//! `std::process::exit` on both targets.
use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let code: i32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let use_std = args.next().as_deref() == Some("std");
    println!("exiting with {code}");
    let _ = std::io::stdout().flush();
    #[cfg(target_env = "p2")]
    if !use_std {
        wasip2::cli::exit::exit_with_code(code as u8);
    }
    let _ = use_std;
    std::process::exit(code);
}
