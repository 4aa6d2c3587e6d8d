//! A Spin SDK 5 HTTP component that talks to MySQL through
//! `spin_sdk::mysql` (`fermyon:spin/mysql@2.0.0`), for the
//! nimbus-cap-outbound-mysql tests. `tests/guests-p3/src/bin/mysql-v3.rs`
//! is the same for `spin:mysql/mysql@3.0.0`.
//!
//! The address comes from the component variable `address`; the case from
//! the query string: `GET /?case=CASE&table=TABLE`.
//!
//! | case | what it does | answer when all went as expected |
//! |---|---|---|
//! | `open` | opens the address, runs `SELECT 1` | `opened` |
//! | `types` | creates TABLE with a column of every type, inserts a row with a parameter of every type and a row of NULLs, reads them back and checks every column's type and value | `ok` |
//! | `execute` | creates TABLE (`id INT PRIMARY KEY, note VARCHAR(40)`), inserts (1, one) and (2, two), updates 2 to `deux`, deletes 1 | `ok` |
//! | `query-error` | selects from a table that does not exist | `error: query-failed` |
//! | `bad-parameter` | runs `SELECT ?` with no parameter | `error: bad-parameter` |
//! | `conversion` | makes the server send a latin1 `ÿ` unconverted (`character_set_results = NULL`) in a text column of TABLE | `error: value-conversion-failed` |
//! | `stream` | selects 1000 generated rows and checks them (in mysql-v3: then reads 3 rows of another such query, drops it unread, and runs `SELECT 1` on the same connection) | `ok` |
//! | `many` | opens connections until one fails: the 17th must fail with `connection-failed` ("too many connections"), and one more open must work once one is dropped | `ok` |
//! | `leave-open` | creates TABLE (`x INT`), starts a transaction, inserts a row, sets `@nimbus_leak` and `character_set_results`, switches to database `information_schema`, and returns without committing | `ok ID` (the server's connection id) |
//! | `check-clean` | counts TABLE's rows and reads `@nimbus_leak`, the connection id, `@@character_set_results` and the current database | `rows=N leak=V id=ID charset=C db=D` |
//!
//! Every answer is 200. An error of the interface, where the case does not
//! expect one (or where it does: `error: …` above), is answered as
//! `error: <variant, kebab-case>` and, on the next line, its message. A
//! check inside the guest that fails answers 500 `FAIL: <what>`.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::mysql::{Column, Connection, DbDataType, DbValue, MysqlError as Error, ParameterValue as P};

/// Why a case stopped: an error of the interface, or a failed check.
enum Stop {
    Mysql(Error),
    Fail(String),
}

impl From<Error> for Stop {
    fn from(err: Error) -> Stop {
        Stop::Mysql(err)
    }
}

fn fail<T>(what: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Fail(what.into()))
}

fn variant(err: &Error) -> (&'static str, &str) {
    match err {
        Error::ConnectionFailed(m) => ("connection-failed", m),
        Error::BadParameter(m) => ("bad-parameter", m),
        Error::QueryFailed(m) => ("query-failed", m),
        Error::ValueConversionFailed(m) => ("value-conversion-failed", m),
        Error::Other(m) => ("other", m),
    }
}

/// A value as text, for answers.
fn text(value: &DbValue) -> String {
    match value {
        DbValue::Boolean(v) => v.to_string(),
        DbValue::Int8(v) => v.to_string(),
        DbValue::Int16(v) => v.to_string(),
        DbValue::Int32(v) => v.to_string(),
        DbValue::Int64(v) => v.to_string(),
        DbValue::Uint8(v) => v.to_string(),
        DbValue::Uint16(v) => v.to_string(),
        DbValue::Uint32(v) => v.to_string(),
        DbValue::Uint64(v) => v.to_string(),
        DbValue::Floating32(v) => v.to_string(),
        DbValue::Floating64(v) => v.to_string(),
        DbValue::Str(v) => v.clone(),
        DbValue::Binary(v) => String::from_utf8_lossy(v).into_owned(),
        DbValue::DbNull => "NULL".to_owned(),
        DbValue::Unsupported => "unsupported".to_owned(),
    }
}

/// The one value of a one-row, one-column query.
fn scalar(db: &Connection, sql: &str) -> Result<String, Stop> {
    let rows = db.query(sql, &[])?;
    match rows.rows.as_slice() {
        [row] if row.len() == 1 => Ok(text(&row[0])),
        _ => fail(format!("`{sql}` did not give one value")),
    }
}

/// The columns of the `types` table: name, SQL type, the interface type
/// MySQL's maps to.
const COLUMNS: &[(&str, &str, DbDataType)] = &[
    ("id", "INT PRIMARY KEY", DbDataType::Int32),
    ("b", "BOOLEAN", DbDataType::Int8),
    ("i8", "TINYINT", DbDataType::Int8),
    ("i16", "SMALLINT", DbDataType::Int16),
    ("i32", "INT", DbDataType::Int32),
    ("i64", "BIGINT", DbDataType::Int64),
    ("u8", "TINYINT UNSIGNED", DbDataType::Uint8),
    ("u16", "SMALLINT UNSIGNED", DbDataType::Uint16),
    ("u32", "INT UNSIGNED", DbDataType::Uint32),
    ("u64", "BIGINT UNSIGNED", DbDataType::Uint64),
    ("f32", "FLOAT", DbDataType::Floating32),
    ("f64", "DOUBLE", DbDataType::Floating64),
    ("s", "VARCHAR(64)", DbDataType::Str),
    ("t", "TEXT", DbDataType::Str),
    ("c", "CHAR(4)", DbDataType::Str),
    ("bin", "VARBINARY(16)", DbDataType::Binary),
    ("blb", "BLOB", DbDataType::Binary),
    ("fixed", "BINARY(4)", DbDataType::Binary),
    ("m", "MEDIUMINT", DbDataType::Int32),
    ("dec", "DECIMAL(10,2)", DbDataType::Str),
    ("d", "DATE", DbDataType::Str),
    ("tm", "TIME(3)", DbDataType::Str),
    ("dt", "DATETIME(6)", DbDataType::Str),
    ("ts", "TIMESTAMP NULL", DbDataType::Str),
    ("yr", "YEAR", DbDataType::Other),
    ("bits", "BIT(8)", DbDataType::Other),
];

/// The parameters of the first row, in column order.
fn row_params() -> Vec<P> {
    vec![
        P::Int32(1),
        P::Boolean(true),
        P::Int8(i8::MIN),
        P::Int16(i16::MIN),
        P::Int32(i32::MIN),
        P::Int64(i64::MIN),
        P::Uint8(u8::MAX),
        P::Uint16(u16::MAX),
        P::Uint32(u32::MAX),
        P::Uint64(u64::MAX),
        P::Floating32(1.5),
        P::Floating64(-2.25),
        P::Str("héllo ✓".into()),
        P::Str("a longer text".into()),
        P::Str("abcd".into()),
        P::Binary(vec![0, 1, 2, 255]),
        P::Binary(vec![9; 300]),
        P::Binary(vec![1, 2, 3, 4]),
        P::Int32(-8_388_608),
        P::Str("12.50".into()),
        P::Str("2024-02-29".into()),
        P::Str("-838:59:59.500".into()),
        P::Str("2024-02-29 13:14:15.123456".into()),
        P::Str("2024-02-29 13:14:15".into()),
        P::Uint16(2024),
        P::Binary(vec![0xa5]),
    ]
}

/// What the first row reads back as, in column order.
fn row_values() -> Vec<DbValue> {
    vec![
        DbValue::Int32(1),
        DbValue::Int8(1),
        DbValue::Int8(i8::MIN),
        DbValue::Int16(i16::MIN),
        DbValue::Int32(i32::MIN),
        DbValue::Int64(i64::MIN),
        DbValue::Uint8(u8::MAX),
        DbValue::Uint16(u16::MAX),
        DbValue::Uint32(u32::MAX),
        DbValue::Uint64(u64::MAX),
        DbValue::Floating32(1.5),
        DbValue::Floating64(-2.25),
        DbValue::Str("héllo ✓".into()),
        DbValue::Str("a longer text".into()),
        DbValue::Str("abcd".into()),
        DbValue::Binary(vec![0, 1, 2, 255]),
        DbValue::Binary(vec![9; 300]),
        DbValue::Binary(vec![1, 2, 3, 4]),
        DbValue::Int32(-8_388_608),
        DbValue::Str("12.50".into()),
        DbValue::Str("2024-02-29".into()),
        DbValue::Str("-838:59:59.500".into()),
        DbValue::Str("2024-02-29 13:14:15.123456".into()),
        DbValue::Str("2024-02-29 13:14:15".into()),
        DbValue::Unsupported,
        DbValue::Unsupported,
    ]
}

fn check_columns(columns: &[Column]) -> Result<(), Stop> {
    let got: Vec<String> = columns
        .iter()
        .map(|c| format!("{}:{:?}", c.name, c.data_type))
        .collect();
    let want: Vec<String> = COLUMNS
        .iter()
        .map(|(name, _, ty)| format!("{name}:{ty:?}"))
        .collect();
    if got != want {
        return fail(format!("columns: got {got:?}, want {want:?}"));
    }
    Ok(())
}

fn check_row(row: &[DbValue], want: &[DbValue], which: &str) -> Result<(), Stop> {
    if row.len() != want.len() {
        return fail(format!("{which}: {} values, want {}", row.len(), want.len()));
    }
    for ((value, want), (name, ..)) in row.iter().zip(want).zip(COLUMNS) {
        if format!("{value:?}") != format!("{want:?}") {
            return fail(format!("{which}, column {name}: got {value:?}, want {want:?}"));
        }
    }
    Ok(())
}

fn types(db: &Connection, table: &str) -> Result<String, Stop> {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, sql, _)| format!("`{name}` {sql}"))
        .collect();
    db.execute(
        &format!(
            "CREATE TABLE {table} ({}) CHARACTER SET utf8mb4",
            columns.join(", ")
        ),
        &[],
    )?;
    let marks = vec!["?"; COLUMNS.len()].join(", ");
    let insert = format!("INSERT INTO {table} VALUES ({marks})");
    db.execute(&insert, &row_params())?;
    let mut nulls = vec![P::DbNull; COLUMNS.len()];
    nulls[0] = P::Int32(2);
    db.execute(&insert, &nulls)?;

    let result = db.query(&format!("SELECT * FROM {table} ORDER BY id"), &[])?;
    check_columns(&result.columns)?;
    if result.rows.len() != 2 {
        return fail(format!("{} rows, want 2", result.rows.len()));
    }
    check_row(&result.rows[0], &row_values(), "row 1")?;
    let mut null_row = vec![DbValue::DbNull; COLUMNS.len()];
    null_row[0] = DbValue::Int32(2);
    check_row(&result.rows[1], &null_row, "row 2")?;

    // Parameters in a query, and a NULL of no column.
    let result = db.query(
        "SELECT ? + 1 AS n, ? AS s, NULL AS nothing",
        &[P::Int64(41), P::Str("x".into())],
    )?;
    match result.rows.as_slice() {
        [row] if matches!(
            row.as_slice(),
            [DbValue::Int64(42), DbValue::Str(s), DbValue::DbNull] if s == "x"
        ) => {}
        rows => return fail(format!("SELECT ? + 1, ?, NULL gave {rows:?}")),
    }
    Ok("ok".into())
}

fn execute(db: &Connection, table: &str) -> Result<String, Stop> {
    db.execute(
        &format!("CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(40))"),
        &[],
    )?;
    let insert = format!("INSERT INTO {table} VALUES (?, ?)");
    db.execute(&insert, &[P::Int32(1), P::Str("one".into())])?;
    db.execute(&insert, &[P::Int32(2), P::Str("two".into())])?;
    db.execute(
        &format!("UPDATE {table} SET note = ? WHERE id = ?"),
        &[P::Str("deux".into()), P::Int32(2)],
    )?;
    db.execute(&format!("DELETE FROM {table} WHERE id = ?"), &[P::Int32(1)])?;
    Ok("ok".into())
}

fn conversion(db: &Connection, table: &str) -> Result<String, Stop> {
    db.execute(
        &format!("CREATE TABLE {table} (s VARCHAR(8) CHARACTER SET latin1)"),
        &[],
    )?;
    db.execute(
        &format!("INSERT INTO {table} VALUES (?)"),
        &[P::Str("ÿ".into())],
    )?;
    db.execute("SET character_set_results = NULL", &[])?;
    let rows = db.query(&format!("SELECT s FROM {table}"), &[])?;
    fail(format!("the latin1 value came as {:?}", rows.rows))
}

/// 1000 rows, `n` = 1 … 1000.
const SEQUENCE: &str = "WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 1000) SELECT n FROM seq";

fn stream(db: &Connection) -> Result<String, Stop> {
    let result = db.query(SEQUENCE, &[])?;
    let numbers: Vec<String> = result.rows.iter().map(|row| text(&row[0])).collect();
    let want: Vec<String> = (1..=1000).map(|n: i32| n.to_string()).collect();
    if numbers != want {
        return fail(format!("{} rows, not 1 … 1000", numbers.len()));
    }
    Ok("ok".into())
}

fn many(address: &str) -> Result<String, Stop> {
    let mut held = Vec::new();
    let refused = loop {
        match Connection::open(address) {
            Ok(db) if held.len() < 64 => held.push(db),
            Ok(_) => return fail("64 connections opened"),
            Err(err) => break err,
        }
    };
    if held.len() != 16 {
        return fail(format!("{} connections opened, want 16", held.len()));
    }
    match &refused {
        Error::ConnectionFailed(m) if m.contains("too many connections") => {}
        other => return fail(format!("the 17th open failed with {other:?}")),
    }
    held.pop();
    let db = Connection::open(address)?;
    scalar(&db, "SELECT 1")?;
    Ok("ok".into())
}

fn leave_open(db: &Connection, table: &str) -> Result<String, Stop> {
    db.execute(&format!("CREATE TABLE IF NOT EXISTS {table} (x INT)"), &[])?;
    db.execute("START TRANSACTION", &[])?;
    db.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])?;
    db.execute("SET @nimbus_leak = 'leaked'", &[])?;
    db.execute("SET character_set_results = NULL", &[])?;
    db.execute("USE information_schema", &[])?;
    Ok(format!("ok {}", scalar(db, "SELECT CONNECTION_ID()")?))
}

fn check_clean(db: &Connection, table: &str) -> Result<String, Stop> {
    Ok(format!(
        "rows={} leak={} id={} charset={} db={}",
        scalar(db, &format!("SELECT COUNT(*) FROM {table}"))?,
        scalar(db, "SELECT @nimbus_leak")?,
        scalar(db, "SELECT CONNECTION_ID()")?,
        scalar(db, "SELECT @@character_set_results")?,
        scalar(db, "SELECT DATABASE()")?,
    ))
}

fn run(case: &str, table: &str) -> Result<String, Stop> {
    let address = spin_sdk::variables::get("address")
        .map_err(|err| Stop::Fail(format!("variable `address`: {err:?}")))?;
    if case == "many" {
        return many(&address);
    }
    let db = Connection::open(&address)?;
    match case {
        "open" => {
            if scalar(&db, "SELECT 1")? != "1" {
                return fail("SELECT 1 is not 1");
            }
            Ok("opened".into())
        }
        "types" => types(&db, table),
        "execute" => execute(&db, table),
        "query-error" => {
            db.query("SELECT * FROM nimbus_no_such_table", &[])?;
            fail("selecting from a missing table worked")
        }
        "bad-parameter" => {
            db.query("SELECT ?", &[])?;
            fail("SELECT ? without a parameter worked")
        }
        "conversion" => conversion(&db, table),
        "stream" => stream(&db),
        "leave-open" => leave_open(&db, table),
        "check-clean" => check_clean(&db, table),
        other => fail(format!("unknown case `{other}`")),
    }
}

#[http_component]
fn handle(req: Request) -> impl IntoResponse {
    let mut case = String::new();
    let mut table = String::from("t");
    for pair in req.query().split('&') {
        match pair.split_once('=') {
            Some(("case", v)) => case = v.to_owned(),
            Some(("table", v)) => table = v.to_owned(),
            _ => {}
        }
    }
    match run(&case, &table) {
        Ok(answer) => Response::new(200, answer),
        Err(Stop::Mysql(err)) => {
            let (name, message) = variant(&err);
            Response::new(200, format!("error: {name}\n{message}"))
        }
        Err(Stop::Fail(what)) => Response::new(500, format!("FAIL: {what}")),
    }
}

fn main() {}
