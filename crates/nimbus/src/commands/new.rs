//! `nimbus new`: scaffold an app from a template built into the binary.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;
use nimbus_manifest::ComponentId;

use crate::exit;

/// Create a new app from a template: a ready-to-build function (HTTP, Redis,
/// cron, NATS).
///
/// NAME names the app, its one component and its Cargo package. The files go
/// to ./NAME (or --output DIR), which must not exist or be empty. Run
/// `nimbus new --list` (or `nimbus new` alone) to see the templates.
#[derive(Debug, Args)]
#[command(after_help = after_help())]
pub struct NewArgs {
    /// The template to use (see --list).
    #[arg(value_name = "TEMPLATE")]
    template: Option<String>,

    /// The app's name: lowercase letters, digits and single '-' separators,
    /// starting with a letter (e.g. hello-world).
    #[arg(value_name = "NAME")]
    name: Option<String>,

    /// The template, as Spin's `spin new -t TEMPLATE NAME` takes it; NAME is
    /// then the only positional argument.
    #[arg(short = 't', long = "template", value_name = "TEMPLATE")]
    template_flag: Option<String>,

    /// The directory to create [default: ./NAME]
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,

    /// Use the default for every template parameter. Accepted for
    /// compatibility with `spin new`: nimbus new never prompts.
    #[arg(short, long)]
    accept_defaults: bool,

    /// List the templates and exit.
    #[arg(long, conflicts_with_all = ["template", "name", "template_flag", "output"])]
    list: bool,
}

/// A template built into the binary.
struct Template {
    /// What `nimbus new` is given, e.g. `http-rust`.
    id: &'static str,
    /// One line for `--list`.
    description: &'static str,
    /// Path in the new app (`/`-separated) and contents, with placeholders.
    files: &'static [(&'static str, &'static str)],
    /// What to do once it runs, for the "Next:" lines.
    try_it: &'static str,
}

/// Embeds `templates/<id>/<path>` from the repository root.
macro_rules! template_file {
    ($id:literal, $path:literal) => {
        (
            $path,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../templates/",
                $id,
                "/",
                $path
            )),
        )
    };
}

/// Every template, in the order `--list` shows them.
const TEMPLATES: &[Template] = &[
    Template {
        id: "http-rust",
        description: "HTTP handler in Rust: a wasm32-wasip2 component (wasi:http/incoming-handler)",
        files: &[
            template_file!("http-rust", "Cargo.toml"),
            template_file!("http-rust", "Cargo.lock"),
            template_file!("http-rust", "src/lib.rs"),
            template_file!("http-rust", "nimbus.toml"),
            template_file!("http-rust", "README.md"),
            template_file!("http-rust", ".gitignore"),
        ],
        try_it: "curl http://127.0.0.1:3000/",
    },
    Template {
        id: "http-wagi-rust",
        description: "HTTP handler in Rust run CGI-style (WAGI): a plain wasm32-wasip1 program",
        files: &[
            template_file!("http-wagi-rust", "Cargo.toml"),
            template_file!("http-wagi-rust", "Cargo.lock"),
            template_file!("http-wagi-rust", "src/main.rs"),
            template_file!("http-wagi-rust", "nimbus.toml"),
            template_file!("http-wagi-rust", "README.md"),
            template_file!("http-wagi-rust", ".gitignore"),
        ],
        try_it: "curl http://127.0.0.1:3000/",
    },
    Template {
        id: "redis-rust",
        description: "Redis message handler in Rust: a Spin SDK #[redis_component] run for every message on a channel",
        files: &[
            template_file!("redis-rust", "Cargo.toml"),
            template_file!("redis-rust", "Cargo.lock"),
            template_file!("redis-rust", "src/lib.rs"),
            template_file!("redis-rust", "nimbus.toml"),
            template_file!("redis-rust", "README.md"),
            template_file!("redis-rust", ".gitignore"),
        ],
        try_it: "redis-cli publish messages hello   # with redis-server on 127.0.0.1:6379",
    },
    Template {
        id: "cron-rust",
        description: "Cron job in Rust: spin-trigger-cron's world, run at every tick of a schedule",
        files: &[
            template_file!("cron-rust", "Cargo.toml"),
            template_file!("cron-rust", "Cargo.lock"),
            template_file!("cron-rust", "src/lib.rs"),
            template_file!("cron-rust", "wit/cron.wit"),
            template_file!("cron-rust", "nimbus.toml"),
            template_file!("cron-rust", "README.md"),
            template_file!("cron-rust", ".gitignore"),
        ],
        try_it: "# it prints a line every 2 seconds",
    },
    Template {
        id: "nats-rust",
        description: "NATS worker in Rust: a wasi:messaging incoming-handler run for every message on a subject, answering requests",
        files: &[
            template_file!("nats-rust", "Cargo.toml"),
            template_file!("nats-rust", "Cargo.lock"),
            template_file!("nats-rust", "src/lib.rs"),
            template_file!("nats-rust", "wit/types.wit"),
            template_file!("nats-rust", "wit/producer.wit"),
            template_file!("nats-rust", "wit/request-reply.wit"),
            template_file!("nats-rust", "wit/incoming-handler.wit"),
            template_file!("nats-rust", "wit/messaging.wit"),
            template_file!("nats-rust", "nimbus.toml"),
            template_file!("nats-rust", "README.md"),
            template_file!("nats-rust", ".gitignore"),
        ],
        try_it: "nats request jobs.shout hello   # with nats-server on 127.0.0.1:4222 and the NATS CLI",
    },
];

pub fn main(args: NewArgs) -> i32 {
    match new(args) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}

fn new(args: NewArgs) -> anyhow::Result<i32> {
    // `nimbus new -t TEMPLATE NAME` (Spin's spelling) or `nimbus new TEMPLATE NAME`.
    let (template, name) = match args.template_flag {
        Some(flag) => {
            if args.name.is_some() {
                eprintln!(
                    "error: the template is given twice: use `nimbus new TEMPLATE NAME` or `nimbus new -t TEMPLATE NAME`"
                );
                return Ok(USAGE);
            }
            (Some(flag), args.template)
        }
        None => (args.template, args.name),
    };
    let Some(template) = template.filter(|_| !args.list) else {
        print!("{}", template_list());
        return Ok(0);
    };
    let template = find_template(&template)?;
    let Some(name) = name else {
        eprintln!(
            "error: no NAME given: use `nimbus new {} NAME`, e.g. `nimbus new {} hello`",
            template.id, template.id
        );
        return Ok(USAGE);
    };
    validate_name(&name)?;

    let dir = args.output.unwrap_or_else(|| PathBuf::from(&name));
    check_output_dir(&dir)?;
    let crate_name = name.replace('-', "_");
    for (path, contents) in template.files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create directory {}", parent.display()))?;
        }
        let contents = render(contents, &name, &crate_name);
        std::fs::write(&target, contents)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }

    println!(
        "Created app `{name}` from template {} in {}",
        template.id,
        dir.display()
    );
    println!();
    println!("Next:");
    println!(
        "  cd {} && nimbus build && nimbus up",
        shell_quote(&dir.display().to_string())
    );
    println!("  {}", template.try_it);
    Ok(0)
}

/// Exit status for an incomplete command line (as clap uses).
const USAGE: i32 = 2;

/// The `--list` text: one line per template.
fn template_list() -> String {
    let width = TEMPLATES.iter().map(|t| t.id.len()).max().unwrap_or(0);
    let mut out = String::from("Templates (use: nimbus new TEMPLATE NAME):\n");
    for t in TEMPLATES {
        let _ = writeln!(out, "  {:width$}   {}", t.id, t.description);
    }
    out
}

/// `nimbus new --help`'s epilogue: the templates, then examples.
fn after_help() -> String {
    format!(
        "{}\nExamples:\n  \
         nimbus new http-rust hello\n  \
         cd hello && nimbus build && nimbus up\n  \
         nimbus new http-wagi-rust hello-cgi --output services/hello-cgi",
        template_list()
    )
}

fn template_ids() -> String {
    TEMPLATES
        .iter()
        .map(|t| t.id)
        .collect::<Vec<_>>()
        .join(", ")
}

fn find_template(id: &str) -> anyhow::Result<&'static Template> {
    TEMPLATES.iter().find(|t| t.id == id).with_context(|| {
        format!(
            "unknown template `{id}`; the templates are: {} (see `nimbus new --list`)",
            template_ids()
        )
    })
}

/// NAME becomes a component id, an app name and a Cargo package name: it
/// must be a component id (the manifest's rule, with its message), and
/// lowercase without `:` so that Cargo accepts it too.
fn validate_name(name: &str) -> anyhow::Result<()> {
    ComponentId::new(name).map_err(|err| anyhow::anyhow!("{err}"))?;
    if name.chars().any(|c| c.is_ascii_uppercase() || c == ':') {
        let suggestion: String = name
            .chars()
            .filter(|&c| c != ':')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        bail!(
            "invalid app name {name:?}: use lowercase letters, digits and single '-' separators, \
             starting with a letter, e.g. {suggestion:?} (it also names the Cargo package)"
        );
    }
    Ok(())
}

/// Refuses a directory that holds anything, and a path that is a file.
fn check_output_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} already exists and is not empty; choose another NAME or --output DIR",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) if dir.exists() && !dir.is_dir() => bail!(
            "{} already exists and is not a directory; choose another NAME or --output DIR",
            dir.display()
        ),
        Err(err) => Err(err).with_context(|| format!("cannot read directory {}", dir.display())),
    }
}

/// Replaces the placeholders: `{{project-name}}` (NAME as given) and
/// `{{crate_name}}` (NAME with `-` replaced by `_`, as Cargo names library
/// artifacts).
fn render(text: &str, name: &str, crate_name: &str) -> String {
    text.replace("{{project-name}}", name)
        .replace("{{crate_name}}", crate_name)
}

/// `text` as one shell word: unchanged when it is plain, else single-quoted.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+:@%,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `templates/<id>/` is embedded, and nothing else.
    #[test]
    fn every_template_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
        let mut dirs: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        dirs.sort();
        let mut ids: Vec<&str> = TEMPLATES.iter().map(|t| t.id).collect();
        ids.sort();
        assert_eq!(dirs, ids);
        for t in TEMPLATES {
            let mut on_disk = Vec::new();
            collect_files(&root.join(t.id), "", &mut on_disk);
            on_disk.sort();
            let mut embedded: Vec<String> = t.files.iter().map(|(p, _)| p.to_string()).collect();
            embedded.sort();
            assert_eq!(on_disk, embedded, "template {}", t.id);
        }
    }

    fn collect_files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_str().unwrap());
            if entry.file_type().unwrap().is_dir() {
                // A build of the template itself would be no template file.
                if name != "target" {
                    collect_files(&entry.path(), &format!("{name}/"), out);
                }
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn rendering_leaves_no_placeholder() {
        for t in TEMPLATES {
            for (path, contents) in t.files {
                let text = render(contents, "my-app", "my_app");
                assert!(!text.contains("{{"), "{}/{path}: {text}", t.id);
            }
        }
    }

    #[test]
    fn names_must_suit_cargo_too() {
        assert!(validate_name("hello-world2").is_ok());
        let err = validate_name("Hello_World").unwrap_err().to_string();
        assert!(
            err.contains("invalid component id \"Hello_World\""),
            "{err}"
        );
        let err = validate_name("HELLO").unwrap_err().to_string();
        assert!(err.contains("e.g. \"hello\""), "{err}");
        assert!(validate_name("a:b").is_err());
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("hello"), "hello");
        assert_eq!(shell_quote("./a/b-c"), "./a/b-c");
        assert_eq!(shell_quote("my app"), "'my app'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
