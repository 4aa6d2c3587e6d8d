//! `{{project-name}}`: a cron job. `nimbus up` runs this function, in a fresh
//! sandbox, at every tick of the schedule in `nimbus.toml`.

wit_bindgen::generate!({
    path: "wit",
    world: "spin-cron",
});

struct Job;

export!(Job);

impl Guest for Job {
    /// `metadata.timestamp`: when the tick was scheduled, in seconds since
    /// the Unix epoch (UTC). An `Err` is logged by nimbus; the next tick
    /// runs anyway.
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        println!("{{project-name}}: tick at {}", metadata.timestamp);
        Ok(())
    }
}
