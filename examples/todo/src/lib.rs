//! A to-do list JSON API over the app's `default` SQLite database (embedded,
//! under `.nimbus/` next to the manifest). The table comes from
//! `migrations.sql`, run by `nimbus up --sqlite @migrations.sql`.
//!
//! - `GET /todos`: `200` and every item, `[{"id": 1, "title": "…", "done": false}, …]`
//! - `POST /todos` with `{"title": "…"}`: `201` and the new item
//! - `GET /todos/<id>`: `200` and the item
//! - `PATCH /todos/<id>` with `{"done": true}` and/or `{"title": "…"}`: `200`
//!   and the updated item
//! - `DELETE /todos/<id>`: `204`
//!
//! An unknown id is `404`; a body that is not the JSON above is `400`; a
//! method a path does not support is `405`. Errors are `{"error": "…"}`.

use serde::{Deserialize, Serialize};
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::sqlite::{Connection, QueryResult, Value};

#[derive(Debug, Serialize)]
struct Todo {
    id: i64,
    title: String,
    done: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTodo {
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    title: Option<String>,
    done: Option<bool>,
}

/// What a handler answers when it does not answer an item.
enum Failure {
    BadRequest(String),
    NotFound,
    MethodNotAllowed(&'static str),
    Database(spin_sdk::sqlite::Error),
}

impl From<spin_sdk::sqlite::Error> for Failure {
    fn from(err: spin_sdk::sqlite::Error) -> Failure {
        Failure::Database(err)
    }
}

#[http_component]
fn handle_todo(req: Request) -> anyhow::Result<impl IntoResponse> {
    Ok(match route(&req) {
        Ok(response) => response,
        Err(failure) => failure_response(failure),
    })
}

fn route(req: &Request) -> Result<Response, Failure> {
    let path = req.path().trim_end_matches('/');
    let rest = path.strip_prefix("/todos").ok_or(Failure::NotFound)?;
    if rest.is_empty() {
        return match req.method() {
            Method::Get => list(),
            Method::Post => create(req.body()),
            _ => Err(Failure::MethodNotAllowed("GET, POST")),
        };
    }
    let id: i64 = rest
        .strip_prefix('/')
        .and_then(|id| id.parse().ok())
        .ok_or(Failure::NotFound)?;
    match req.method() {
        Method::Get => get(id),
        Method::Patch => update(id, req.body()),
        Method::Delete => delete(id),
        _ => Err(Failure::MethodNotAllowed("GET, PATCH, DELETE")),
    }
}

fn list() -> Result<Response, Failure> {
    let db = Connection::open_default()?;
    let result = db.execute("SELECT id, title, done FROM todos ORDER BY id", &[])?;
    Ok(json(200, &todos(&result)))
}

fn create(body: &[u8]) -> Result<Response, Failure> {
    let new: NewTodo = parse(body)?;
    let title = new.title.trim();
    if title.is_empty() {
        return Err(Failure::BadRequest("title must not be empty".into()));
    }
    let db = Connection::open_default()?;
    let result = db.execute(
        "INSERT INTO todos (title) VALUES (?) RETURNING id, title, done",
        &[Value::Text(title.to_owned())],
    )?;
    let todo = todos(&result).pop().ok_or(Failure::NotFound)?;
    let mut response = json(201, &todo);
    response.set_header("location", format!("/todos/{}", todo.id));
    Ok(response)
}

fn get(id: i64) -> Result<Response, Failure> {
    let db = Connection::open_default()?;
    let result = db.execute(
        "SELECT id, title, done FROM todos WHERE id = ?",
        &[Value::Integer(id)],
    )?;
    let todo = todos(&result).pop().ok_or(Failure::NotFound)?;
    Ok(json(200, &todo))
}

fn update(id: i64, body: &[u8]) -> Result<Response, Failure> {
    let patch: Patch = parse(body)?;
    if patch.title.is_none() && patch.done.is_none() {
        return Err(Failure::BadRequest(
            "nothing to change: give \"title\" and/or \"done\"".into(),
        ));
    }
    let title = match patch.title.as_deref().map(str::trim) {
        Some("") => return Err(Failure::BadRequest("title must not be empty".into())),
        Some(title) => Value::Text(title.to_owned()),
        None => Value::Null,
    };
    let done = match patch.done {
        Some(done) => Value::Integer(done.into()),
        None => Value::Null,
    };
    let db = Connection::open_default()?;
    let result = db.execute(
        "UPDATE todos SET title = COALESCE(?, title), done = COALESCE(?, done) \
         WHERE id = ? RETURNING id, title, done",
        &[title, done, Value::Integer(id)],
    )?;
    let todo = todos(&result).pop().ok_or(Failure::NotFound)?;
    Ok(json(200, &todo))
}

fn delete(id: i64) -> Result<Response, Failure> {
    let db = Connection::open_default()?;
    let result = db.execute(
        "DELETE FROM todos WHERE id = ? RETURNING id",
        &[Value::Integer(id)],
    )?;
    if result.rows.is_empty() {
        return Err(Failure::NotFound);
    }
    Ok(Response::builder().status(204).body(Vec::new()).build())
}

/// The rows of a `SELECT id, title, done` (or `RETURNING` the same).
fn todos(result: &QueryResult) -> Vec<Todo> {
    result
        .rows()
        .map(|row| Todo {
            id: row.get::<i64>("id").unwrap_or_default(),
            title: row.get::<&str>("title").unwrap_or_default().to_owned(),
            done: row.get::<bool>("done").unwrap_or_default(),
        })
        .collect()
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|err| Failure::BadRequest(format!("invalid JSON: {err}")))
}

fn json(status: u16, value: &impl Serialize) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(value).unwrap_or_default())
        .build()
}

fn error(status: u16, message: String) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

fn failure_response(failure: Failure) -> Response {
    match failure {
        Failure::BadRequest(message) => error(400, message),
        Failure::NotFound => error(404, "no such to-do".into()),
        Failure::MethodNotAllowed(allowed) => {
            let mut response = error(405, format!("method not allowed; use {allowed}"));
            response.set_header("allow", allowed);
            response
        }
        Failure::Database(err) => error(500, format!("database error: {err:?}")),
    }
}
