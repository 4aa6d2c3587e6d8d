//! The node's configuration file (`nimbus node --config node.toml`).
//!
//! ```toml
//! domain = "apps.example.com"   # apps answer on NAME.apps.example.com
//! max_bundle_size = "64MiB"     # largest upload the admin API accepts
//! idle_unload = "10m"           # drop an idle app's code after this long
//! allow_private_outbound = false # let allowed host names reach private addresses
//!
//! [quotas]                      # the most any app's manifest may ask for
//! memory = "128MiB"             # per instance
//! timeout = "30s"               # per request
//! max_concurrency = 100         # requests at once, per component
//! max_body_size = "10MiB"       # request body
//! ```
//!
//! A manifest that asks for more than a quota is refused at deploy with the
//! reason; a component that sets no limit gets the quota as its limit.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use bytesize::ByteSize;
use nimbus_manifest::Manifest;
use serde::Deserialize;

/// Per-app caps on what a manifest's `[component.NAME.limits]` may ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quotas {
    /// Linear memory per instance, in bytes.
    pub memory: Option<u64>,
    /// Wall-clock time per request.
    pub timeout: Option<Duration>,
    /// Requests handled at once, per component.
    pub max_concurrency: Option<u32>,
    /// Request body size, in bytes.
    pub max_body_size: Option<u64>,
}

/// The node's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Apps answer on `NAME.DOMAIN`.
    pub domain: String,
    /// The largest bundle the admin API accepts, in bytes (compressed).
    pub max_bundle_size: u64,
    /// The largest a bundle may unpack to, in bytes.
    pub max_unpacked_size: u64,
    /// Drop an app's loaded code after it has been idle this long
    /// (`None`: never).
    pub idle_unload: Option<Duration>,
    /// Per-app quotas.
    pub quotas: Quotas,
    /// Whether an allowed outbound host *name* may resolve to a loopback,
    /// private or link-local address (`false`: refused, SSRF protection; an
    /// entry that is an IP literal is allowed either way).
    pub allow_private_outbound: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            domain: "localhost".into(),
            max_bundle_size: 64 << 20,
            max_unpacked_size: 256 << 20,
            idle_unload: Some(Duration::from_secs(600)),
            quotas: Quotas::default(),
            allow_private_outbound: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    domain: Option<String>,
    max_bundle_size: Option<String>,
    max_unpacked_size: Option<String>,
    idle_unload: Option<String>,
    allow_private_outbound: Option<bool>,
    #[serde(default)]
    quotas: RawQuotas,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawQuotas {
    memory: Option<String>,
    timeout: Option<String>,
    max_concurrency: Option<u32>,
    max_body_size: Option<String>,
}

fn size(field: &str, text: &Option<String>) -> anyhow::Result<Option<u64>> {
    text.as_deref()
        .map(|t| {
            t.parse::<ByteSize>()
                .map(|s| s.as_u64())
                .map_err(|err| anyhow::anyhow!("{field} = {t:?}: {err} (write e.g. \"64MiB\")"))
        })
        .transpose()
}

fn duration(field: &str, text: &Option<String>) -> anyhow::Result<Option<Duration>> {
    text.as_deref()
        .map(|t| {
            humantime::parse_duration(t)
                .map_err(|err| anyhow::anyhow!("{field} = {t:?}: {err} (write e.g. \"30s\")"))
        })
        .transpose()
}

impl NodeConfig {
    /// Reads a config file; fields it does not set keep their defaults.
    pub fn from_file(path: &Path) -> anyhow::Result<NodeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        NodeConfig::from_toml(&text).with_context(|| format!("{}", path.display()))
    }

    /// Parses config text.
    pub fn from_toml(text: &str) -> anyhow::Result<NodeConfig> {
        let raw: RawConfig = toml::from_str(text)?;
        let mut config = NodeConfig::default();
        if let Some(domain) = raw.domain {
            config.domain = normalize_domain(&domain)?;
        }
        if let Some(max) = size("max_bundle_size", &raw.max_bundle_size)? {
            config.max_bundle_size = max;
        }
        if let Some(max) = size("max_unpacked_size", &raw.max_unpacked_size)? {
            config.max_unpacked_size = max;
        }
        if let Some(idle) = duration("idle_unload", &raw.idle_unload)? {
            config.idle_unload = (!idle.is_zero()).then_some(idle);
        }
        if let Some(allow) = raw.allow_private_outbound {
            config.allow_private_outbound = allow;
        }
        config.quotas = Quotas {
            memory: size("quotas.memory", &raw.quotas.memory)?,
            timeout: duration("quotas.timeout", &raw.quotas.timeout)?,
            max_concurrency: raw.quotas.max_concurrency,
            max_body_size: size("quotas.max_body_size", &raw.quotas.max_body_size)?,
        };
        // Below one Wasm page no instance can start; a module's own minimum
        // is checked against the quota when each app loads.
        if let Some(memory) = config.quotas.memory.filter(|m| *m < 64 << 10) {
            anyhow::bail!(
                "quotas.memory = {:?} ({}) is below one Wasm page (64 KiB): no app could start; \
                 write e.g. \"128MiB\"",
                raw.quotas.memory.unwrap_or_default(),
                iec(memory)
            );
        }
        if config.quotas.max_concurrency == Some(0) {
            anyhow::bail!("quotas.max_concurrency must be at least 1");
        }
        Ok(config)
    }
}

/// Lowercases a domain and checks it is a host name.
pub fn normalize_domain(domain: &str) -> anyhow::Result<String> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty()
        || !domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    {
        anyhow::bail!("{domain:?} is not a valid domain name");
    }
    Ok(domain)
}

fn iec(bytes: u64) -> String {
    ByteSize::b(bytes).display().iec().to_string()
}

impl Quotas {
    /// Checks every component's limits against the quotas, and gives a
    /// component that sets no limit the quota as its limit. The error names
    /// every component, limit and quota exceeded (one per line), not only
    /// the first.
    pub fn apply(&self, manifest: &mut Manifest) -> Result<(), String> {
        let mut problems = Vec::new();
        for (id, component) in manifest.components.iter_mut() {
            let limits = &mut component.limits;
            if let Some(quota) = self.memory {
                match limits.memory {
                    Some(asked) if asked > quota => problems.push(format!(
                        "component `{id}` asks for memory = {} per instance; this node allows at most {}",
                        iec(asked),
                        iec(quota)
                    )),
                    Some(_) => {}
                    None => limits.memory = Some(quota),
                }
            }
            if let Some(quota) = self.timeout {
                match limits.timeout {
                    Some(asked) if asked > quota => problems.push(format!(
                        "component `{id}` asks for timeout = {}; this node allows at most {}",
                        humantime::format_duration(asked),
                        humantime::format_duration(quota)
                    )),
                    Some(_) => {}
                    None => limits.timeout = Some(quota),
                }
            }
            if let Some(quota) = self.max_concurrency {
                match limits.max_concurrency {
                    Some(asked) if asked > quota => problems.push(format!(
                        "component `{id}` asks for max_concurrency = {asked}; this node allows at most {quota}"
                    )),
                    Some(_) => {}
                    None => limits.max_concurrency = Some(quota),
                }
            }
            if let Some(quota) = self.max_body_size {
                match limits.max_body_size {
                    Some(asked) if asked > quota => problems.push(format!(
                        "component `{id}` asks for max_body_size = {}; this node allows at most {}",
                        iec(asked),
                        iec(quota)
                    )),
                    Some(_) => {}
                    None => limits.max_body_size = Some(quota),
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "q"
[[trigger.http]]
route = "/..."
component = "a"
[component.a]
source = "a.wasm"
[component.a.limits]
memory = "256MiB"
"#;

    #[test]
    fn parses_and_applies_quotas() {
        let config = NodeConfig::from_toml(
            "domain = \"Apps.Example.com\"\n[quotas]\nmemory = \"128MiB\"\ntimeout = \"2s\"\n",
        )
        .unwrap();
        assert_eq!(config.domain, "apps.example.com");
        assert_eq!(config.quotas.memory, Some(128 << 20));
        let mut manifest = Manifest::from_str(MANIFEST, "nimbus.toml", ".").unwrap();
        let err = config.quotas.apply(&mut manifest).unwrap_err();
        assert!(
            err.contains("component `a` asks for memory = 256.0 MiB"),
            "{err}"
        );
        assert!(err.contains("at most 128.0 MiB"), "{err}");

        let mut manifest =
            Manifest::from_str(&MANIFEST.replace("256MiB", "64MiB"), "nimbus.toml", ".").unwrap();
        config.quotas.apply(&mut manifest).unwrap();
        let limits = manifest.component("a").unwrap().limits;
        assert_eq!(limits.memory, Some(64 << 20));
        assert_eq!(limits.timeout, Some(Duration::from_secs(2)));
        assert!(NodeConfig::from_toml("bogus = 1").is_err());
        let err = NodeConfig::from_toml("[quotas]\nmemory = \"1KiB\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("below one Wasm page"), "{err}");

        // Every quota exceeded is reported, not only the first.
        let greedy = MANIFEST.replace(
            "memory = \"256MiB\"",
            "memory = \"256MiB\"\ntimeout = \"1m\"",
        )
            + "[component.b]\nsource = \"b.wasm\"\n[component.b.limits]\nmemory = \"1GiB\"\n";
        let mut manifest = Manifest::from_str(&greedy, "nimbus.toml", ".").unwrap();
        let err = config.quotas.apply(&mut manifest).unwrap_err();
        assert!(err.contains("component `a` asks for memory"), "{err}");
        assert!(err.contains("component `a` asks for timeout"), "{err}");
        assert!(err.contains("component `b` asks for memory"), "{err}");
        assert!(!config.allow_private_outbound);
        assert!(
            NodeConfig::from_toml("allow_private_outbound = true")
                .unwrap()
                .allow_private_outbound
        );
    }
}
