// An app built with spin-sdk 7 (`#[http_service]`: `wasi:http/handler@0.3.0`
// and the `spin:*@3` interfaces), as `spin new` makes it today, plus one
// route per API (paths are relative to the route, from `spin-path-info`):
//
// - `/kv/set/KEY` (body: the value): `ok`; `/kv/get/KEY`: the value or
//   `404 missing`; `/kv/keys`: every key, one per line, sorted
//   (`spin:key-value@3.0.0`, the `default` store)
// - `/sqlite`: creates a table if needed, inserts two rows and answers
//   `rowid=N changes=2 rows=[…]` (`spin:sqlite@3.1.0`, `default`)
// - `/variables/NAME`: the variable's value (`spin:variables@3.0.0`)
// - `/outbound?url=URL`: fetches URL and answers `STATUS BODY`
//   (`wasi:http/client@0.3.0`)
// - `/tcp?to=HOST:PORT`: sends `ping` over `std::net::TcpStream`
//   (`wasi:sockets`) and answers the 4-byte reply, or the error
// - anything else: `hello from PACKAGE at PATH` (PACKAGE is the guest
//   package: `nimbus-guests-p3` for spin-sdk 7, `nimbus-guests-spin6` for
//   the same source built with spin-sdk 6), with the `spin-*` request
//   headers the host set, one per line
//
// Errors answer 500 with the error, Debug-formatted.

use spin_sdk::http::{EmptyBody, IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::http::body::IncomingBodyExt;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    // The path below the route's prefix (Spin's `spin-path-info`), so the
    // app works wherever it is mounted.
    let path = req
        .headers()
        .get("spin-path-info")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| req.uri().path().to_owned());
    let query = req.uri().query().unwrap_or_default().to_owned();
    let spin_headers: Vec<String> = req
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("spin-"))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
        .collect();
    let result: Result<(StatusCode, String), String> = async {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["kv", "set", key] => {
                let value = req.into_body().bytes().await.map_err(|e| format!("{e:?}"))?;
                let store = spin_sdk::key_value::Store::open_default().await.map_err(|e| format!("{e:?}"))?;
                store.set(key, &value).await.map_err(|e| format!("{e:?}"))?;
                Ok((StatusCode::OK, "ok".to_owned()))
            }
            ["kv", "get", key] => {
                let store = spin_sdk::key_value::Store::open_default().await.map_err(|e| format!("{e:?}"))?;
                match store.get(key).await.map_err(|e| format!("{e:?}"))? {
                    Some(value) => Ok((StatusCode::OK, String::from_utf8_lossy(&value).into_owned())),
                    None => Ok((StatusCode::NOT_FOUND, "missing".to_owned())),
                }
            }
            ["kv", "keys"] => {
                let store = spin_sdk::key_value::Store::open_default().await.map_err(|e| format!("{e:?}"))?;
                let mut keys = store.get_keys().await.collect().await.map_err(|e| format!("{e:?}"))?;
                keys.sort();
                Ok((StatusCode::OK, keys.join("\n")))
            }
            ["sqlite"] => {
                use spin_sdk::sqlite::{Connection, Value};
                let db = Connection::open_default().await.map_err(|e| format!("{e:?}"))?;
                db.execute("CREATE TABLE IF NOT EXISTS pets (name TEXT)", [])
                    .await
                    .map_err(|e| format!("{e:?}"))?
                    .collect()
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                db.execute(
                    "INSERT INTO pets (name) VALUES (?), (?)",
                    [Value::Text("Rex".into()), Value::Text("Tom".into())],
                )
                .await
                .map_err(|e| format!("{e:?}"))?
                .collect()
                .await
                .map_err(|e| format!("{e:?}"))?;
                let rowid = db.last_insert_rowid().await;
                let changes = db.changes().await;
                let rows = db
                    .execute("SELECT name FROM pets ORDER BY rowid", [])
                    .await
                    .map_err(|e| format!("{e:?}"))?
                    .collect()
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                let names: Vec<String> = rows
                    .iter()
                    .filter_map(|row| row.get::<&str>(0).map(str::to_owned))
                    .collect();
                Ok((StatusCode::OK, format!("rowid={rowid} changes={changes} rows={names:?}")))
            }
            ["variables", name] => {
                let value = spin_sdk::variables::get(name).await.map_err(|e| format!("{e:?}"))?;
                Ok((StatusCode::OK, value))
            }
            ["tcp"] => {
                use std::io::{Read, Write};
                let to = query.strip_prefix("to=").unwrap_or_default();
                let mut stream = std::net::TcpStream::connect(to).map_err(|e| format!("connect: {e}"))?;
                stream.write_all(b"ping").map_err(|e| format!("write: {e}"))?;
                let mut reply = [0u8; 4];
                stream.read_exact(&mut reply).map_err(|e| format!("read: {e}"))?;
                Ok((StatusCode::OK, String::from_utf8_lossy(&reply).into_owned()))
            }
            ["outbound"] => {
                let url = query.strip_prefix("url=").unwrap_or_default().to_owned();
                let request = spin_sdk::http::Request::get(url)
                    .body(EmptyBody::new())
                    .map_err(|e| format!("{e:?}"))?;
                let response = spin_sdk::http::send(request).await.map_err(|e| format!("{e:?}"))?;
                let status = response.status();
                let body = response.into_body().bytes().await.map_err(|e| format!("{e:?}"))?;
                Ok((StatusCode::OK, format!("{} {}", status.as_u16(), String::from_utf8_lossy(&body))))
            }
            _ => Ok((
                StatusCode::OK,
                format!(
                    "hello from {} at {path}\n{}",
                    env!("CARGO_PKG_NAME"),
                    spin_headers.join("\n")
                ),
            )),
        }
    }
    .await;
    match result {
        Ok(answer) => answer,
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err),
    }
}

fn main() {}
