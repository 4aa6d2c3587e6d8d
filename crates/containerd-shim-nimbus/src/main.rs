//! `containerd-shim-nimbus-v1`: containerd starts it for containers of the
//! runtime `io.containerd.nimbus.v1` (see docs/kubernetes.md).

use containerd_shim_nimbus::NimbusShim;
use containerd_shim_wasm::shim::Cli as _;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let action = args.last().map(String::as_str);
    if action == Some("start") {
        // `start` spawns the long-running shim, which passes its environment
        // on to the containers' processes: keep containerd's out of it
        // (`shim_env_allowed`). Single-threaded here, before the library
        // starts.
        for (name, _) in std::env::vars_os() {
            let keep = name
                .to_str()
                .is_some_and(containerd_shim_nimbus::shim_env_allowed);
            if !keep {
                std::env::remove_var(&name);
            }
        }
    }
    // The long-running shim (not `start`, `delete` or `-v`) opens the
    // node's compile cache before the library forks the process that
    // creates containers, so that they inherit it.
    let one_shot = matches!(action, Some("start" | "delete"))
        || args.iter().any(|arg| arg == "-v" || arg == "--version");
    if !one_shot {
        containerd_shim_nimbus::cache::open();
    }
    NimbusShim::run(None);
}
