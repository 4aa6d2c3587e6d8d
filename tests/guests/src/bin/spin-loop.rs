//! Never ends on its own: `spin` (default) burns CPU in guest code, `sleep`
//! blocks in a host call.
fn main() {
    if std::env::args().nth(1).as_deref() == Some("sleep") {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}
