//! `events`: records events and lists them.
//!
//! - `POST /events` with a text body records an event now; `?age=SECONDS`
//!   records it as that many seconds old (to see the pruning at work);
//! - `GET /events` lists every event (JSON, oldest first).

use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::sqlite::{Connection, Value};

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let db = Connection::open_default()?;
    match req.method() {
        Method::Post => {
            let age: i64 = query_param(req.query(), "age")
                .map(str::parse)
                .transpose()?
                .unwrap_or(0);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64;
            let text = String::from_utf8_lossy(req.body()).into_owned();
            db.execute(
                "INSERT INTO events (text, created_at) VALUES (?, ?)",
                &[Value::Text(text), Value::Integer(now - age)],
            )?;
            Ok(Response::new(201, "recorded\n"))
        }
        Method::Get => {
            let rows = db.execute(
                "SELECT text, created_at FROM events ORDER BY created_at, id",
                &[],
            )?;
            let events: Vec<serde_json::Value> = rows
                .rows()
                .map(|row| {
                    serde_json::json!({
                        "text": row.get::<&str>("text").unwrap_or_default(),
                        "created_at": row.get::<i64>("created_at").unwrap_or_default(),
                    })
                })
                .collect();
            Ok(Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&events)?)
                .build())
        }
        _ => Ok(Response::new(405, "GET or POST\n")),
    }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}
