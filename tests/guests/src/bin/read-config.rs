//! Reads /data/config.json and prints it; then writes /data/out.txt when the
//! first argument is `write`, reporting whether the write was allowed.
fn main() {
    match std::fs::read_to_string("/data/config.json") {
        Ok(text) => print!("{text}"),
        Err(err) => {
            eprintln!("cannot read /data/config.json: {err}");
            std::process::exit(1);
        }
    }
    if std::env::args().nth(1).as_deref() == Some("write") {
        match std::fs::write("/data/out.txt", "written by the guest\n") {
            Ok(()) => println!("write: ok"),
            Err(err) => println!("write: denied ({})", err.kind()),
        }
    }
}
