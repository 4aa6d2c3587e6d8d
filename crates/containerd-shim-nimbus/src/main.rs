//! `containerd-shim-nimbus-v1`: containerd starts it for containers of the
//! runtime `io.containerd.nimbus.v1` (see docs/kubernetes.md).

use containerd_shim_nimbus::NimbusShim;
use containerd_shim_wasm::shim::Cli as _;

fn main() {
    // The long-running shim (not `start`, `delete` or `-v`) opens the
    // node's compile cache before the library forks the process that
    // creates containers, so that they inherit it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let one_shot = matches!(args.last().map(String::as_str), Some("start" | "delete"))
        || args.iter().any(|arg| arg == "-v" || arg == "--version");
    if !one_shot {
        containerd_shim_nimbus::cache::open();
    }
    NimbusShim::run(None);
}
