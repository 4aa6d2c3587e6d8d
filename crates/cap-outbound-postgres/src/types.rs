//! PostgreSQL values ⇄ the interface's values (`spin:postgres@4.0.0`
//! types: the richest version; older versions convert from them in
//! `versions.rs`).
//!
//! | interface | PostgreSQL |
//! |---|---|
//! | `boolean` | `BOOL` |
//! | `int8` | `"char"` |
//! | `int16`, `int32`, `int64` | `INT2`, `INT4`, `INT8` |
//! | `floating32`, `floating64` | `FLOAT4`, `FLOAT8` |
//! | `str` | `TEXT`, `VARCHAR`, `CHAR(n)`, `NAME` |
//! | `binary` | `BYTEA` |
//! | `date`, `time`, `datetime` | `DATE`, `TIME`, `TIMESTAMP` (a `TIMESTAMPTZ` reads as `datetime` in UTC) |
//! | `timestamp` (seconds since the epoch, parameters only) | `TIMESTAMPTZ` |
//! | `uuid` | `UUID` |
//! | `jsonb` | `JSONB` (and `JSON`) |
//! | `decimal` | `NUMERIC` (up to 28 significant digits) |
//! | `range-int32`, `range-int64`, `range-decimal` | `INT4RANGE`, `INT8RANGE`, `NUMRANGE` (an empty range reads as `[0, 0)`) |
//! | `array-int32`, `array-int64`, `array-decimal`, `array-str` | `INT4[]`, `INT8[]`, `NUMERIC[]`, `TEXT[]` (and `VARCHAR[]`) |
//! | `interval` | `INTERVAL` |
//! | `db-null` | `NULL` of any type |
//!
//! Any other column type reads as `unsupported` with the value's binary
//! form, and its data type as `other(type name)`.

use std::error::Error as StdError;

use bytes::BytesMut;
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use postgres_protocol::types::{self as protocol, RangeBound};
use rust_decimal::Decimal;
use tokio_postgres::types::{accepts, to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::Row;

use crate::v4::{Column, DbDataType, DbValue, Error, Interval, ParameterValue, RangeBoundKind};

type BoxError = Box<dyn StdError + Sync + Send>;

/// A parameter, ready for `tokio-postgres`.
pub(crate) type SqlParameter = Box<dyn ToSql + Sync + Send>;

fn bad(what: &str) -> Error {
    Error::BadParameter(what.to_owned())
}

/// Converts the guest's parameters (a wrong value, e.g. an invalid date or
/// UUID, is `bad-parameter`).
pub(crate) fn parameters(values: Vec<ParameterValue>) -> Result<Vec<SqlParameter>, Error> {
    values.into_iter().map(parameter).collect()
}

fn parameter(value: ParameterValue) -> Result<SqlParameter, Error> {
    Ok(match value {
        ParameterValue::Boolean(b) => Box::new(b),
        ParameterValue::Int8(i) => Box::new(i),
        ParameterValue::Int16(i) => Box::new(i),
        ParameterValue::Int32(i) => Box::new(i),
        ParameterValue::Int64(i) => Box::new(i),
        ParameterValue::Floating32(f) => Box::new(f),
        ParameterValue::Floating64(f) => Box::new(f),
        ParameterValue::Str(s) => Box::new(s),
        ParameterValue::Binary(b) => Box::new(b),
        ParameterValue::Date(d) => Box::new(date(d).ok_or_else(|| bad("invalid date"))?),
        ParameterValue::Time(t) => Box::new(time(t).ok_or_else(|| bad("invalid time"))?),
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            let date = date((y, mo, d)).ok_or_else(|| bad("invalid datetime"))?;
            let time = time((h, mi, s, ns)).ok_or_else(|| bad("invalid datetime"))?;
            Box::new(NaiveDateTime::new(date, time))
        }
        ParameterValue::Timestamp(seconds) => Box::new(
            chrono::DateTime::<chrono::Utc>::from_timestamp(seconds, 0)
                .ok_or_else(|| bad("timestamp out of range"))?,
        ),
        ParameterValue::Uuid(s) => {
            Box::new(uuid::Uuid::parse_str(&s).map_err(|_| bad("invalid uuid"))?)
        }
        ParameterValue::Jsonb(bytes) => Box::new(
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|err| bad(&format!("invalid jsonb: {err}")))?,
        ),
        ParameterValue::Decimal(s) => Box::new(decimal(&s)?),
        ParameterValue::RangeInt32((lower, upper)) => Box::new(PgRange { lower, upper }),
        ParameterValue::RangeInt64((lower, upper)) => Box::new(PgRange { lower, upper }),
        ParameterValue::RangeDecimal((lower, upper)) => Box::new(PgRange {
            lower: decimal_bound(lower)?,
            upper: decimal_bound(upper)?,
        }),
        ParameterValue::ArrayInt32(values) => Box::new(values),
        ParameterValue::ArrayInt64(values) => Box::new(values),
        ParameterValue::ArrayDecimal(values) => Box::new(
            values
                .iter()
                .map(|v| v.as_deref().map(decimal).transpose())
                .collect::<Result<Vec<Option<Decimal>>, Error>>()?,
        ),
        ParameterValue::ArrayStr(values) => Box::new(values),
        ParameterValue::Interval(interval) => Box::new(PgInterval(interval)),
        ParameterValue::DbNull => Box::new(Null),
    })
}

fn decimal(s: &str) -> Result<Decimal, Error> {
    Decimal::from_str_exact(s)
        .or_else(|_| Decimal::from_scientific(s))
        .map_err(|_| bad("invalid decimal (up to 28 significant digits)"))
}

type Bound<T> = Option<(T, RangeBoundKind)>;

fn decimal_bound(bound: Bound<String>) -> Result<Bound<Decimal>, Error> {
    bound.map(|(v, kind)| Ok((decimal(&v)?, kind))).transpose()
}

fn date((y, m, d): (i32, u8, u8)) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
}

fn time((h, m, s, ns): (u8, u8, u8, u32)) -> Option<NaiveTime> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
}

/// `NULL`, for a column of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// An `INTERVAL` (binary form: microseconds, days, months).
#[derive(Debug)]
struct PgInterval(Interval);

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        use bytes::BufMut;
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    accepts!(INTERVAL);
    to_sql_checked!();
}

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let bytes: [u8; 16] = raw.try_into().map_err(|_| "invalid interval size")?;
        let micros = i64::from_be_bytes(bytes[0..8].try_into()?);
        let days = i32::from_be_bytes(bytes[8..12].try_into()?);
        let months = i32::from_be_bytes(bytes[12..16].try_into()?);
        Ok(PgInterval(Interval {
            micros,
            days,
            months,
        }))
    }

    accepts!(INTERVAL);
}

/// A range of `T` (`INT4RANGE`, `INT8RANGE`, `NUMRANGE`); `None` bounds are
/// unbounded.
#[derive(Debug)]
struct PgRange<T> {
    lower: Bound<T>,
    upper: Bound<T>,
}

fn range_element(ty: &Type) -> Option<&Type> {
    match ty.kind() {
        Kind::Range(element) => Some(element),
        _ => None,
    }
}

fn write_bound<T: ToSql>(
    bound: &Bound<T>,
    element: &Type,
    out: &mut BytesMut,
) -> Result<RangeBound<postgres_protocol::IsNull>, BoxError> {
    let mut write = |value: &T| -> Result<postgres_protocol::IsNull, BoxError> {
        Ok(match value.to_sql(element, out)? {
            IsNull::Yes => postgres_protocol::IsNull::Yes,
            IsNull::No => postgres_protocol::IsNull::No,
        })
    };
    Ok(match bound {
        None => RangeBound::Unbounded,
        Some((value, RangeBoundKind::Inclusive)) => RangeBound::Inclusive(write(value)?),
        Some((value, RangeBoundKind::Exclusive)) => RangeBound::Exclusive(write(value)?),
    })
}

impl<T: ToSql> ToSql for PgRange<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let element = range_element(ty).ok_or("not a range type")?;
        protocol::range_to_sql(
            |out| write_bound(&self.lower, element, out),
            |out| write_bound(&self.upper, element, out),
            out,
        )?;
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        range_element(ty).is_some_and(T::accepts)
    }

    to_sql_checked!();
}

fn read_bound<'a, T: FromSql<'a>>(
    bound: RangeBound<Option<&'a [u8]>>,
    element: &Type,
) -> Result<Bound<T>, BoxError> {
    Ok(match bound {
        RangeBound::Unbounded => None,
        RangeBound::Inclusive(Some(raw)) => {
            Some((T::from_sql(element, raw)?, RangeBoundKind::Inclusive))
        }
        RangeBound::Exclusive(Some(raw)) => {
            Some((T::from_sql(element, raw)?, RangeBoundKind::Exclusive))
        }
        RangeBound::Inclusive(None) | RangeBound::Exclusive(None) => None,
    })
}

impl<'a, T: FromSql<'a> + Default> FromSql<'a> for PgRange<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let element = range_element(ty).ok_or("not a range type")?;
        match protocol::range_from_sql(raw)? {
            // The interface has no empty range: `[0, 0)` is one.
            protocol::Range::Empty => Ok(PgRange {
                lower: Some((T::default(), RangeBoundKind::Inclusive)),
                upper: Some((T::default(), RangeBoundKind::Exclusive)),
            }),
            protocol::Range::Nonempty(lower, upper) => Ok(PgRange {
                lower: read_bound(lower, element)?,
                upper: read_bound(upper, element)?,
            }),
        }
    }

    fn accepts(ty: &Type) -> bool {
        range_element(ty).is_some_and(T::accepts)
    }
}

/// Any value, as its binary form (for `unsupported`).
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The interface's data type of a column of PostgreSQL type `ty`.
pub(crate) fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB | Type::JSON => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_owned()),
    }
}

/// The columns of a result.
pub(crate) fn columns(columns: &[tokio_postgres::Column]) -> Vec<Column> {
    columns
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            data_type: data_type(c.type_()),
        })
        .collect()
}

/// One row's values.
pub(crate) fn row(row: &Row) -> Result<Vec<DbValue>, Error> {
    (0..row.len()).map(|i| value(row, i)).collect()
}

fn get<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<Option<T>, Error> {
    row.try_get::<_, Option<T>>(i).map_err(|err| {
        Error::ValueConversionFailed(format!(
            "column {} ({}): {}",
            row.columns()[i].name(),
            row.columns()[i].type_(),
            err.source()
                .map(ToString::to_string)
                .unwrap_or_else(|| err.to_string())
        ))
    })
}

fn value(row: &Row, i: usize) -> Result<DbValue, Error> {
    let ty = row.columns()[i].type_();
    let value = match *ty {
        Type::BOOL => get::<bool>(row, i)?.map(DbValue::Boolean),
        Type::CHAR => get::<i8>(row, i)?.map(DbValue::Int8),
        Type::INT2 => get::<i16>(row, i)?.map(DbValue::Int16),
        Type::INT4 => get::<i32>(row, i)?.map(DbValue::Int32),
        Type::INT8 => get::<i64>(row, i)?.map(DbValue::Int64),
        Type::FLOAT4 => get::<f32>(row, i)?.map(DbValue::Floating32),
        Type::FLOAT8 => get::<f64>(row, i)?.map(DbValue::Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            get::<String>(row, i)?.map(DbValue::Str)
        }
        Type::BYTEA => get::<Vec<u8>>(row, i)?.map(DbValue::Binary),
        Type::DATE => get::<NaiveDate>(row, i)?.map(|d| DbValue::Date(date_tuple(d))),
        Type::TIME => get::<NaiveTime>(row, i)?.map(|t| DbValue::Time(time_tuple(t))),
        Type::TIMESTAMP => {
            get::<NaiveDateTime>(row, i)?.map(|dt| DbValue::Datetime(datetime_tuple(dt)))
        }
        Type::TIMESTAMPTZ => get::<chrono::DateTime<chrono::Utc>>(row, i)?
            .map(|dt| DbValue::Datetime(datetime_tuple(dt.naive_utc()))),
        Type::UUID => get::<uuid::Uuid>(row, i)?.map(|u| DbValue::Uuid(u.to_string())),
        Type::JSONB | Type::JSON => get::<serde_json::Value>(row, i)?
            .map(|j| DbValue::Jsonb(serde_json::to_vec(&j).unwrap_or_default())),
        Type::NUMERIC => match row.try_get::<_, Option<Decimal>>(i) {
            Ok(d) => d.map(|d| DbValue::Decimal(d.to_string())),
            // Beyond 28 digits (or NaN): the binary form.
            Err(_) => get::<Raw>(row, i)?.map(|raw| DbValue::Unsupported(raw.0)),
        },
        Type::INT4_RANGE => {
            get::<PgRange<i32>>(row, i)?.map(|r| DbValue::RangeInt32((r.lower, r.upper)))
        }
        Type::INT8_RANGE => {
            get::<PgRange<i64>>(row, i)?.map(|r| DbValue::RangeInt64((r.lower, r.upper)))
        }
        Type::NUM_RANGE => get::<PgRange<Decimal>>(row, i)?.map(|r| {
            let text = |b: Bound<Decimal>| b.map(|(d, kind)| (d.to_string(), kind));
            DbValue::RangeDecimal((text(r.lower), text(r.upper)))
        }),
        Type::INT4_ARRAY => get::<Vec<Option<i32>>>(row, i)?.map(DbValue::ArrayInt32),
        Type::INT8_ARRAY => get::<Vec<Option<i64>>>(row, i)?.map(DbValue::ArrayInt64),
        Type::NUMERIC_ARRAY => get::<Vec<Option<Decimal>>>(row, i)?.map(|values| {
            DbValue::ArrayDecimal(
                values
                    .into_iter()
                    .map(|v| v.map(|d| d.to_string()))
                    .collect(),
            )
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            get::<Vec<Option<String>>>(row, i)?.map(DbValue::ArrayStr)
        }
        Type::INTERVAL => get::<PgInterval>(row, i)?.map(|v| DbValue::Interval(v.0)),
        _ => get::<Raw>(row, i)?.map(|raw| DbValue::Unsupported(raw.0)),
    };
    Ok(value.unwrap_or(DbValue::DbNull))
}

/// About how many bytes `value` holds (for the bound on a result's size).
pub(crate) fn size_of(value: &DbValue) -> usize {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len) + 8;
    16 + match value {
        DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => s.len(),
        DbValue::Binary(b) | DbValue::Jsonb(b) | DbValue::Unsupported(b) => b.len(),
        DbValue::ArrayInt32(a) => a.len() * 8,
        DbValue::ArrayInt64(a) => a.len() * 16,
        DbValue::ArrayDecimal(a) | DbValue::ArrayStr(a) => a.iter().map(text).sum(),
        DbValue::RangeDecimal((lower, upper)) => {
            lower.as_ref().map_or(0, |(s, _)| s.len()) + upper.as_ref().map_or(0, |(s, _)| s.len())
        }
        _ => 0,
    }
}

fn date_tuple(d: NaiveDate) -> (i32, u8, u8) {
    (d.year(), d.month() as u8, d.day() as u8)
}

fn time_tuple(t: NaiveTime) -> (u8, u8, u8, u32) {
    (
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    )
}

fn datetime_tuple(dt: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let (y, mo, d) = date_tuple(dt.date());
    let (h, mi, s, ns) = time_tuple(dt.time());
    (y, mo, d, h, mi, s, ns)
}
