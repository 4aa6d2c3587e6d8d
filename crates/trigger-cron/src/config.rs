//! The cron trigger's manifest schema: spin-trigger-cron's `[[trigger.cron]]`
//! (`component`, `cron_expression`), unchanged. There are no app-level
//! settings: `[application.trigger.cron]` may be written, but holds no keys.
//!
//! Every problem is reported in the manifest's style (`file:line:col: what is
//! wrong; how to fix it`), all of them at once.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use nimbus_manifest::{ComponentId, Diagnostic, Located, Manifest, ManifestError, TriggerSection};
use serde::Deserialize;

/// The trigger type this crate runs: `[[trigger.cron]]`.
pub const TRIGGER_TYPE: &str = "cron";

/// An example expression for messages.
const EXAMPLE: &str = "cron_expression = \"0 */5 * * * *\" (second 0 of every 5th minute)";

/// One `[[trigger.cron]]` table, validated.
#[derive(Debug, Clone)]
pub struct CronTriggerConfig {
    /// `id`, or the id Spin generates (`<component>-cron-trigger`).
    pub id: String,
    /// The component to run at each tick.
    pub component: ComponentId,
    /// The schedule, as written and parsed.
    pub schedule: Schedule,
}

/// A parsed `cron_expression`; ticks are computed in UTC.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    parsed: cron::Schedule,
}

impl Schedule {
    /// Parses an expression as spin-trigger-cron accepts it: 6 fields
    /// (`sec min hour day-of-month month day-of-week`), an optional 7th
    /// (year), or `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`.
    /// `Err` says what is wrong, for a person.
    pub fn parse(expression: &str) -> Result<Schedule, String> {
        let trimmed = expression.trim();
        if trimmed.is_empty() {
            return Err("the expression is empty".to_owned());
        }
        let fields = trimmed.split_whitespace().count();
        if !trimmed.starts_with('@') && fields == 5 {
            // The classic crontab form: spin-trigger-cron refuses it too.
            return Err(
                "it has 5 fields, but the first field is seconds here (as in spin-trigger-cron): \
                 sec min hour day-of-month month day-of-week; add the seconds in front"
                    .to_owned(),
            );
        }
        if !trimmed.starts_with('@') && !(6..=7).contains(&fields) {
            return Err(format!(
                "it has {fields} field{}; write 6 (sec min hour day-of-month month day-of-week) \
                 or 7 (with a year)",
                if fields == 1 { "" } else { "s" }
            ));
        }
        match cron::Schedule::from_str(trimmed) {
            Ok(parsed) => Ok(Schedule {
                expression: expression.to_owned(),
                parsed,
            }),
            Err(err) => Err(parse_error(trimmed, &err.to_string())),
        }
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first tick strictly after `after` (whole seconds, UTC); `None`
    /// when the schedule has no more ticks (a year in the past).
    pub fn next_after(&self, after: &DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.parsed.after(after).next()
    }
}

/// The fields of an expression: name and range, for messages.
const FIELDS: [(&str, &str); 7] = [
    ("seconds", "0-59"),
    ("minutes", "0-59"),
    ("hours", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "1-7 (1 is Sunday) or SUN-SAT"),
    ("year", "1970-2099"),
];

/// Says what is wrong with an expression the `cron` crate refused: which
/// field (found by trying each field alone in an expression that is
/// otherwise valid) and the crate's reason. The crate's own message echoes
/// the expression with a caret, then its reason, if any, on the third line.
fn parse_error(expression: &str, raw: &str) -> String {
    if expression.starts_with('@') {
        return "the shorthands are @yearly, @monthly, @weekly, @daily and @hourly".to_owned();
    }
    let reason = raw.lines().nth(2).map(str::trim).filter(|r| !r.is_empty());
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let base = ["0", "0", "0", "*", "*", "*", "*"];
    let bad = (0..fields.len().min(base.len())).find(|&i| {
        let mut candidate = base[..fields.len()].to_vec();
        candidate[i] = fields[i];
        cron::Schedule::from_str(&candidate.join(" ")).is_err()
    });
    match (bad, reason) {
        (Some(i), reason) => {
            let (name, range) = FIELDS[i];
            let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
            format!(
                "field {} ({name}, {range}) is {:?}, which is not valid{reason}",
                i + 1,
                fields[i]
            )
        }
        (None, Some(reason)) => format!("it is not a valid cron expression ({reason})"),
        (None, None) => "it is not a valid cron expression".to_owned(),
    }
}

/// Reads and validates every `[[trigger.cron]]` table (and
/// `[application.trigger.cron]`), in file order.
pub fn cron_triggers(manifest: &Manifest) -> Result<Vec<CronTriggerConfig>, ManifestError> {
    let mut diags = Vec::new();
    check_settings(manifest, &mut diags);
    let mut triggers = Vec::new();
    for section in manifest.trigger_sections(TRIGGER_TYPE) {
        if let Some(trigger) = read_trigger(section, &mut diags) {
            triggers.push(trigger);
        }
    }
    ManifestError::or_ok(manifest.path(), diags, triggers)
}

/// `[application.trigger.cron]` has no settings (as in spin-trigger-cron).
fn check_settings(manifest: &Manifest, diags: &mut Vec<Diagnostic>) {
    let Some(section) = manifest.trigger_settings(TRIGGER_TYPE) else {
        return;
    };
    for key in section.keys() {
        diags.push(Diagnostic::new(
            section.key_location(key).unwrap_or(section.location()),
            format!(
                "unknown field {key:?} in {}: the cron trigger has no app-level settings; remove it \
                 (each [[trigger.cron]] takes component and cron_expression)",
                section.name()
            ),
        ));
    }
}

/// The keys of a `[[trigger.cron]]` table besides `id` and `component`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    cron_expression: Option<Located<String>>,
}

fn read_trigger(
    section: &TriggerSection,
    diags: &mut Vec<Diagnostic>,
) -> Option<CronTriggerConfig> {
    let config = &section.config;
    let raw: Option<RawTrigger> = ManifestError::collect_into(config.deserialize(), diags);
    let component = ManifestError::collect_into(
        section.required_component("component = \"my-component\""),
        diags,
    )
    .flatten()
    .cloned();
    let raw = raw?;
    let schedule = match raw.cron_expression {
        None => {
            diags.push(Diagnostic::new(
                config.location(),
                format!(
                    "missing required field \"cron_expression\" in {}; add e.g. {EXAMPLE}",
                    config.name()
                ),
            ));
            None
        }
        Some(Located { location, value }) => match Schedule::parse(&value) {
            Ok(schedule) => Some(schedule),
            Err(why) => {
                diags.push(Diagnostic::new(
                    location,
                    format!(
                        "invalid cron_expression {value:?}: {why}; e.g. {EXAMPLE}, or \
                         \"*/10 * * * * *\" (every 10 seconds)"
                    ),
                ));
                None
            }
        },
    };
    Some(CronTriggerConfig {
        id: section.id.clone(),
        component: component?,
        schedule: schedule?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"app\"\n";
    const COMPONENT: &str = "[component.tick]\nsource = \"tick.wasm\"\n";

    fn parse(text: &str) -> Manifest {
        Manifest::from_str(text, "spin.toml", ".").unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> String {
        match cron_triggers(&parse(text)) {
            Ok(t) => panic!("expected an error, got {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_trigger_is_read() {
        let m = parse(&format!(
            "{HEAD}[[trigger.cron]]\ncomponent = \"tick\"\ncron_expression = \"*/2 * * * * *\"\n{COMPONENT}"
        ));
        let triggers = cron_triggers(&m).unwrap();
        assert_eq!(triggers.len(), 1);
        assert_eq!(triggers[0].id, "tick-cron-trigger");
        assert_eq!(triggers[0].component.as_str(), "tick");
        assert_eq!(triggers[0].schedule.expression(), "*/2 * * * * *");
    }

    #[test]
    fn missing_keys_are_named_with_their_table() {
        let e = error(&format!("{HEAD}[[trigger.cron]]\nid = \"t\"\n{COMPONENT}"));
        assert_eq!(
            e,
            "spin.toml:4:1: missing required field \"component\" in [[trigger.cron]]; add e.g. component = \"my-component\"\n\
             spin.toml:4:1: missing required field \"cron_expression\" in [[trigger.cron]]; add e.g. cron_expression = \"0 */5 * * * *\" (second 0 of every 5th minute)"
        );
    }

    #[test]
    fn unknown_keys_get_a_did_you_mean() {
        let e = error(&format!(
            "{HEAD}[[trigger.cron]]\ncomponent = \"tick\"\ncron_expresion = \"* * * * * *\"\n{COMPONENT}"
        ));
        assert!(
            e.starts_with(
                "spin.toml:6:1: unknown field \"cron_expresion\" in [[trigger.cron]]; did you mean \"cron_expression\"?"
            ),
            "{e}"
        );
        let e = error(&format!(
            "{HEAD}[application.trigger.cron]\nbase = \"/\"\n[[trigger.cron]]\ncomponent = \"tick\"\ncron_expression = \"* * * * * *\"\n{COMPONENT}"
        ));
        assert!(
            e.starts_with("spin.toml:5:1: unknown field \"base\" in [application.trigger.cron]: the cron trigger has no app-level settings"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_expression_is_reported_where_it_is_written() {
        let e = error(&format!(
            "{HEAD}[[trigger.cron]]\ncomponent = \"tick\"\ncron_expression = \"*/2 * * * * * * *\"\n{COMPONENT}"
        ));
        assert_eq!(
            e,
            "spin.toml:6:19: invalid cron_expression \"*/2 * * * * * * *\": it has 8 fields; write 6 (sec min hour day-of-month month day-of-week) or 7 (with a year); e.g. cron_expression = \"0 */5 * * * *\" (second 0 of every 5th minute), or \"*/10 * * * * *\" (every 10 seconds)"
        );
        let e = error(&format!(
            "{HEAD}[[trigger.cron]]\ncomponent = \"tick\"\ncron_expression = \"0 61 * * * *\"\n{COMPONENT}"
        ));
        assert_eq!(
            e,
            "spin.toml:6:19: invalid cron_expression \"0 61 * * * *\": field 2 (minutes, 0-59) is \"61\", which is not valid (Minutes must be less than 59. ('61' specified.)); e.g. cron_expression = \"0 */5 * * * *\" (second 0 of every 5th minute), or \"*/10 * * * * *\" (every 10 seconds)"
        );
        assert_eq!(
            Schedule::parse("0 0 9 * * Mon-Fry").unwrap_err(),
            "field 6 (day-of-week, 1-7 (1 is Sunday) or SUN-SAT) is \"Mon-Fry\", which is not valid ('Fry' is not a valid day of the week.)"
        );
        assert_eq!(
            Schedule::parse("@sometimes").unwrap_err(),
            "the shorthands are @yearly, @monthly, @weekly, @daily and @hourly"
        );
        let e = error(&format!(
            "{HEAD}[[trigger.cron]]\ncomponent = \"tick\"\ncron_expression = 5\n{COMPONENT}"
        ));
        assert!(
            e.starts_with(
                "spin.toml:6:19: \"cron_expression\" in [[trigger.cron]] must be a string"
            ),
            "{e}"
        );
    }

    #[test]
    fn five_field_crontab_expressions_are_refused_as_the_plugin_does() {
        let e = error(&format!(
            "{HEAD}[[trigger.cron]]\ncomponent = \"tick\"\ncron_expression = \"*/5 * * * *\"\n{COMPONENT}"
        ));
        assert!(
            e.starts_with("spin.toml:6:19: invalid cron_expression \"*/5 * * * *\": it has 5 fields, but the first field is seconds here"),
            "{e}"
        );
        assert!(e.contains("\"0 */5 * * * *\""), "{e}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = error(&format!(
            "{HEAD}[[trigger.cron]]\ncomponent = \"tick\"\ncron_expression = \"nope\"\n\
             [[trigger.cron]]\ncomponent = \"tick\"\ncron_expression = \"@sometimes\"\n{COMPONENT}"
        ));
        assert_eq!(e.lines().count(), 2, "{e}");
        assert!(
            e.lines().next().unwrap().starts_with("spin.toml:6:19:"),
            "{e}"
        );
        assert!(
            e.lines().nth(1).unwrap().starts_with("spin.toml:9:19:"),
            "{e}"
        );
    }

    #[test]
    fn next_ticks_are_whole_seconds_in_utc() {
        let every_2s = Schedule::parse("*/2 * * * * *").unwrap();
        assert_eq!(
            every_2s.next_after(&at("2026-12-03T10:00:00.500Z")),
            Some(at("2026-12-03T10:00:02Z"))
        );
        // Strictly after: a tick at the very instant is the one just run.
        assert_eq!(
            every_2s.next_after(&at("2026-12-03T10:00:02Z")),
            Some(at("2026-12-03T10:00:04Z"))
        );
        let nightly = Schedule::parse("0 30 2 * * *").unwrap();
        assert_eq!(
            nightly.next_after(&at("2026-12-03T10:00:00Z")),
            Some(at("2026-12-04T02:30:00Z"))
        );
        let shorthand = Schedule::parse("@hourly").unwrap();
        assert_eq!(
            shorthand.next_after(&at("2026-12-31T23:59:59.900Z")),
            Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
        );
        // A 7th field is the year: none left after it.
        let once = Schedule::parse("0 0 0 1 1 * 2020").unwrap();
        assert_eq!(once.next_after(&at("2026-12-03T10:00:00Z")), None);
    }
}
