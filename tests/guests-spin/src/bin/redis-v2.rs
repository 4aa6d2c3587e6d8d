//! A Spin SDK HTTP component for Spin's outbound Redis interface
//! `fermyon:spin/redis@2.0.0` (`spin_sdk::redis`, blocking), for the outbound
//! Redis tests. `redis-v3` (tests/guests-p3) is the same protocol over
//! `spin:redis/redis@3.0.0`.
//!
//! Any path; the Redis address is the Spin variable `address`, the case is
//! the query string `?case=NAME` plus parameters. Answers:
//!
//! - 200 with the case's body on success;
//! - 200 `error: <variant>` where the case reports an interface error
//!   (`invalid-address`, `too-many-connections`, `type-error`, `other`; the
//!   error's text is never included);
//! - 500 `FAIL: <step>: <expected vs got>` when a check in the guest fails
//!   (also when a step that must succeed returns an error: then `got` is
//!   `error: <variant>`), or the request is malformed (no `case`, no `key`,
//!   the variable `address` unset).
//!
//! Cases (`open` errors are reported as `error: <variant>` in every case):
//!
//! - `case=open`: `opened` or `error: <variant>`.
//! - `case=roundtrip&key=K`: set K "hello"; get K == "hello"; get
//!   "K:missing" == none; incr "K:n" == 1 then 2; del [K, "K:missing"] == 1;
//!   get K == none; sadd "K:s" [a,b,c] == 3; sadd "K:s" [a] == 0; smembers
//!   "K:s" (sorted) == [a,b,c]; srem "K:s" [a,z] == 1; publish on channel K
//!   the payload "published K"; execute SET [binary "K:x", binary "v"] ==
//!   [status "OK"]; execute GET [binary "K:x"] == [binary "v"]; execute
//!   INCRBY [binary "K:i", int64 5] == [int64 5]; execute GET [binary
//!   "K:nothing"] == [nil]; finally set "K:kept" "kept". Body `ok`.
//! - `case=type-error&key=K`: set K "not a number", then incr K must fail
//!   with type-error: body `error: type-error` (any other outcome: FAIL).
//! - `case=many`: opens connections in a loop, keeping every one open, up to
//!   100: `opened 100` or `opened N then error: <variant>`.
//! - `case=blpop&key=K`: execute BLPOP [binary K, binary "2"] on an empty
//!   list, which waits 2 s for an element and then answers [nil]: body `ok`.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::redis::{Connection, Error, RedisParameter, RedisResult};

/// Why a case stopped early.
enum Stop {
    /// An interface error the case reports: 200 `error: <variant>`.
    Reported(Error),
    /// A failed check: 500 `FAIL: <message>`.
    Fail(String),
}

type Outcome = Result<String, Stop>;

#[http_component]
fn handle(req: Request) -> impl IntoResponse {
    let params = parse_query(req.query());
    match run(&params) {
        Ok(body) => Response::new(200, body),
        Err(Stop::Reported(err)) => Response::new(200, format!("error: {}", variant(&err))),
        Err(Stop::Fail(message)) => Response::new(500, format!("FAIL: {message}")),
    }
}

fn run(params: &[(String, String)]) -> Outcome {
    let case = param(params, "case").ok_or_else(|| fail("request", "a `case` parameter"))?;
    let address = spin_sdk::variables::get("address")
        .map_err(|_| fail("variables", "the variable `address`, got an error"))?;
    match case {
        "open" => {
            open(&address)?;
            Ok("opened".to_owned())
        }
        "roundtrip" => roundtrip(&address, required(params, "key")?),
        "type-error" => type_error(&address, required(params, "key")?),
        "many" => Ok(many(&address)),
        "blpop" => blpop(&address, required(params, "key")?),
        other => Err(Stop::Fail(format!("request: unknown case {other:?}"))),
    }
}

fn open(address: &str) -> Result<Connection, Stop> {
    Connection::open(address).map_err(Stop::Reported)
}

fn roundtrip(address: &str, key: &str) -> Outcome {
    let conn = open(address)?;
    let missing = format!("{key}:missing");
    let counter = format!("{key}:n");
    let set = format!("{key}:s");

    step("set", conn.set(key, b"hello"))?;
    expect(
        "get",
        step("get", conn.get(key))?,
        Some(b"hello".to_vec()),
        show_payload,
    )?;
    expect(
        "get missing",
        step("get missing", conn.get(&missing))?,
        None,
        show_payload,
    )?;
    expect("incr 1", step("incr 1", conn.incr(&counter))?, 1, |n| {
        n.to_string()
    })?;
    expect("incr 2", step("incr 2", conn.incr(&counter))?, 2, |n| {
        n.to_string()
    })?;
    expect(
        "del",
        step("del", conn.del(&[key.to_owned(), missing.clone()]))?,
        1,
        |n| n.to_string(),
    )?;
    expect(
        "get deleted",
        step("get deleted", conn.get(key))?,
        None,
        show_payload,
    )?;
    let abc: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    expect("sadd", step("sadd", conn.sadd(&set, &abc))?, 3, |n| {
        n.to_string()
    })?;
    expect(
        "sadd again",
        step("sadd again", conn.sadd(&set, &["a".to_owned()]))?,
        0,
        |n| n.to_string(),
    )?;
    let mut members = step("smembers", conn.smembers(&set))?;
    members.sort();
    expect("smembers", members, abc, |m| format!("{m:?}"))?;
    expect(
        "srem",
        step("srem", conn.srem(&set, &["a".to_owned(), "z".to_owned()]))?,
        1,
        |n| n.to_string(),
    )?;
    step(
        "publish",
        conn.publish(key, &format!("published {key}").into_bytes()),
    )?;

    let bin = |s: String| RedisParameter::Binary(s.into_bytes());
    expect(
        "execute SET",
        step(
            "execute SET",
            conn.execute("SET", &[bin(format!("{key}:x")), bin("v".to_owned())]),
        )?,
        vec![RedisResult::Status("OK".to_owned())],
        |r| show_results(r),
    )?;
    expect(
        "execute GET",
        step(
            "execute GET",
            conn.execute("GET", &[bin(format!("{key}:x"))]),
        )?,
        vec![RedisResult::Binary(b"v".to_vec())],
        |r| show_results(r),
    )?;
    expect(
        "execute INCRBY",
        step(
            "execute INCRBY",
            conn.execute(
                "INCRBY",
                &[bin(format!("{key}:i")), RedisParameter::Int64(5)],
            ),
        )?,
        vec![RedisResult::Int64(5)],
        |r| show_results(r),
    )?;
    expect(
        "execute GET nothing",
        step(
            "execute GET nothing",
            conn.execute("GET", &[bin(format!("{key}:nothing"))]),
        )?,
        vec![RedisResult::Nil],
        |r| show_results(r),
    )?;
    step("set kept", conn.set(&format!("{key}:kept"), b"kept"))?;
    Ok("ok".to_owned())
}

fn blpop(address: &str, key: &str) -> Outcome {
    let conn = open(address)?;
    let bin = |s: String| RedisParameter::Binary(s.into_bytes());
    expect(
        "execute BLPOP",
        step(
            "execute BLPOP",
            conn.execute("BLPOP", &[bin(key.to_owned()), bin("2".to_owned())]),
        )?,
        vec![RedisResult::Nil],
        |r| show_results(r),
    )?;
    Ok("ok".to_owned())
}

fn type_error(address: &str, key: &str) -> Outcome {
    let conn = open(address)?;
    step("set", conn.set(key, b"not a number"))?;
    match conn.incr(key) {
        Err(Error::TypeError) => Err(Stop::Reported(Error::TypeError)),
        Err(err) => Err(Stop::Fail(format!(
            "incr: expected error: type-error, got error: {}",
            variant(&err)
        ))),
        Ok(n) => Err(Stop::Fail(format!(
            "incr: expected error: type-error, got {n}"
        ))),
    }
}

fn many(address: &str) -> String {
    let mut open_connections = Vec::new();
    while open_connections.len() < 100 {
        match Connection::open(address) {
            Ok(conn) => open_connections.push(conn),
            Err(err) => {
                return format!(
                    "opened {} then error: {}",
                    open_connections.len(),
                    variant(&err)
                )
            }
        }
    }
    format!("opened {}", open_connections.len())
}

/// The WIT name of the error's case, never its text.
fn variant(err: &Error) -> &'static str {
    match err {
        Error::InvalidAddress => "invalid-address",
        Error::TooManyConnections => "too-many-connections",
        Error::TypeError => "type-error",
        Error::Other(_) => "other",
    }
}

/// A step that must succeed: an error is a failed check.
fn step<T>(name: &str, result: Result<T, Error>) -> Result<T, Stop> {
    result.map_err(|err| {
        Stop::Fail(format!(
            "{name}: expected success, got error: {}",
            variant(&err)
        ))
    })
}

fn expect<T: PartialEq>(
    name: &str,
    got: T,
    expected: T,
    show: impl Fn(&T) -> String,
) -> Result<(), Stop> {
    if got == expected {
        Ok(())
    } else {
        Err(Stop::Fail(format!(
            "{name}: expected {}, got {}",
            show(&expected),
            show(&got)
        )))
    }
}

fn show_payload(payload: &Option<Vec<u8>>) -> String {
    match payload {
        Some(bytes) => format!("{:?}", String::from_utf8_lossy(bytes)),
        None => "none".to_owned(),
    }
}

fn show_results(results: &[RedisResult]) -> String {
    let items: Vec<String> = results
        .iter()
        .map(|r| match r {
            RedisResult::Nil => "nil".to_owned(),
            RedisResult::Status(s) => format!("status {s:?}"),
            RedisResult::Int64(n) => format!("int64 {n}"),
            RedisResult::Binary(b) => format!("binary {:?}", String::from_utf8_lossy(b)),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn fail(step: &str, expected: &str) -> Stop {
    Stop::Fail(format!("{step}: expected {expected}"))
}

fn required<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, Stop> {
    param(params, name).ok_or_else(|| Stop::Fail(format!("request: expected a `{name}` parameter")))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `a=1&b=x%20y` → [("a", "1"), ("b", "x y")] (`+` is a space; a bad `%`
/// escape is kept as is).
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|hex| bytes[i] == b'%' && hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn main() {}
