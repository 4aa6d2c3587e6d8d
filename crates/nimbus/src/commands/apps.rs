//! `nimbus apps`: list, inspect, remove and roll back the apps on a node.

use clap::{Args, Subcommand};
use nimbus_platform::http::Method;
use nimbus_platform::serde_json;

use crate::commands::deploy::NodeClientArgs;
use crate::exit;

/// Manage the apps on a node.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  nimbus apps list --to http://127.0.0.1:3001
  nimbus apps info hello
  nimbus apps rollback hello
  nimbus apps rm hello")]
// `--token` (declared in deploy.rs) is accepted after the subcommand too, as
// `--to` is: `nimbus apps list --token T`.
#[command(mut_arg("token", |arg| arg.global(true)))]
pub struct AppsArgs {
    #[command(subcommand)]
    command: AppsCommand,

    #[command(flatten)]
    node: NodeClientArgs,

    /// Print the node's JSON answer as it is.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum AppsCommand {
    /// List every app: name, release, version, URL.
    #[command(alias = "ls")]
    List,
    /// Show one app: its releases, hostnames and routes.
    Info {
        /// The app's name.
        name: String,
    },
    /// Remove an app and its releases.
    #[command(alias = "remove")]
    Rm {
        /// The app's name.
        name: String,
    },
    /// Go back to the app's previous release (again: forward again).
    Rollback {
        /// The app's name.
        name: String,
    },
}

pub fn main(args: AppsArgs) -> i32 {
    match apps(args) {
        Ok(()) => 0,
        Err(err) => exit::report(&err),
    }
}

fn apps(args: AppsArgs) -> anyhow::Result<()> {
    let client = args.node.client()?;
    let (method, path) = match &args.command {
        AppsCommand::List => (Method::GET, "/v1/apps".to_owned()),
        AppsCommand::Info { name } => (Method::GET, format!("/v1/apps/{name}")),
        AppsCommand::Rm { name } => (Method::DELETE, format!("/v1/apps/{name}")),
        AppsCommand::Rollback { name } => (Method::POST, format!("/v1/apps/{name}/rollback")),
    };
    let response = client.send_blocking(method, &path, Vec::new())?.ok()?;
    if args.json {
        print!("{}", String::from_utf8_lossy(&response.body));
        return Ok(());
    }
    let value = response.json()?;
    match &args.command {
        AppsCommand::List => {
            let apps = value["apps"].as_array().cloned().unwrap_or_default();
            if apps.is_empty() {
                println!("No apps deployed");
                return Ok(());
            }
            println!("{:<24} {:<17} {:<10} URL", "NAME", "RELEASE", "VERSION");
            for app in apps {
                println!(
                    "{:<24} {:<17} {:<10} {}",
                    app["name"].as_str().unwrap_or_default(),
                    app["current"]["id"].as_str().unwrap_or_default(),
                    app["current"]["app_version"].as_str().unwrap_or("-"),
                    app["url"].as_str().unwrap_or_default()
                );
            }
        }
        AppsCommand::Info { .. } => print_info(&value),
        AppsCommand::Rm { name } => println!("Removed {name}"),
        AppsCommand::Rollback { name } => {
            println!(
                "Rolled {name} back to release {}",
                value["current"]["id"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}

fn print_release(label: &str, release: &serde_json::Value) {
    if release.is_null() {
        println!("{label:<10} -");
        return;
    }
    println!(
        "{label:<10} {} (version {}, {} files, {} bytes, deployed at {}{})",
        release["id"].as_str().unwrap_or("?"),
        release["app_version"].as_str().unwrap_or("-"),
        release["files"],
        release["size"],
        release["deployed_at"]
            .as_u64()
            .map(|secs| humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
            )
            .to_string())
            .unwrap_or_default(),
        release["signed_by"]
            .as_str()
            .map(|k| format!(", signed by {k}"))
            .unwrap_or_default()
    );
    if let Some(source) = release["source"].as_str() {
        println!("{:<10} from {source}", "");
    }
}

fn print_info(app: &serde_json::Value) {
    println!(
        "{:<10} {}",
        "name",
        app["name"].as_str().unwrap_or_default()
    );
    println!("{:<10} {}", "url", app["url"].as_str().unwrap_or_default());
    for host in app["hostnames"].as_array().into_iter().flatten() {
        println!("{:<10} {}", "hostname", host.as_str().unwrap_or_default());
    }
    let loaded = if app["loaded"].as_bool().unwrap_or(false) {
        "yes".to_owned()
    } else if let Some(error) = app["error"].as_str() {
        format!("no: it cannot load (answers 503): {error}")
    } else {
        "no (loads on its next request)".to_owned()
    };
    println!("{:<10} {loaded}", "loaded");
    let settings = &app["settings"];
    let variables: Vec<&str> = settings["variables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    if !variables.is_empty() {
        println!(
            "{:<10} {} (values hidden)",
            "variables",
            variables.join(", ")
        );
    }
    if settings["runtime_config"].as_bool().unwrap_or(false) {
        println!("{:<10} set", "runtime config");
    }
    if let Some(n) = settings["sqlite"].as_u64().filter(|n| *n > 0) {
        println!("{:<10} {n} statement(s) on load", "sqlite");
    }
    print_release("current", &app["current"]);
    print_release("previous", &app["previous"]);
    for route in app["routes"].as_array().into_iter().flatten() {
        println!(
            "{:<10} {} -> {}",
            "route",
            route["route"].as_str().unwrap_or_default(),
            route["component"].as_str().unwrap_or_default()
        );
    }
}
