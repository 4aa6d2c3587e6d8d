//! A `serde` deserializer over a [`Node`] tree whose errors know where they
//! are and what the manifest calls the place.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    VariantAccess, Visitor,
};

use super::{Node, Table, Value, LOCATED, LOCATED_FIELDS};
use crate::error::{Diagnostic, Location};
use crate::suggest::{did_you_mean, one_of};

/// What went wrong, before it is put in the manifest's words.
#[derive(Debug)]
enum Kind {
    Custom(String),
    InvalidType(String),
    InvalidValue {
        unexpected: String,
        expected: String,
    },
    UnknownField {
        field: String,
        expected: Vec<&'static str>,
    },
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    MissingField(&'static str),
}

/// Where it went wrong: filled in by the innermost value the error leaves.
#[derive(Debug)]
struct Place {
    location: Location,
    /// The value as prose: `"route" in [[trigger.http]]`.
    what: String,
    /// The table the value is, or the key is in: `the executor of [[trigger.http]]`.
    table: String,
    /// The value's TOML type.
    type_name: &'static str,
}

/// A [`Section::deserialize`](super::Section::deserialize) error.
#[derive(Debug)]
pub(crate) struct Error {
    // Boxed: errors travel through every `Result` of the deserializer.
    kind: Box<Kind>,
    place: Option<Box<Place>>,
}

impl Error {
    fn at(mut self, place: impl FnOnce() -> Place) -> Error {
        if self.place.is_none() {
            self.place = Some(Box::new(place()));
        }
        self
    }

    pub(crate) fn into_diagnostic(self) -> Diagnostic {
        let place = self.place.map_or_else(
            || Place {
                location: Location::START,
                what: "the manifest".to_string(),
                table: "the manifest".to_string(),
                type_name: "table",
            },
            |p| *p,
        );
        let what = &place.what;
        let message = match *self.kind {
            Kind::Custom(m) => format!("{what}: {m}"),
            Kind::InvalidType(expected) => {
                format!(
                    "{what} must be {expected}, not {}",
                    article(place.type_name)
                )
            }
            Kind::InvalidValue {
                unexpected,
                expected,
            } => format!("{what} must be {expected}, not {unexpected}"),
            Kind::UnknownField { field, expected } => {
                match did_you_mean(&field, expected.iter().copied()) {
                    Some(s) => format!(
                        "unknown field {field:?} in {}; did you mean {s:?}?",
                        place.table
                    ),
                    None => format!(
                        "unknown field {field:?} in {}; expected {}",
                        place.table,
                        one_of(&expected)
                    ),
                }
            }
            Kind::UnknownVariant { variant, expected } => {
                match did_you_mean(&variant, expected.iter().copied()) {
                    Some(s) => format!("unknown value {variant:?} for {what}; did you mean {s:?}?"),
                    None => format!(
                        "unknown value {variant:?} for {what}; use {}",
                        one_of(expected)
                    ),
                }
            }
            Kind::MissingField(field) => {
                format!("missing required field {field:?} in {}", place.table)
            }
        };
        Diagnostic::new(place.location, message)
    }
}

pub(crate) fn article(type_name: &str) -> String {
    match type_name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error {
            kind: Box::new(Kind::Custom(msg.to_string())),
            place: None,
        }
    }

    fn invalid_type(_: Unexpected, expected: &dyn de::Expected) -> Error {
        // The place knows the actual TOML type; `Unexpected` speaks Rust.
        Error {
            kind: Box::new(Kind::InvalidType(expected.to_string())),
            place: None,
        }
    }

    fn invalid_value(unexpected: Unexpected, expected: &dyn de::Expected) -> Error {
        let unexpected = match unexpected {
            Unexpected::Signed(n) => n.to_string(),
            Unexpected::Unsigned(n) => n.to_string(),
            Unexpected::Str(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        Error {
            kind: Box::new(Kind::InvalidValue {
                unexpected,
                expected: expected.to_string(),
            }),
            place: None,
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Error {
        Error {
            kind: Box::new(Kind::UnknownVariant {
                variant: variant.to_string(),
                expected,
            }),
            place: None,
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Error {
        Error {
            kind: Box::new(Kind::UnknownField {
                field: field.to_string(),
                expected: expected.to_vec(),
            }),
            place: None,
        }
    }

    fn missing_field(field: &'static str) -> Error {
        Error {
            kind: Box::new(Kind::MissingField(field)),
            place: None,
        }
    }
}

/// Deserializes `T` from `node`, a table named `name`; `reserved` keys are
/// offered, with the expected ones, for unknown keys at the top.
pub(crate) fn deserialize<T: de::DeserializeOwned>(
    node: &Node,
    name: &str,
    reserved: &'static [&'static str],
) -> Result<T, Error> {
    T::deserialize(ValueDe {
        node,
        what: name.to_string(),
        table: name.to_string(),
        reserved,
    })
}

/// One value being read.
struct ValueDe<'a> {
    node: &'a Node,
    what: String,
    /// The name of this value as a table.
    table: String,
    reserved: &'static [&'static str],
}

impl ValueDe<'_> {
    fn place(&self) -> Place {
        Place {
            location: self.node.location,
            what: self.what.clone(),
            table: self.table.clone(),
            type_name: self.node.value.type_name(),
        }
    }
}

macro_rules! forward_with_place {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                self.deserialize_any(visitor)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for ValueDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.node.value {
            Value::String(s) => visitor.visit_str(s),
            Value::Integer(i) => {
                if let Ok(n) = i64::try_from(*i) {
                    visitor.visit_i64(n)
                } else if let Ok(n) = u64::try_from(*i) {
                    visitor.visit_u64(n)
                } else {
                    visitor.visit_i128(*i)
                }
            }
            Value::Float(s) => match s.parse::<f64>() {
                Ok(x) => visitor.visit_f64(x),
                Err(_) => Err(de::Error::custom(format!("invalid float {s}"))),
            },
            Value::Boolean(b) => visitor.visit_bool(*b),
            Value::Datetime(_) => Err(de::Error::invalid_type(
                Unexpected::Other("datetime"),
                &visitor,
            )),
            Value::Array(items) => visitor.visit_seq(SeqDe {
                items: items.iter(),
                what: format!("each entry of {}", self.what),
                table: format!("an entry of {}", self.what),
            }),
            Value::Table(t) => visitor.visit_map(MapDe::new(t, &self.table, self.reserved)),
        };
        result.map_err(|e| e.at(|| self.place()))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // TOML has no null: a value that is there is `Some`.
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == LOCATED && fields == LOCATED_FIELDS {
            let location = self.node.location;
            return visitor.visit_map(LocatedDe {
                value: Some(self),
                location,
                step: 0,
            });
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let result = match &self.node.value {
            Value::String(s) => visitor.visit_enum(UnitVariant(s)),
            _ => Err(de::Error::invalid_type(Unexpected::Other(""), &visitor)),
        };
        result.map_err(|e| e.at(|| self.place()))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_with_place! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_seq deserialize_map deserialize_identifier
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
}

struct SeqDe<'a> {
    items: std::slice::Iter<'a, Node>,
    what: String,
    table: String,
}

impl<'de> SeqAccess<'de> for SeqDe<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        seed.deserialize(ValueDe {
            node,
            what: self.what.clone(),
            table: self.table.clone(),
            reserved: &[],
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a> {
    entries: indexmap::map::Iter<'a, String, (Location, Node)>,
    current: Option<(&'a str, &'a Node)>,
    table: String,
    reserved: &'static [&'static str],
}

impl<'a> MapDe<'a> {
    fn new(t: &'a Table, table: &str, reserved: &'static [&'static str]) -> MapDe<'a> {
        MapDe {
            entries: t.entries.iter(),
            current: None,
            table: table.to_string(),
            reserved,
        }
    }
}

impl<'de> MapAccess<'de> for MapDe<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, (key_location, node))) = self.entries.next() else {
            return Ok(None);
        };
        self.current = Some((key, node));
        seed.deserialize(key.as_str().into_deserializer())
            .map(Some)
            .map_err(|e: Error| {
                let mut e = e;
                if let Kind::UnknownField { expected, .. } = &mut *e.kind {
                    let mut all = self.reserved.to_vec();
                    all.extend(expected.iter().filter(|k| !self.reserved.contains(k)));
                    *expected = all;
                }
                e.at(|| Place {
                    location: *key_location,
                    what: format!("{key:?} in {}", self.table),
                    table: self.table.clone(),
                    type_name: "string",
                })
            })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, node) = self
            .current
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("a value was read before its key"))?;
        seed.deserialize(ValueDe {
            node,
            what: format!("{key:?} in {}", self.table),
            table: format!("the {key} of {}", self.table),
            reserved: &[],
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Hands [`Located`](super::Located) its line, column and value.
struct LocatedDe<'a> {
    value: Option<ValueDe<'a>>,
    location: Location,
    step: usize,
}

impl<'de> MapAccess<'de> for LocatedDe<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match LOCATED_FIELDS.get(self.step) {
            Some(field) => seed.deserialize(field.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        self.step += 1;
        match self.step {
            1 => seed.deserialize(self.location.line.into_deserializer()),
            2 => seed.deserialize(self.location.column.into_deserializer()),
            _ => match self.value.take() {
                Some(value) => seed.deserialize(value),
                None => Err(de::Error::custom("Located has one value")),
            },
        }
    }
}

/// A string naming a unit variant of an enum.
struct UnitVariant<'a>(&'a str);

impl<'de> EnumAccess<'de> for UnitVariant<'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let v = seed.deserialize(self.0.into_deserializer())?;
        Ok((v, self))
    }
}

impl<'de> VariantAccess<'de> for UnitVariant<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value, Error> {
        Err(de::Error::invalid_type(Unexpected::UnitVariant, &"a table"))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"an array",
        ))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(Unexpected::UnitVariant, &"a table"))
    }
}
