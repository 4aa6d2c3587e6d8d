//! Values between the interface (`parameter-value`, `db-value`, `column`)
//! and MySQL's wire types; the mapping is in the crate docs.

use mysql_async::consts::ColumnType;
use mysql_async::Value;

use crate::bindings::v2::fermyon::spin::rdbms_types::{
    Column, DbDataType, DbValue, ParameterValue,
};
use crate::MysqlError;

/// The character set number of binary strings (`binary`), which tells
/// BINARY/VARBINARY/BLOB from CHAR/VARCHAR/TEXT.
const BINARY_CHARSET: u16 = 63;

/// A parameter as MySQL takes it.
pub(crate) fn parameter(value: ParameterValue) -> Value {
    match value {
        ParameterValue::Boolean(b) => Value::Int(i64::from(b)),
        ParameterValue::Int8(n) => Value::Int(n.into()),
        ParameterValue::Int16(n) => Value::Int(n.into()),
        ParameterValue::Int32(n) => Value::Int(n.into()),
        ParameterValue::Int64(n) => Value::Int(n),
        ParameterValue::Uint8(n) => Value::UInt(n.into()),
        ParameterValue::Uint16(n) => Value::UInt(n.into()),
        ParameterValue::Uint32(n) => Value::UInt(n.into()),
        ParameterValue::Uint64(n) => Value::UInt(n),
        ParameterValue::Floating32(n) => Value::Float(n),
        ParameterValue::Floating64(n) => Value::Double(n),
        ParameterValue::Str(s) => Value::Bytes(s.into_bytes()),
        ParameterValue::Binary(b) => Value::Bytes(b),
        ParameterValue::DbNull => Value::NULL,
    }
}

/// How the values of one result column are converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Numbers, text and bytes: the interface type says it all.
    Plain(DbDataType),
    /// A date (`YYYY-MM-DD`), as `str`.
    Date,
    /// A date and time, as `str`, with `u8` fractional digits.
    DateTime(u8),
    /// A time of day or a duration, as `str`, with `u8` fractional digits.
    Time(u8),
    /// DECIMAL, as `str`.
    Decimal,
}

impl Kind {
    /// The column's type in the interface.
    pub fn data_type(self) -> DbDataType {
        match self {
            Kind::Plain(t) => t,
            Kind::Date | Kind::DateTime(_) | Kind::Time(_) | Kind::Decimal => DbDataType::Str,
        }
    }
}

/// How a result column's values are converted, from its metadata.
pub(crate) fn kind(column: &mysql_async::Column) -> Kind {
    use ColumnType::*;
    let unsigned = column
        .flags()
        .contains(mysql_async::consts::ColumnFlags::UNSIGNED_FLAG);
    let binary = column.character_set() == BINARY_CHARSET;
    let digits = column.decimals().min(6);
    let plain = match (column.column_type(), unsigned) {
        (MYSQL_TYPE_TINY, false) => DbDataType::Int8,
        (MYSQL_TYPE_TINY, true) => DbDataType::Uint8,
        (MYSQL_TYPE_SHORT, false) => DbDataType::Int16,
        (MYSQL_TYPE_SHORT, true) => DbDataType::Uint16,
        (MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG, false) => DbDataType::Int32,
        (MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG, true) => DbDataType::Uint32,
        (MYSQL_TYPE_LONGLONG, false) => DbDataType::Int64,
        (MYSQL_TYPE_LONGLONG, true) => DbDataType::Uint64,
        (MYSQL_TYPE_FLOAT, _) => DbDataType::Floating32,
        (MYSQL_TYPE_DOUBLE, _) => DbDataType::Floating64,
        (
            MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB,
            _,
        ) if binary => DbDataType::Binary,
        (
            MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_ENUM
            | MYSQL_TYPE_SET
            | MYSQL_TYPE_JSON,
            _,
        ) => DbDataType::Str,
        (MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL, _) => return Kind::Decimal,
        (MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE, _) => return Kind::Date,
        (
            MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_DATETIME2
            | MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_TIMESTAMP2,
            _,
        ) => return Kind::DateTime(digits),
        (MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2, _) => return Kind::Time(digits),
        _ => DbDataType::Other,
    };
    Kind::Plain(plain)
}

/// The interface's description of a result column.
pub(crate) fn column(column: &mysql_async::Column) -> (Column, Kind) {
    let kind = kind(column);
    let column = Column {
        name: column.name_str().into_owned(),
        data_type: kind.data_type(),
    };
    (column, kind)
}

/// A rough count of the bytes `value` takes, for the limit on what one
/// query may hold in host memory.
pub(crate) fn size_of(value: &DbValue) -> usize {
    let payload = match value {
        DbValue::Str(s) => s.len(),
        DbValue::Binary(b) => b.len(),
        _ => 0,
    };
    std::mem::size_of::<DbValue>() + payload
}

/// One row's values, converted per its columns.
pub(crate) fn row(
    row: mysql_async::Row,
    columns: &[(Column, Kind)],
) -> Result<Vec<DbValue>, MysqlError> {
    // `Row::unwrap` takes the row's values (it cannot fail).
    let values = mysql_async::Row::unwrap(row);
    if values.len() != columns.len() {
        return Err(MysqlError::Other(format!(
            "the server sent a row of {} values for {} columns",
            values.len(),
            columns.len()
        )));
    }
    values
        .into_iter()
        .zip(columns)
        .map(|(value, (column, kind))| {
            convert(value, *kind).map_err(|why| {
                MysqlError::ValueConversionFailed(format!(
                    "column `{}` ({:?}): {why}",
                    column.name, column.data_type
                ))
            })
        })
        .collect()
}

/// Text sent for a non-text value (text protocol), or its conversion.
fn text(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| "the value is not valid UTF-8".to_owned())
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::NULL => "NULL",
        Value::Bytes(_) => "bytes",
        Value::Int(_) => "a signed integer",
        Value::UInt(_) => "an unsigned integer",
        Value::Float(_) => "a FLOAT",
        Value::Double(_) => "a DOUBLE",
        Value::Date(..) => "a date",
        Value::Time(..) => "a time",
    }
}

/// An integer value of any width, for conversion to the column's.
fn integer(value: Value) -> Result<i128, String> {
    match value {
        Value::Int(n) => Ok(n.into()),
        Value::UInt(n) => Ok(n.into()),
        Value::Bytes(bytes) => text(bytes)?
            .trim()
            .parse()
            .map_err(|_| "the value is not an integer".to_owned()),
        other => Err(format!("expected an integer, got {}", describe(&other))),
    }
}

fn narrow<T: TryFrom<i128>>(value: Value) -> Result<T, String> {
    let n = integer(value)?;
    T::try_from(n).map_err(|_| format!("{n} is out of the column type's range"))
}

fn float(value: Value) -> Result<f64, String> {
    match value {
        Value::Float(n) => Ok(n.into()),
        Value::Double(n) => Ok(n),
        Value::Bytes(bytes) => text(bytes)?
            .trim()
            .parse()
            .map_err(|_| "the value is not a number".to_owned()),
        other => Err(format!("expected a number, got {}", describe(&other))),
    }
}

fn fraction(micros: u32, digits: u8) -> String {
    if digits == 0 {
        return String::new();
    }
    let all = format!("{micros:06}");
    format!(".{}", &all[..usize::from(digits).min(all.len())])
}

fn convert(value: Value, kind: Kind) -> Result<DbValue, String> {
    if value == Value::NULL {
        return Ok(DbValue::DbNull);
    }
    Ok(match kind {
        Kind::Plain(DbDataType::Int8) => DbValue::Int8(narrow(value)?),
        Kind::Plain(DbDataType::Int16) => DbValue::Int16(narrow(value)?),
        Kind::Plain(DbDataType::Int32) => DbValue::Int32(narrow(value)?),
        Kind::Plain(DbDataType::Int64) => DbValue::Int64(narrow(value)?),
        Kind::Plain(DbDataType::Uint8) => DbValue::Uint8(narrow(value)?),
        Kind::Plain(DbDataType::Uint16) => DbValue::Uint16(narrow(value)?),
        Kind::Plain(DbDataType::Uint32) => DbValue::Uint32(narrow(value)?),
        Kind::Plain(DbDataType::Uint64) => DbValue::Uint64(narrow(value)?),
        Kind::Plain(DbDataType::Boolean) => DbValue::Boolean(integer(value)? != 0),
        Kind::Plain(DbDataType::Floating32) => match value {
            Value::Float(n) => DbValue::Floating32(n),
            other => DbValue::Floating32(float(other)? as f32),
        },
        Kind::Plain(DbDataType::Floating64) => DbValue::Floating64(float(value)?),
        Kind::Plain(DbDataType::Str) | Kind::Decimal => match value {
            Value::Bytes(bytes) => DbValue::Str(text(bytes)?),
            other => return Err(format!("expected text, got {}", describe(&other))),
        },
        Kind::Plain(DbDataType::Binary) => match value {
            Value::Bytes(bytes) => DbValue::Binary(bytes),
            other => return Err(format!("expected bytes, got {}", describe(&other))),
        },
        Kind::Plain(DbDataType::Other) => DbValue::Unsupported,
        Kind::Date => match value {
            Value::Date(y, m, d, ..) => DbValue::Str(format!("{y:04}-{m:02}-{d:02}")),
            Value::Bytes(bytes) => DbValue::Str(text(bytes)?),
            other => return Err(format!("expected a date, got {}", describe(&other))),
        },
        Kind::DateTime(digits) => match value {
            Value::Date(y, m, d, h, mi, s, us) => DbValue::Str(format!(
                "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
                fraction(us, digits)
            )),
            Value::Bytes(bytes) => DbValue::Str(text(bytes)?),
            other => {
                return Err(format!(
                    "expected a date and time, got {}",
                    describe(&other)
                ))
            }
        },
        Kind::Time(digits) => match value {
            Value::Time(negative, days, h, mi, s, us) => {
                let hours = u64::from(days) * 24 + u64::from(h);
                let sign = if negative { "-" } else { "" };
                DbValue::Str(format!(
                    "{sign}{hours:02}:{mi:02}:{s:02}{}",
                    fraction(us, digits)
                ))
            }
            Value::Bytes(bytes) => DbValue::Str(text(bytes)?),
            other => return Err(format!("expected a time, got {}", describe(&other))),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_checked_against_the_column_width() {
        let int8 = Kind::Plain(DbDataType::Int8);
        assert_eq!(convert(Value::Int(-128), int8), Ok(DbValue::Int8(-128)));
        assert!(convert(Value::Int(128), int8).is_err());
        let uint64 = Kind::Plain(DbDataType::Uint64);
        assert_eq!(
            convert(Value::UInt(u64::MAX), uint64),
            Ok(DbValue::Uint64(u64::MAX))
        );
        assert!(convert(Value::Int(-1), uint64).is_err());
        // The text protocol sends numbers as text.
        assert_eq!(
            convert(Value::Bytes(b"-7".to_vec()), Kind::Plain(DbDataType::Int16)),
            Ok(DbValue::Int16(-7))
        );
    }

    #[test]
    fn nulls_and_unsupported() {
        for kind in [
            Kind::Plain(DbDataType::Int8),
            Kind::Plain(DbDataType::Other),
            Kind::Date,
        ] {
            assert_eq!(convert(Value::NULL, kind), Ok(DbValue::DbNull));
        }
        assert_eq!(
            convert(Value::Bytes(vec![1]), Kind::Plain(DbDataType::Other)),
            Ok(DbValue::Unsupported)
        );
    }

    #[test]
    fn temporal_values_as_mysql_writes_them() {
        assert_eq!(
            convert(Value::Date(2024, 2, 29, 0, 0, 0, 0), Kind::Date),
            Ok(DbValue::Str("2024-02-29".into()))
        );
        assert_eq!(
            convert(
                Value::Date(2024, 2, 29, 13, 14, 15, 123456),
                Kind::DateTime(6)
            ),
            Ok(DbValue::Str("2024-02-29 13:14:15.123456".into()))
        );
        assert_eq!(
            convert(Value::Date(2024, 2, 29, 13, 14, 15, 0), Kind::DateTime(0)),
            Ok(DbValue::Str("2024-02-29 13:14:15".into()))
        );
        assert_eq!(
            convert(Value::Time(true, 34, 22, 59, 59, 500000), Kind::Time(1)),
            Ok(DbValue::Str("-838:59:59.5".into()))
        );
        assert_eq!(
            convert(Value::Time(false, 0, 1, 2, 3, 0), Kind::Time(0)),
            Ok(DbValue::Str("01:02:03".into()))
        );
    }

    #[test]
    fn text_must_be_utf8() {
        assert!(convert(Value::Bytes(vec![0xff]), Kind::Plain(DbDataType::Str)).is_err());
        assert_eq!(
            convert(Value::Bytes(vec![0xff]), Kind::Plain(DbDataType::Binary)),
            Ok(DbValue::Binary(vec![0xff]))
        );
    }

    #[test]
    fn parameters() {
        assert_eq!(parameter(ParameterValue::Boolean(true)), Value::Int(1));
        assert_eq!(
            parameter(ParameterValue::Uint64(u64::MAX)),
            Value::UInt(u64::MAX)
        );
        assert_eq!(parameter(ParameterValue::DbNull), Value::NULL);
        assert_eq!(
            parameter(ParameterValue::Str("é".into())),
            Value::Bytes("é".as_bytes().to_vec())
        );
    }
}
