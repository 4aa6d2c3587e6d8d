//! The older and newer interface versions in terms of 4.0.0's types.

use crate::v4::{self, DbDataType, DbValue, Error, ParameterValue, RowSet};
use crate::{v2_types as v2, v3, v4_2};

fn text(err: Error) -> String {
    match err {
        Error::QueryFailed(v4::QueryError::Text(text)) => text,
        Error::QueryFailed(v4::QueryError::DbError(db)) => db.as_text,
        Error::ConnectionFailed(s)
        | Error::BadParameter(s)
        | Error::ValueConversionFailed(s)
        | Error::Other(s) => s,
    }
}

// fermyon:spin/postgres@2.0.0 (rdbms-types)

pub(crate) fn param_from_v2(value: v2::ParameterValue) -> Result<ParameterValue, Error> {
    use v2::ParameterValue as P;
    Ok(match value {
        P::Boolean(b) => ParameterValue::Boolean(b),
        P::Int8(i) => ParameterValue::Int8(i),
        P::Int16(i) => ParameterValue::Int16(i),
        P::Int32(i) => ParameterValue::Int32(i),
        P::Int64(i) => ParameterValue::Int64(i),
        // PostgreSQL has no unsigned types: the next wider signed one.
        P::Uint8(u) => ParameterValue::Int16(u.into()),
        P::Uint16(u) => ParameterValue::Int32(u.into()),
        P::Uint32(u) => ParameterValue::Int64(u.into()),
        P::Uint64(u) => ParameterValue::Int64(
            i64::try_from(u)
                .map_err(|_| Error::BadParameter(format!("{u} does not fit PostgreSQL's INT8")))?,
        ),
        P::Floating32(f) => ParameterValue::Floating32(f),
        P::Floating64(f) => ParameterValue::Floating64(f),
        P::Str(s) => ParameterValue::Str(s),
        P::Binary(b) => ParameterValue::Binary(b),
        P::DbNull => ParameterValue::DbNull,
    })
}

pub(crate) fn error_to_v2(err: Error) -> v2::Error {
    match err {
        Error::ConnectionFailed(s) => v2::Error::ConnectionFailed(s),
        Error::BadParameter(s) => v2::Error::BadParameter(s),
        Error::ValueConversionFailed(s) => v2::Error::ValueConversionFailed(s),
        Error::Other(s) => v2::Error::Other(s),
        err @ Error::QueryFailed(_) => v2::Error::QueryFailed(text(err)),
    }
}

pub(crate) fn rows_to_v2(rows: RowSet) -> v2::RowSet {
    use v2::DbDataType as T;
    use v2::DbValue as V;
    v2::RowSet {
        columns: rows
            .columns
            .into_iter()
            .map(|c| v2::Column {
                name: c.name,
                data_type: match c.data_type {
                    DbDataType::Boolean => T::Boolean,
                    DbDataType::Int8 => T::Int8,
                    DbDataType::Int16 => T::Int16,
                    DbDataType::Int32 => T::Int32,
                    DbDataType::Int64 => T::Int64,
                    DbDataType::Floating32 => T::Floating32,
                    DbDataType::Floating64 => T::Floating64,
                    DbDataType::Str => T::Str,
                    DbDataType::Binary => T::Binary,
                    _ => T::Other,
                },
            })
            .collect(),
        rows: rows
            .rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|value| match value {
                        DbValue::Boolean(b) => V::Boolean(b),
                        DbValue::Int8(i) => V::Int8(i),
                        DbValue::Int16(i) => V::Int16(i),
                        DbValue::Int32(i) => V::Int32(i),
                        DbValue::Int64(i) => V::Int64(i),
                        DbValue::Floating32(f) => V::Floating32(f),
                        DbValue::Floating64(f) => V::Floating64(f),
                        DbValue::Str(s) => V::Str(s),
                        DbValue::Binary(b) => V::Binary(b),
                        DbValue::DbNull => V::DbNull,
                        _ => V::Unsupported,
                    })
                    .collect()
            })
            .collect(),
    }
}

// spin:postgres@3.0.0

pub(crate) fn param_from_v3(value: v3::ParameterValue) -> ParameterValue {
    use v3::ParameterValue as P;
    match value {
        P::Boolean(b) => ParameterValue::Boolean(b),
        P::Int8(i) => ParameterValue::Int8(i),
        P::Int16(i) => ParameterValue::Int16(i),
        P::Int32(i) => ParameterValue::Int32(i),
        P::Int64(i) => ParameterValue::Int64(i),
        P::Floating32(f) => ParameterValue::Floating32(f),
        P::Floating64(f) => ParameterValue::Floating64(f),
        P::Str(s) => ParameterValue::Str(s),
        P::Binary(b) => ParameterValue::Binary(b),
        P::Date(d) => ParameterValue::Date(d),
        P::Time(t) => ParameterValue::Time(t),
        P::Datetime(dt) => ParameterValue::Datetime(dt),
        P::Timestamp(t) => ParameterValue::Timestamp(t),
        P::DbNull => ParameterValue::DbNull,
    }
}

pub(crate) fn error_to_v3(err: Error) -> v3::Error {
    match err {
        Error::ConnectionFailed(s) => v3::Error::ConnectionFailed(s),
        Error::BadParameter(s) => v3::Error::BadParameter(s),
        Error::ValueConversionFailed(s) => v3::Error::ValueConversionFailed(s),
        Error::Other(s) => v3::Error::Other(s),
        err @ Error::QueryFailed(_) => v3::Error::QueryFailed(text(err)),
    }
}

pub(crate) fn rows_to_v3(rows: RowSet) -> v3::RowSet {
    use v3::DbDataType as T;
    use v3::DbValue as V;
    v3::RowSet {
        columns: rows
            .columns
            .into_iter()
            .map(|c| v3::Column {
                name: c.name,
                data_type: match c.data_type {
                    DbDataType::Boolean => T::Boolean,
                    DbDataType::Int8 => T::Int8,
                    DbDataType::Int16 => T::Int16,
                    DbDataType::Int32 => T::Int32,
                    DbDataType::Int64 => T::Int64,
                    DbDataType::Floating32 => T::Floating32,
                    DbDataType::Floating64 => T::Floating64,
                    DbDataType::Str => T::Str,
                    DbDataType::Binary => T::Binary,
                    DbDataType::Date => T::Date,
                    DbDataType::Time => T::Time,
                    DbDataType::Datetime => T::Datetime,
                    DbDataType::Timestamp => T::Timestamp,
                    _ => T::Other,
                },
            })
            .collect(),
        rows: rows
            .rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|value| match value {
                        DbValue::Boolean(b) => V::Boolean(b),
                        DbValue::Int8(i) => V::Int8(i),
                        DbValue::Int16(i) => V::Int16(i),
                        DbValue::Int32(i) => V::Int32(i),
                        DbValue::Int64(i) => V::Int64(i),
                        DbValue::Floating32(f) => V::Floating32(f),
                        DbValue::Floating64(f) => V::Floating64(f),
                        DbValue::Str(s) => V::Str(s),
                        DbValue::Binary(b) => V::Binary(b),
                        DbValue::Date(d) => V::Date(d),
                        DbValue::Time(t) => V::Time(t),
                        DbValue::Datetime(dt) => V::Datetime(dt),
                        DbValue::Timestamp(t) => V::Timestamp(t),
                        DbValue::DbNull => V::DbNull,
                        _ => V::Unsupported,
                    })
                    .collect()
            })
            .collect(),
    }
}

// spin:postgres@4.2.0: the same types as 4.0.0, generated twice.

fn bound_kind_from_v4_2(kind: v4_2::RangeBoundKind) -> v4::RangeBoundKind {
    match kind {
        v4_2::RangeBoundKind::Inclusive => v4::RangeBoundKind::Inclusive,
        v4_2::RangeBoundKind::Exclusive => v4::RangeBoundKind::Exclusive,
    }
}

fn bound_kind_to_v4_2(kind: v4::RangeBoundKind) -> v4_2::RangeBoundKind {
    match kind {
        v4::RangeBoundKind::Inclusive => v4_2::RangeBoundKind::Inclusive,
        v4::RangeBoundKind::Exclusive => v4_2::RangeBoundKind::Exclusive,
    }
}

type Bounds<T, K> = (Option<(T, K)>, Option<(T, K)>);

fn bounds<T, A, B>((lower, upper): Bounds<T, A>, kind: fn(A) -> B) -> Bounds<T, B> {
    (
        lower.map(|(v, k)| (v, kind(k))),
        upper.map(|(v, k)| (v, kind(k))),
    )
}

pub(crate) fn param_from_v4_2(value: v4_2::ParameterValue) -> ParameterValue {
    use v4_2::ParameterValue as P;
    match value {
        P::Boolean(b) => ParameterValue::Boolean(b),
        P::Int8(i) => ParameterValue::Int8(i),
        P::Int16(i) => ParameterValue::Int16(i),
        P::Int32(i) => ParameterValue::Int32(i),
        P::Int64(i) => ParameterValue::Int64(i),
        P::Floating32(f) => ParameterValue::Floating32(f),
        P::Floating64(f) => ParameterValue::Floating64(f),
        P::Str(s) => ParameterValue::Str(s),
        P::Binary(b) => ParameterValue::Binary(b),
        P::Date(d) => ParameterValue::Date(d),
        P::Time(t) => ParameterValue::Time(t),
        P::Datetime(dt) => ParameterValue::Datetime(dt),
        P::Timestamp(t) => ParameterValue::Timestamp(t),
        P::Uuid(u) => ParameterValue::Uuid(u),
        P::Jsonb(j) => ParameterValue::Jsonb(j),
        P::Decimal(d) => ParameterValue::Decimal(d),
        P::RangeInt32(r) => ParameterValue::RangeInt32(bounds(r, bound_kind_from_v4_2)),
        P::RangeInt64(r) => ParameterValue::RangeInt64(bounds(r, bound_kind_from_v4_2)),
        P::RangeDecimal(r) => ParameterValue::RangeDecimal(bounds(r, bound_kind_from_v4_2)),
        P::ArrayInt32(a) => ParameterValue::ArrayInt32(a),
        P::ArrayInt64(a) => ParameterValue::ArrayInt64(a),
        P::ArrayDecimal(a) => ParameterValue::ArrayDecimal(a),
        P::ArrayStr(a) => ParameterValue::ArrayStr(a),
        P::Interval(i) => ParameterValue::Interval(v4::Interval {
            micros: i.micros,
            days: i.days,
            months: i.months,
        }),
        P::DbNull => ParameterValue::DbNull,
    }
}

pub(crate) fn error_to_v4_2(err: Error) -> v4_2::Error {
    match err {
        Error::ConnectionFailed(s) => v4_2::Error::ConnectionFailed(s),
        Error::BadParameter(s) => v4_2::Error::BadParameter(s),
        Error::ValueConversionFailed(s) => v4_2::Error::ValueConversionFailed(s),
        Error::Other(s) => v4_2::Error::Other(s),
        Error::QueryFailed(v4::QueryError::Text(s)) => {
            v4_2::Error::QueryFailed(v4_2::QueryError::Text(s))
        }
        Error::QueryFailed(v4::QueryError::DbError(db)) => {
            v4_2::Error::QueryFailed(v4_2::QueryError::DbError(v4_2::DbError {
                as_text: db.as_text,
                severity: db.severity,
                code: db.code,
                message: db.message,
                detail: db.detail,
                extras: db.extras,
            }))
        }
    }
}

pub(crate) fn columns_to_v4_2(columns: Vec<v4::Column>) -> Vec<v4_2::Column> {
    use v4_2::DbDataType as T;
    columns
        .into_iter()
        .map(|c| v4_2::Column {
            name: c.name,
            data_type: match c.data_type {
                DbDataType::Boolean => T::Boolean,
                DbDataType::Int8 => T::Int8,
                DbDataType::Int16 => T::Int16,
                DbDataType::Int32 => T::Int32,
                DbDataType::Int64 => T::Int64,
                DbDataType::Floating32 => T::Floating32,
                DbDataType::Floating64 => T::Floating64,
                DbDataType::Str => T::Str,
                DbDataType::Binary => T::Binary,
                DbDataType::Date => T::Date,
                DbDataType::Time => T::Time,
                DbDataType::Datetime => T::Datetime,
                DbDataType::Timestamp => T::Timestamp,
                DbDataType::Uuid => T::Uuid,
                DbDataType::Jsonb => T::Jsonb,
                DbDataType::Decimal => T::Decimal,
                DbDataType::RangeInt32 => T::RangeInt32,
                DbDataType::RangeInt64 => T::RangeInt64,
                DbDataType::RangeDecimal => T::RangeDecimal,
                DbDataType::ArrayInt32 => T::ArrayInt32,
                DbDataType::ArrayInt64 => T::ArrayInt64,
                DbDataType::ArrayDecimal => T::ArrayDecimal,
                DbDataType::ArrayStr => T::ArrayStr,
                DbDataType::Interval => T::Interval,
                DbDataType::Other(name) => T::Other(name),
            },
        })
        .collect()
}

pub(crate) fn row_to_v4_2(row: Vec<DbValue>) -> Vec<v4_2::DbValue> {
    use v4_2::DbValue as V;
    row.into_iter()
        .map(|value| match value {
            DbValue::Boolean(b) => V::Boolean(b),
            DbValue::Int8(i) => V::Int8(i),
            DbValue::Int16(i) => V::Int16(i),
            DbValue::Int32(i) => V::Int32(i),
            DbValue::Int64(i) => V::Int64(i),
            DbValue::Floating32(f) => V::Floating32(f),
            DbValue::Floating64(f) => V::Floating64(f),
            DbValue::Str(s) => V::Str(s),
            DbValue::Binary(b) => V::Binary(b),
            DbValue::Date(d) => V::Date(d),
            DbValue::Time(t) => V::Time(t),
            DbValue::Datetime(dt) => V::Datetime(dt),
            DbValue::Timestamp(t) => V::Timestamp(t),
            DbValue::Uuid(u) => V::Uuid(u),
            DbValue::Jsonb(j) => V::Jsonb(j),
            DbValue::Decimal(d) => V::Decimal(d),
            DbValue::RangeInt32(r) => V::RangeInt32(bounds(r, bound_kind_to_v4_2)),
            DbValue::RangeInt64(r) => V::RangeInt64(bounds(r, bound_kind_to_v4_2)),
            DbValue::RangeDecimal(r) => V::RangeDecimal(bounds(r, bound_kind_to_v4_2)),
            DbValue::ArrayInt32(a) => V::ArrayInt32(a),
            DbValue::ArrayInt64(a) => V::ArrayInt64(a),
            DbValue::ArrayDecimal(a) => V::ArrayDecimal(a),
            DbValue::ArrayStr(a) => V::ArrayStr(a),
            DbValue::Interval(i) => V::Interval(v4_2::Interval {
                micros: i.micros,
                days: i.days,
                months: i.months,
            }),
            DbValue::DbNull => V::DbNull,
            DbValue::Unsupported(raw) => V::Unsupported(raw),
        })
        .collect()
}
