//! A WASI 0.3 command (`wasi:cli/run@0.3.0`, an async export). The first
//! argument picks what it does:
//!
//! - `args`: prints its arguments and the environment variable `GREETING`;
//! - `files`: reads `/data/input.txt` and writes `/data/output.txt`;
//! - `clocks`: checks the wall clock, the monotonic clock and `wait-for`;
//! - `random`: prints how many random bytes it got and whether two draws differ;
//! - `exit`: calls `wasi:cli/exit.exit(err)`; `fail`: returns `Err` from `run`;

use wasip3::cli::{environment, exit, stdout};
use wasip3::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
use wasip3::wit_stream;

wasip3::cli::command::export!(Cli);

struct Cli;

async fn print(text: String) {
    let (mut tx, rx) = wit_stream::new();
    futures::join!(
        async {
            let _ = stdout::write_via_stream(rx).await;
        },
        async {
            tx.write_all(text.into_bytes()).await;
            drop(tx);
        }
    );
}

impl wasip3::exports::cli::run::Guest for Cli {
    async fn run() -> Result<(), ()> {
        let args = environment::get_arguments();
        let command = args.get(1).map(String::as_str).unwrap_or("");
        match command {
            "args" => {
                let greeting = environment::get_environment()
                    .into_iter()
                    .find(|(k, _)| k == "GREETING")
                    .map(|(_, v)| v);
                print(format!("p3 args={:?} GREETING={greeting:?}\n", &args[1..])).await;
            }
            "files" => {
                let Some((dir, _)) = wasip3::filesystem::preopens::get_directories()
                    .into_iter()
                    .find(|(_, path)| path == "/data")
                else {
                    print("no /data\n".into()).await;
                    return Err(());
                };
                let input = dir
                    .open_at(PathFlags::empty(), "input.txt".into(), OpenFlags::empty(), DescriptorFlags::READ)
                    .await
                    .map_err(|_| ())?;
                let (data, done) = input.read_via_stream(0);
                let data = data.collect().await;
                let _ = done.await;
                print(format!("p3 read {:?}\n", String::from_utf8_lossy(&data))).await;
                let output = dir
                    .open_at(
                        PathFlags::empty(),
                        "output.txt".into(),
                        OpenFlags::CREATE | OpenFlags::TRUNCATE,
                        DescriptorFlags::WRITE,
                    )
                    .await;
                match output {
                    Ok(output) => {
                        let (mut tx, rx) = wit_stream::new();
                        let written = output.write_via_stream(rx, 0);
                        tx.write_all(b"written by a p3 guest\n".to_vec()).await;
                        drop(tx);
                        let write = written.await;
                        print(format!("p3 write: {}\n", if write.is_ok() { "ok" } else { "failed" })).await;
                    }
                    Err(err) => print(format!("p3 write: denied ({err:?})\n")).await,
                }
            }
            "clocks" => {
                let now = wasip3::clocks::system_clock::now();
                let start = wasip3::clocks::monotonic_clock::now();
                wasip3::clocks::monotonic_clock::wait_for(20_000_000).await;
                let elapsed = wasip3::clocks::monotonic_clock::now() - start;
                print(format!(
                    "p3 wall-clock-after-2020={} waited-at-least-20ms={}\n",
                    now.seconds > 1_577_836_800,
                    elapsed >= 20_000_000
                ))
                .await;
            }
            "random" => {
                let a = wasip3::random::random::get_random_bytes(32);
                let b = wasip3::random::random::get_random_bytes(32);
                print(format!("p3 random {} bytes, differ={}\n", a.len(), a != b)).await;
            }
            "exit" => exit::exit(Err(())),
            "fail" => return Err(()),
            other => {
                print(format!("unknown command {other:?}\n")).await;
                return Err(());
            }
        }
        Ok(())
    }
}

fn main() {}
