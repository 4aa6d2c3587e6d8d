//! A Spin SDK HTTP component that runs SQL through `spin_sdk::sqlite`
//! (`fermyon:spin/sqlite@2.0.0`), for the nimbus-cap-sqlite tests.
//!
//! `POST` (any path) with a JSON body:
//!
//! ```json
//! {"database": "default",
//!  "statements": [{"sql": "SELECT ?, ?", "params": [{"integer": 1}, "null"]}]}
//! ```
//!
//! opens `database` once and runs the statements in order on that one
//! connection (so `BEGIN` … `COMMIT` works), stopping at the first error.
//! Values are `{"integer": i64}`, `{"real": f64}`, `{"text": "…"}`,
//! `{"blob": [u8, …]}` or `"null"`. The answer is 200 with
//! `{"results": [{"columns": […], "rows": [[value, …], …]}, …]}`, or, if
//! opening or a statement failed, 500 with the results so far and
//! `"error": "<the sqlite::Error, Debug-formatted>"` (e.g.
//! `"Error::AccessDenied"`, `"Error::Io(\"no such table: t\")"`).

use serde::{Deserialize, Serialize};
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::sqlite::{Connection, Value};

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum JsonValue {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

impl From<JsonValue> for Value {
    fn from(v: JsonValue) -> Value {
        match v {
            JsonValue::Integer(i) => Value::Integer(i),
            JsonValue::Real(r) => Value::Real(r),
            JsonValue::Text(s) => Value::Text(s),
            JsonValue::Blob(b) => Value::Blob(b),
            JsonValue::Null => Value::Null,
        }
    }
}

impl From<&Value> for JsonValue {
    fn from(v: &Value) -> JsonValue {
        match v {
            Value::Integer(i) => JsonValue::Integer(*i),
            Value::Real(r) => JsonValue::Real(*r),
            Value::Text(s) => JsonValue::Text(s.clone()),
            Value::Blob(b) => JsonValue::Blob(b.clone()),
            Value::Null => JsonValue::Null,
        }
    }
}

#[derive(Deserialize)]
struct Statement {
    sql: String,
    #[serde(default)]
    params: Vec<JsonValue>,
}

#[derive(Deserialize)]
struct Exec {
    database: String,
    statements: Vec<Statement>,
}

#[derive(Serialize)]
struct QueryResult {
    columns: Vec<String>,
    rows: Vec<Vec<JsonValue>>,
}

#[derive(Serialize, Default)]
struct Answer {
    results: Vec<QueryResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let exec: Exec = match serde_json::from_slice(req.body()) {
        Ok(exec) => exec,
        Err(err) => return Ok(Response::new(400, format!("bad request body: {err}"))),
    };
    let mut answer = Answer::default();
    match Connection::open(&exec.database) {
        Err(err) => answer.error = Some(format!("{err:?}")),
        Ok(conn) => {
            for statement in exec.statements {
                let params: Vec<Value> = statement.params.into_iter().map(Value::from).collect();
                match conn.execute(&statement.sql, &params) {
                    Ok(result) => answer.results.push(QueryResult {
                        columns: result.columns,
                        rows: result
                            .rows
                            .iter()
                            .map(|row| row.values.iter().map(JsonValue::from).collect())
                            .collect(),
                    }),
                    Err(err) => {
                        answer.error = Some(format!("{err:?}"));
                        break;
                    }
                }
            }
        }
    }
    let status = if answer.error.is_some() { 500 } else { 200 };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&answer)?)
        .build())
}

fn main() {}
