//! Traps in a named function (`unreachable`), or with `overflow` recurses
//! until the stack is exhausted, or with `panic` panics.
#[inline(never)]
fn deliberately_unreachable() {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let local = std::hint::black_box([depth; 16]);
    recurse(depth + 1) + local[3]
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("overflow") => println!("{}", recurse(0)),
        Some("panic") => panic!("the guest panicked on purpose"),
        _ => deliberately_unreachable(),
    }
}
