//! Allocates (and touches) 1 MiB at a time, printing the total, until the
//! allocator fails. With `--try`, stops gracefully when the memory is refused
//! instead of aborting, and exits 0.
fn main() {
    let graceful = std::env::args().any(|a| a == "--try");
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = Vec::new();
        if graceful {
            if block.try_reserve_exact(1 << 20).is_err() {
                println!("refused after {} MiB", blocks.len());
                return;
            }
        }
        block.resize(1 << 20, 1u8);
        blocks.push(block);
        if blocks.len() % 16 == 0 {
            println!("holding {} MiB", blocks.len());
        }
    }
}
