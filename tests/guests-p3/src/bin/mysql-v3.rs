//! A Spin SDK 7 HTTP service (`#[http_service]`, `wasi:http/handler@0.3.0`)
//! that talks to MySQL through `spin_sdk::mysql` (`spin:mysql/mysql@3.0.0`:
//! async functions, rows streamed), for the nimbus-cap-outbound-mysql
//! tests. The same cases as `tests/guests-spin/src/bin/mysql-v2.rs`
//! (`fermyon:spin/mysql@2.0.0`).
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

use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::mysql::{
    Column, Connection, DbDataType, DbValue, Error as SdkError, MysqlError as Error,
    ParameterValue as P,
};

/// Why a case stopped: an error of the interface, or a failed check.
enum Stop {
    Mysql(Error),
    Fail(String),
}

impl From<SdkError> for Stop {
    fn from(err: SdkError) -> Stop {
        match err {
            SdkError::MysqlError(err) => Stop::Mysql(err),
            SdkError::Decode(why) => Stop::Fail(format!("decoding: {why}")),
        }
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

/// A query's columns and all its rows, read from the stream, and how the
/// stream ended.
async fn query(
    db: &Connection,
    sql: &str,
    params: Vec<P>,
) -> Result<(Vec<Column>, Vec<Vec<DbValue>>), Stop> {
    let mut result = db.query(sql, params).await?;
    let columns = result.columns().to_vec();
    let mut rows = Vec::new();
    while let Some(row) = result.rows().next().await {
        rows.push(row);
    }
    result.result().await?;
    Ok((columns, rows))
}

/// The one value of a one-row, one-column query.
async fn scalar(db: &Connection, sql: &str) -> Result<String, Stop> {
    let (_, rows) = query(db, sql, Vec::new()).await?;
    match rows.as_slice() {
        [row] if row.len() == 1 => Ok(text(&row[0])),
        _ => fail(format!("`{sql}` did not give one value")),
    }
}

async fn execute(db: &Connection, sql: &str, params: Vec<P>) -> Result<(), Stop> {
    Ok(db.execute(sql, params).await?)
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

async fn types(db: &Connection, table: &str) -> Result<String, Stop> {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, sql, _)| format!("`{name}` {sql}"))
        .collect();
    let create = format!(
        "CREATE TABLE {table} ({}) CHARACTER SET utf8mb4",
        columns.join(", ")
    );
    execute(db, &create, Vec::new()).await?;
    let marks = vec!["?"; COLUMNS.len()].join(", ");
    let insert = format!("INSERT INTO {table} VALUES ({marks})");
    execute(db, &insert, row_params()).await?;
    let mut nulls = vec![P::DbNull; COLUMNS.len()];
    nulls[0] = P::Int32(2);
    execute(db, &insert, nulls).await?;

    let (columns, rows) = query(db, &format!("SELECT * FROM {table} ORDER BY id"), Vec::new()).await?;
    check_columns(&columns)?;
    if rows.len() != 2 {
        return fail(format!("{} rows, want 2", rows.len()));
    }
    check_row(&rows[0], &row_values(), "row 1")?;
    let mut null_row = vec![DbValue::DbNull; COLUMNS.len()];
    null_row[0] = DbValue::Int32(2);
    check_row(&rows[1], &null_row, "row 2")?;

    // Parameters in a query, and a NULL of no column.
    let (_, rows) = query(
        db,
        "SELECT ? + 1 AS n, ? AS s, NULL AS nothing",
        vec![P::Int64(41), P::Str("x".into())],
    )
    .await?;
    match rows.as_slice() {
        [row] if matches!(
            row.as_slice(),
            [DbValue::Int64(42), DbValue::Str(s), DbValue::DbNull] if s == "x"
        ) => {}
        rows => return fail(format!("SELECT ? + 1, ?, NULL gave {rows:?}")),
    }
    Ok("ok".into())
}

async fn execute_case(db: &Connection, table: &str) -> Result<String, Stop> {
    let create = format!("CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(40))");
    execute(db, &create, Vec::new()).await?;
    let insert = format!("INSERT INTO {table} VALUES (?, ?)");
    execute(db, &insert, vec![P::Int32(1), P::Str("one".into())]).await?;
    execute(db, &insert, vec![P::Int32(2), P::Str("two".into())]).await?;
    let update = format!("UPDATE {table} SET note = ? WHERE id = ?");
    execute(db, &update, vec![P::Str("deux".into()), P::Int32(2)]).await?;
    let delete = format!("DELETE FROM {table} WHERE id = ?");
    execute(db, &delete, vec![P::Int32(1)]).await?;
    Ok("ok".into())
}

async fn conversion(db: &Connection, table: &str) -> Result<String, Stop> {
    let create = format!("CREATE TABLE {table} (s VARCHAR(8) CHARACTER SET latin1)");
    execute(db, &create, Vec::new()).await?;
    let insert = format!("INSERT INTO {table} VALUES (?)");
    execute(db, &insert, vec![P::Str("ÿ".into())]).await?;
    execute(db, "SET character_set_results = NULL", Vec::new()).await?;
    let (_, rows) = query(db, &format!("SELECT s FROM {table}"), Vec::new()).await?;
    fail(format!("the latin1 value came as {rows:?}"))
}

/// 1000 rows, `n` = 1 … 1000.
const SEQUENCE: &str = "WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 1000) SELECT n FROM seq";

async fn stream(db: &Connection) -> Result<String, Stop> {
    let (_, rows) = query(db, SEQUENCE, Vec::new()).await?;
    let numbers: Vec<String> = rows.iter().map(|row| text(&row[0])).collect();
    let want: Vec<String> = (1..=1000).map(|n: i32| n.to_string()).collect();
    if numbers != want {
        return fail(format!("{} rows, not 1 … 1000", numbers.len()));
    }
    // Read a few rows, drop the rest: the connection stays usable.
    let mut result = db.query(SEQUENCE, Vec::<P>::new()).await?;
    for _ in 0..3 {
        if result.rows().next().await.is_none() {
            return fail("the second query ended early");
        }
    }
    drop(result);
    if scalar(db, "SELECT 1").await? != "1" {
        return fail("SELECT 1 after a dropped query is not 1");
    }
    Ok("ok".into())
}

async fn many(address: &str) -> Result<String, Stop> {
    let mut held = Vec::new();
    let refused = loop {
        match Connection::open(address).await {
            Ok(db) if held.len() < 64 => held.push(db),
            Ok(_) => return fail("64 connections opened"),
            Err(SdkError::MysqlError(err)) => break err,
            Err(err) => return Err(err.into()),
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
    let db = Connection::open(address).await?;
    scalar(&db, "SELECT 1").await?;
    Ok("ok".into())
}

async fn leave_open(db: &Connection, table: &str) -> Result<String, Stop> {
    let create = format!("CREATE TABLE IF NOT EXISTS {table} (x INT)");
    execute(db, &create, Vec::new()).await?;
    execute(db, "START TRANSACTION", Vec::new()).await?;
    execute(db, &format!("INSERT INTO {table} VALUES (1)"), Vec::new()).await?;
    execute(db, "SET @nimbus_leak = 'leaked'", Vec::new()).await?;
    execute(db, "SET character_set_results = NULL", Vec::new()).await?;
    execute(db, "USE information_schema", Vec::new()).await?;
    Ok(format!("ok {}", scalar(db, "SELECT CONNECTION_ID()").await?))
}

async fn check_clean(db: &Connection, table: &str) -> Result<String, Stop> {
    Ok(format!(
        "rows={} leak={} id={} charset={} db={}",
        scalar(db, &format!("SELECT COUNT(*) FROM {table}")).await?,
        scalar(db, "SELECT @nimbus_leak").await?,
        scalar(db, "SELECT CONNECTION_ID()").await?,
        scalar(db, "SELECT @@character_set_results").await?,
        scalar(db, "SELECT DATABASE()").await?,
    ))
}

async fn run(case: &str, table: &str) -> Result<String, Stop> {
    let address = spin_sdk::variables::get("address")
        .await
        .map_err(|err| Stop::Fail(format!("variable `address`: {err:?}")))?;
    if case == "many" {
        return many(&address).await;
    }
    let db = Connection::open(address).await?;
    match case {
        "open" => {
            if scalar(&db, "SELECT 1").await? != "1" {
                return fail("SELECT 1 is not 1");
            }
            Ok("opened".into())
        }
        "types" => types(&db, table).await,
        "execute" => execute_case(&db, table).await,
        "query-error" => {
            query(&db, "SELECT * FROM nimbus_no_such_table", Vec::new()).await?;
            fail("selecting from a missing table worked")
        }
        "bad-parameter" => {
            query(&db, "SELECT ?", Vec::new()).await?;
            fail("SELECT ? without a parameter worked")
        }
        "conversion" => conversion(&db, table).await,
        "stream" => stream(&db).await,
        "leave-open" => leave_open(&db, table).await,
        "check-clean" => check_clean(&db, table).await,
        other => fail(format!("unknown case `{other}`")),
    }
}

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let mut case = String::new();
    let mut table = String::from("t");
    for pair in req.uri().query().unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("case", v)) => case = v.to_owned(),
            Some(("table", v)) => table = v.to_owned(),
            _ => {}
        }
    }
    match run(&case, &table).await {
        Ok(answer) => (StatusCode::OK, answer),
        Err(Stop::Mysql(err)) => {
            let (name, message) = variant(&err);
            (StatusCode::OK, format!("error: {name}\n{message}"))
        }
        Err(Stop::Fail(what)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("FAIL: {what}")),
    }
}

fn main() {}
