//! A hostile program: tries to reach outside its one preopened directory
//! (`/sandbox`) in every way a WASI guest can, and prints one line per attempt:
//! `BLOCKED <attempt>` or `ESCAPED <attempt>: <what it saw>`.
//!
//! Extra arguments name paths to try as well (e.g. symlinks the test planted).
use std::io::Read;

fn attempt_read(label: &str, path: &str) {
    match std::fs::File::open(path) {
        Ok(mut file) => {
            let mut text = String::new();
            match file.read_to_string(&mut text) {
                Ok(_) => println!("ESCAPED {label}: {}", text.lines().next().unwrap_or("")),
                Err(err) => println!("BLOCKED {label} (opened, read failed: {err})"),
            }
        }
        Err(_) => println!("BLOCKED {label}"),
    }
}

fn attempt_list(label: &str, path: &str) {
    match std::fs::read_dir(path) {
        Ok(entries) => {
            let names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            println!("LISTED {label}: {}", names.join(","));
        }
        Err(_) => println!("BLOCKED {label}"),
    }
}

fn main() {
    attempt_read("dotdot", "/sandbox/../secret.txt");
    attempt_read("dotdot-deep", "/sandbox/../../../../../../etc/passwd");
    attempt_read("absolute", "/etc/passwd");
    attempt_read("proc", "/proc/self/environ");
    attempt_read("relative", "../secret.txt");
    attempt_list("root", "/");
    attempt_list("sandbox", "/sandbox");
    for path in std::env::args().skip(1) {
        attempt_read(&format!("arg {path}"), &path);
    }
    match std::fs::write("/sandbox/../planted.txt", "x") {
        Ok(()) => println!("ESCAPED write-dotdot: wrote outside"),
        Err(_) => println!("BLOCKED write-dotdot"),
    }
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    println!("ENV {}", env.join(","));
    match std::net::TcpStream::connect("127.0.0.1:1") {
        Ok(_) => println!("ESCAPED socket: connected"),
        Err(_) => println!("BLOCKED socket"),
    }
}
