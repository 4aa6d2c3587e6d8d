//! `prune`: a cron job (`[[trigger.cron]]`, the world of spin-trigger-cron)
//! that deletes the events older than `max_age_seconds` (a Spin variable,
//! 60 by default) from the app's SQLite database at every tick.

use spin_sdk::sqlite::{Connection, Value};

wit_bindgen::generate!({
    path: "../wit",
    world: "spin-cron",
});

struct Prune;

export!(Prune);

impl Guest for Prune {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        prune(metadata.timestamp).map_err(|err| Error::Other(err.to_string()))
    }
}

fn prune(now: u64) -> anyhow::Result<()> {
    let max_age: i64 = spin_sdk::variables::get("max_age_seconds")?.parse()?;
    let cutoff = now as i64 - max_age;
    let db = Connection::open_default()?;
    db.execute(
        "DELETE FROM events WHERE created_at < ?",
        &[Value::Integer(cutoff)],
    )?;
    let left = db.execute("SELECT count(*) AS n FROM events", &[])?;
    let count = left
        .rows()
        .next()
        .and_then(|row| row.get::<i64>("n"))
        .unwrap_or_default();
    println!("pruned events older than {max_age} s; {count} left");
    Ok(())
}
