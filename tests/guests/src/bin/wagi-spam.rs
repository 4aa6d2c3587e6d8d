//! A WAGI program (wasm32-wasip1) that makes millions of tiny writes, for
//! the hostile-guest suite. Arguments (the query string's terms under WAGI's
//! default argv): `stdout` or `stderr` (where the writes go) and a count.
//! It prints a CGI header, then `count` one-byte writes, each flushed (so each
//! is a separate `fd_write`), then `done`. With `files` and a path instead, it
//! opens that file over and over, keeping every handle, and prints how many
//! opens succeeded before the first refusal (a handle bomb).

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let to_stderr = args.iter().any(|a| a == "stderr");
    let count: u64 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(b"content-type: text/plain\n\n")
        .expect("header");
    stdout.flush().expect("flush");
    if args.iter().any(|a| a == "files") {
        let path = args.iter().skip(1).find(|a| a.starts_with('/')).cloned().unwrap_or_default();
        let mut open = Vec::new();
        let refusal = loop {
            match std::fs::File::open(&path) {
                Ok(file) => open.push(file),
                Err(err) => break err,
            }
            if open.len() >= 1_000_000 {
                break std::io::Error::other("a million files open");
            }
        };
        writeln!(stdout, "opened {} then: {refusal}", open.len()).expect("report");
        return;
    }
    if to_stderr {
        let mut stderr = std::io::stderr().lock();
        for _ in 0..count {
            stderr.write_all(b".").expect("stderr write");
        }
    } else {
        for _ in 0..count {
            stdout.write_all(b".").expect("stdout write");
            stdout.flush().expect("stdout flush");
        }
    }
    stdout.write_all(b"\ndone\n").expect("tail");
    stdout.flush().expect("flush");
}
