//! A Spin SDK HTTP component for Spin's outbound PostgreSQL interface
//! `spin:postgres/postgres@4.0.0` (`spin_sdk::pg4`, blocking), for the
//! outbound PostgreSQL tests. `pg-v2`, `pg-v3` and `pg-v4-2` (tests/guests-p3,
//! `spin:postgres/postgres@4.2.0`, async and streaming) speak
//! the same protocol over the other interface versions, each with its types.
//!
//! Any path; the database address is the Spin variable `address`, the case
//! is the query string `?case=NAME` plus parameters. Answers:
//!
//! - 200 with the case's body on success;
//! - 200 `error: <variant>` where the case reports an interface error
//!   (`connection-failed`, `bad-parameter`, `query-failed <SQLSTATE>` for a
//!   structured `db-error` (its `code`, e.g. `query-failed 42P01`, or
//!   `query-failed invalid-sqlstate` if the code is not 5 letters or
//!   digits), `query-failed text` for the `text` case,
//!   `value-conversion-failed`, `other`; the error's text is never
//!   included);
//! - 500 `FAIL: <step>: <expected vs got>` when a check in the guest fails
//!   (also when a step that must succeed returns an error: then `got` is
//!   `error: <variant>`), or the request is malformed (no `case`, a missing
//!   or non-identifier `table`, the variable `address` unset).
//!
//! Cases (`open` errors are reported as `error: <variant>` in every case;
//! `T` is a table name made of ASCII letters, digits and `_`):
//!
//! - `case=open`: `opened` or `error: <variant>`.
//! - `case=types&table=T`: `CREATE TABLE T (id INT4, c_boolean BOOL,
//!   c_int16 INT2, c_int32 INT4, c_int64 INT8, c_floating32 FLOAT4,
//!   c_floating64 FLOAT8, c_str TEXT, c_binary BYTEA, c_date DATE, c_time
//!   TIME, c_datetime TIMESTAMP, c_uuid UUID, c_jsonb JSONB, c_decimal
//!   NUMERIC, c_range_int32 INT4RANGE, c_range_int64 INT8RANGE,
//!   c_range_decimal NUMRANGE, c_array_int32 INT4[], c_array_int64 INT8[],
//!   c_array_decimal NUMERIC[], c_array_str TEXT[], c_interval INTERVAL)`;
//!   inserts row id=1 with a value for every column (parameters
//!   `$1`..`$23`) and row id=2
//!   with `db-null` for every column but id (each insert must count 1);
//!   `SELECT * FROM T ORDER BY id` must give the columns' names and
//!   `db-data-type`s (id: int32, then the type named in the column), row 1
//!   equal to what was sent (jsonb compared as JSON, not as bytes; ranges
//!   and decimals sent in PostgreSQL's canonical form, so they come back
//!   the same) and row 2 all `db-null` but id. Body `ok`.
//!   Left out: `int8` (PostgreSQL's `"char"`: Spin's host writes it but
//!   reads it back as `unsupported`/`other`; see `case=int8`) and the
//!   `timestamp` (the WIT says "Unix timestamp (seconds since epoch)" and
//!   the SDK documents it as BIGINT, but today's Spin host sends it as a
//!   `TIMESTAMPTZ` and reads no column back as `timestamp`: `TIMESTAMP`
//!   reads as `datetime`; see `case=timestamp`).
//! - `case=execute&table=T`: `CREATE TABLE T (id INT4, name TEXT)`; one
//!   `INSERT` of 3 rows (6 parameters) must count 3; `UPDATE T SET name =
//!   'x' WHERE id > 1` must count 2. Body `ok`.
//! - `case=query-error`: `SELECT * FROM nimbus_no_such_table` must fail:
//!   body `error: <variant>` (expected `error: query-failed 42P01`).
//! - `case=bad-parameter`: `SELECT $1::INT4` with the str parameter "x"
//!   must fail: body `error: <variant>`, whichever the host returns.
//! - `case=many`: opens connections in a loop, keeping every one open, up
//!   to 100: `opened 100` or `opened N then error: <variant>`.
//! - `case=too-big`: selects 40 rows of 1 MiB each, which must fail: body
//!   `error: <variant>` (the host bounds one result to 32 MiB).
//! - `case=int8&table=T` (a probe, not a check): `CREATE TABLE T (id INT4,
//!   c_int8 "char")`, inserts (1, int8 -5), selects `c_int8`: body
//!   `type=<db-data-type> value=<db-value>` (kebab-case names, the value's
//!   number for int8, e.g. `type=int8 value=-5` or `type=other
//!   value=unsupported`), or `error: <variant>` if the insert or select
//!   fails.
//! - `case=timestamp&table=T` (a probe, not a check): `CREATE TABLE T (id
//!   INT4, c_timestamp TIMESTAMPTZ)`, inserts (1, timestamp -86399), then
//!   `SELECT EXTRACT(EPOCH FROM c_timestamp)::INT8 FROM T`: body
//!   `epoch=<int64>` (`epoch=-86399` when the host sends the timestamp as a
//!   TIMESTAMPTZ of that Unix time), or `error: <variant>` if the insert or
//!   select fails.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::pg4::{
    Connection, DbDataType, DbValue, Interval, ParameterValue, PgError, QueryError, RangeBoundKind,
};

/// Why a case stopped early.
enum Stop {
    /// An interface error the case reports: 200 `error: <variant>`.
    Reported(PgError),
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
    let case = param(params, "case")
        .ok_or_else(|| Stop::Fail("request: expected a `case` parameter".to_owned()))?;
    let address = spin_sdk::variables::get("address").map_err(|_| {
        Stop::Fail("variables: expected the variable `address`, got an error".to_owned())
    })?;
    match case {
        "open" => {
            open(&address)?;
            Ok("opened".to_owned())
        }
        "types" => types(&address, table(params)?),
        "execute" => execute(&address, table(params)?),
        "query-error" => expect_error(&address, "SELECT * FROM nimbus_no_such_table", &[]),
        "bad-parameter" => expect_error(
            &address,
            "SELECT $1::INT4",
            &[ParameterValue::Str("x".to_owned())],
        ),
        "many" => Ok(many(&address)),
        // 40 rows of 1 MiB: more than the host lets one result hold.
        "too-big" => expect_error(
            &address,
            "SELECT repeat('x', 1048576) FROM generate_series(1, 40)",
            &[],
        ),
        "int8" => int8(&address, table(params)?),
        "timestamp" => timestamp(&address, table(params)?),
        other => Err(Stop::Fail(format!("request: unknown case {other:?}"))),
    }
}

fn open(address: &str) -> Result<Connection, Stop> {
    Connection::open(address).map_err(Stop::Reported)
}

/// A column of the `types` table: its SQL type, the value sent for row 1
/// and the value and `db-data-type` expected back.
struct Col {
    name: &'static str,
    sql: &'static str,
    param: ParameterValue,
    expected: DbValue,
    data_type: DbDataType,
}

/// `col!("c_x", "SQL", Variant(value))`: the parameter and the expected
/// value are the same case of `parameter-value` and `db-value`, and the
/// `db-data-type` has the same name.
macro_rules! col {
    ($name:literal, $sql:literal, $variant:ident($value:expr)) => {
        Col {
            name: $name,
            sql: $sql,
            param: ParameterValue::$variant($value),
            expected: DbValue::$variant($value),
            data_type: DbDataType::$variant,
        }
    };
}

fn columns() -> Vec<Col> {
    vec![
        col!("c_boolean", "BOOL", Boolean(true)),
        col!("c_int16", "INT2", Int16(i16::MIN)),
        col!("c_int32", "INT4", Int32(i32::MAX)),
        col!("c_int64", "INT8", Int64(i64::MIN)),
        col!("c_floating32", "FLOAT4", Floating32(-1.5)),
        col!("c_floating64", "FLOAT8", Floating64(1234.5625)),
        col!(
            "c_str",
            "TEXT",
            Str("héllo ✓ 'q' \"dq\" \\ \n\t end".to_owned())
        ),
        col!(
            "c_binary",
            "BYTEA",
            Binary(vec![0x00, 0xff, 0x01, 0x80, 0x7f, b'\\', 0x00])
        ),
        // Before 1970; the time's nanoseconds are whole microseconds (what
        // PostgreSQL keeps); the datetime is 1 µs before the Unix epoch.
        col!("c_date", "DATE", Date((1969, 7, 20))),
        col!("c_time", "TIME", Time((23, 59, 58, 123_456_000))),
        col!(
            "c_datetime",
            "TIMESTAMP",
            Datetime((1969, 12, 31, 23, 59, 59, 999_999_000))
        ),
        col!(
            "c_uuid",
            "UUID",
            Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".to_owned())
        ),
        col!(
            "c_jsonb",
            "JSONB",
            Jsonb(
                r#"{"b": [1, -2, null], "a": "héllo ✓", "n": {"t": true}}"#
                    .as_bytes()
                    .to_vec()
            )
        ),
        col!(
            "c_decimal",
            "NUMERIC",
            Decimal("-1234567890.0123456789".to_owned())
        ),
        // Discrete ranges in canonical form ([lower, upper)), each with one
        // unbounded side; a numeric range is kept as sent.
        col!(
            "c_range_int32",
            "INT4RANGE",
            RangeInt32((Some((-5, RangeBoundKind::Inclusive)), None))
        ),
        col!(
            "c_range_int64",
            "INT8RANGE",
            RangeInt64((None, Some((1_000_000_000_000, RangeBoundKind::Exclusive))))
        ),
        col!(
            "c_range_decimal",
            "NUMRANGE",
            RangeDecimal((
                Some(("1.5".to_owned(), RangeBoundKind::Exclusive)),
                Some(("2.25".to_owned(), RangeBoundKind::Inclusive))
            ))
        ),
        col!(
            "c_array_int32",
            "INT4[]",
            ArrayInt32(vec![Some(1), None, Some(i32::MIN)])
        ),
        col!(
            "c_array_int64",
            "INT8[]",
            ArrayInt64(vec![Some(i64::MAX), None, Some(-1)])
        ),
        col!(
            "c_array_decimal",
            "NUMERIC[]",
            ArrayDecimal(vec![
                Some("1.5".to_owned()),
                None,
                Some("-0.001".to_owned())
            ])
        ),
        col!(
            "c_array_str",
            "TEXT[]",
            ArrayStr(vec![
                Some("héllo ✓".to_owned()),
                None,
                Some(String::new()),
                Some("a,b \"q\" {x} NULL".to_owned())
            ])
        ),
        col!(
            "c_interval",
            "INTERVAL",
            Interval(Interval {
                months: 14,
                days: -3,
                micros: 3_723_000_001
            })
        ),
    ]
}

fn types(address: &str, table: &str) -> Outcome {
    let conn = open(address)?;
    let cols = columns();
    let defs: Vec<String> = cols
        .iter()
        .map(|c| format!("{} {}", c.name, c.sql))
        .collect();
    step(
        "create",
        conn.execute(
            &format!("CREATE TABLE {table} (id INT4, {})", defs.join(", ")),
            &[],
        ),
    )?;
    let names: Vec<&str> = cols.iter().map(|c| c.name).collect();
    let placeholders: Vec<String> = (1..=cols.len() + 1).map(|i| format!("${i}")).collect();
    let insert = format!(
        "INSERT INTO {table} (id, {}) VALUES ({})",
        names.join(", "),
        placeholders.join(", ")
    );
    let mut row1 = vec![ParameterValue::Int32(1)];
    row1.extend(cols.iter().map(|c| c.param.clone()));
    expect_eq(
        "insert row 1",
        step("insert row 1", conn.execute(&insert, &row1))?,
        1,
    )?;
    let mut row2 = vec![ParameterValue::Int32(2)];
    row2.extend(cols.iter().map(|_| ParameterValue::DbNull));
    expect_eq(
        "insert row 2",
        step("insert row 2", conn.execute(&insert, &row2))?,
        1,
    )?;

    let set = step(
        "select",
        conn.query(&format!("SELECT * FROM {table} ORDER BY id"), &[]),
    )?;
    let got_columns: Vec<String> = set.columns.iter().map(|c| c.name.clone()).collect();
    let mut expected_columns = vec!["id".to_owned()];
    expected_columns.extend(cols.iter().map(|c| c.name.to_owned()));
    expect_eq("columns", got_columns, expected_columns)?;
    expect_debug(
        "column id type",
        &set.columns[0].data_type,
        &DbDataType::Int32,
    )?;
    for (col, got) in cols.iter().zip(&set.columns[1..]) {
        expect_debug(
            &format!("column {} type", col.name),
            &got.data_type,
            &col.data_type,
        )?;
    }
    expect_eq("row count", set.rows.len(), 2)?;
    for (index, row) in set.rows.iter().enumerate() {
        let n = index + 1;
        expect_eq(&format!("row {n} length"), row.len(), cols.len() + 1)?;
        expect_debug(&format!("row {n} id"), &row[0], &DbValue::Int32(n as i32))?;
        for (col, got) in cols.iter().zip(&row[1..]) {
            let expected = if n == 1 {
                &col.expected
            } else {
                &DbValue::DbNull
            };
            expect_value(&format!("row {n} {}", col.name), got, expected)?;
        }
    }
    Ok("ok".to_owned())
}

fn execute(address: &str, table: &str) -> Outcome {
    let conn = open(address)?;
    step(
        "create",
        conn.execute(&format!("CREATE TABLE {table} (id INT4, name TEXT)"), &[]),
    )?;
    let rows = [
        ParameterValue::Int32(1),
        ParameterValue::Str("a".to_owned()),
        ParameterValue::Int32(2),
        ParameterValue::Str("b".to_owned()),
        ParameterValue::Int32(3),
        ParameterValue::Str("c".to_owned()),
    ];
    let inserted = step(
        "insert",
        conn.execute(
            &format!("INSERT INTO {table} (id, name) VALUES ($1, $2), ($3, $4), ($5, $6)"),
            &rows,
        ),
    )?;
    expect_eq("insert count", inserted, 3)?;
    let updated = step(
        "update",
        conn.execute(&format!("UPDATE {table} SET name = 'x' WHERE id > 1"), &[]),
    )?;
    expect_eq("update count", updated, 2)?;
    Ok("ok".to_owned())
}

/// A query that must fail: its error is the answer.
fn expect_error(address: &str, statement: &str, params: &[ParameterValue]) -> Outcome {
    let conn = open(address)?;
    match conn.query(statement, params) {
        Err(err) => Err(Stop::Reported(err)),
        Ok(set) => Err(Stop::Fail(format!(
            "query: expected an error, got {} rows",
            set.rows.len()
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

fn int8(address: &str, table: &str) -> Outcome {
    let conn = open(address)?;
    step(
        "create",
        conn.execute(
            &format!("CREATE TABLE {table} (id INT4, c_int8 \"char\")"),
            &[],
        ),
    )?;
    conn.execute(
        &format!("INSERT INTO {table} (id, c_int8) VALUES ($1, $2)"),
        &[ParameterValue::Int32(1), ParameterValue::Int8(-5)],
    )
    .map_err(Stop::Reported)?;
    let set = conn
        .query(&format!("SELECT c_int8 FROM {table}"), &[])
        .map_err(Stop::Reported)?;
    let data_type = match set.columns.first().map(|c| &c.data_type) {
        Some(DbDataType::Int8) => "int8",
        Some(DbDataType::Other(_)) => "other",
        Some(_) => "unexpected",
        None => "none",
    };
    let value = match set.rows.first().and_then(|row| row.first()) {
        Some(DbValue::Int8(n)) => n.to_string(),
        Some(DbValue::Unsupported(_)) => "unsupported".to_owned(),
        Some(DbValue::DbNull) => "db-null".to_owned(),
        Some(_) => "unexpected".to_owned(),
        None => "none".to_owned(),
    };
    Ok(format!("type={data_type} value={value}"))
}

fn timestamp(address: &str, table: &str) -> Outcome {
    let conn = open(address)?;
    step(
        "create",
        conn.execute(
            &format!("CREATE TABLE {table} (id INT4, c_timestamp TIMESTAMPTZ)"),
            &[],
        ),
    )?;
    conn.execute(
        &format!("INSERT INTO {table} (id, c_timestamp) VALUES ($1, $2)"),
        &[ParameterValue::Int32(1), ParameterValue::Timestamp(-86399)],
    )
    .map_err(Stop::Reported)?;
    let set = conn
        .query(
            &format!("SELECT EXTRACT(EPOCH FROM c_timestamp)::INT8 FROM {table}"),
            &[],
        )
        .map_err(Stop::Reported)?;
    match set.rows.first().and_then(|row| row.first()) {
        Some(DbValue::Int64(n)) => Ok(format!("epoch={n}")),
        other => Err(Stop::Fail(format!(
            "select epoch: expected an int64, got {other:?}"
        ))),
    }
}

/// The WIT name of the error's case, never its text; for `query-failed`,
/// the SQLSTATE of a structured error, or `text`.
fn variant(err: &PgError) -> String {
    match err {
        PgError::ConnectionFailed(_) => "connection-failed".to_owned(),
        PgError::BadParameter(_) => "bad-parameter".to_owned(),
        PgError::QueryFailed(QueryError::DbError(e)) => {
            let code = &e.code;
            if code.len() == 5
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                format!("query-failed {code}")
            } else {
                "query-failed invalid-sqlstate".to_owned()
            }
        }
        PgError::QueryFailed(QueryError::Text(_)) => "query-failed text".to_owned(),
        PgError::ValueConversionFailed(_) => "value-conversion-failed".to_owned(),
        PgError::Other(_) => "other".to_owned(),
    }
}

/// A step that must succeed: an error is a failed check.
fn step<T>(name: &str, result: Result<T, PgError>) -> Result<T, Stop> {
    result.map_err(|err| {
        Stop::Fail(format!(
            "{name}: expected success, got error: {}",
            variant(&err)
        ))
    })
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(name: &str, got: T, expected: T) -> Result<(), Stop> {
    if got == expected {
        Ok(())
    } else {
        Err(Stop::Fail(format!(
            "{name}: expected {expected:?}, got {got:?}"
        )))
    }
}

/// Compares by the bindings' `Debug` form (the generated types have no
/// `PartialEq`); floats print exactly.
fn expect_debug<T: std::fmt::Debug>(name: &str, got: &T, expected: &T) -> Result<(), Stop> {
    let (got, expected) = (format!("{got:?}"), format!("{expected:?}"));
    if got == expected {
        Ok(())
    } else {
        Err(Stop::Fail(format!(
            "{name}: expected {expected}, got {got}"
        )))
    }
}

/// Compares values by their `Debug` form, but jsonb as JSON (the host may
/// hand back PostgreSQL's text form or re-serialize it).
fn expect_value(name: &str, got: &DbValue, expected: &DbValue) -> Result<(), Stop> {
    if let (DbValue::Jsonb(g), DbValue::Jsonb(e)) = (got, expected) {
        let parse = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).ok();
        return match (parse(g), parse(e)) {
            (Some(g), Some(e)) if g == e => Ok(()),
            _ => Err(Stop::Fail(format!(
                "{name}: expected jsonb {}, got jsonb {}",
                String::from_utf8_lossy(e),
                String::from_utf8_lossy(g)
            ))),
        };
    }
    expect_debug(name, got, expected)
}

/// The `table` parameter, which must be an identifier (it is put into SQL).
fn table(params: &[(String, String)]) -> Result<&str, Stop> {
    match param(params, "table") {
        Some(t)
            if !t.is_empty()
                && t.len() <= 63
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !t.as_bytes()[0].is_ascii_digit() =>
        {
            Ok(t)
        }
        Some(t) => Err(Stop::Fail(format!(
            "request: expected `table` to be an identifier, got {t:?}"
        ))),
        None => Err(Stop::Fail(
            "request: expected a `table` parameter".to_owned(),
        )),
    }
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
