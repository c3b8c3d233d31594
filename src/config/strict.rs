//! A deserializer around the YAML reader's that refuses a quoted scalar where a boolean or
//! a number is expected. The YAML reader, asked for a `bool` or a `u16`, parses the text of
//! any scalar, so `embedded_registry: "true"` and `level: "3"` would be read as if they
//! were unquoted; a config that quotes a value means a string, and the reference says
//! which keys are booleans and integers. Every `bool`, integer and float of every section
//! (the capabilities' settings too) is asked for through here, so no key can be missed.
//!
//! It asks the YAML reader for any value (`deserialize_any`), which hands a quoted scalar
//! over as a string and an unquoted one as what it looks like, and refuses the string.
//! Everything else is passed through unchanged, nested values wrapped again.

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use std::fmt;

/// The deserializer `D`, strict about booleans and numbers.
pub(super) struct Strict<D>(pub D);

/// What a value had to be.
#[derive(Clone, Copy)]
enum Kind {
    Boolean,
    Integer,
    Number,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Boolean => "a boolean",
            Kind::Integer => "an integer",
            Kind::Number => "a number",
        }
    }

    /// Whether `s`, written without quotes, would have been a value of this kind.
    fn would_be(self, s: &str) -> bool {
        let t = s.trim();
        match self {
            Kind::Boolean => t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false"),
            Kind::Integer => t.parse::<i128>().is_ok(),
            Kind::Number => t.parse::<f64>().is_ok(),
        }
    }

    fn refuse<E: de::Error>(self, s: &str) -> E {
        if self.would_be(s) {
            E::custom(format!(
                "expected {}, found the string {s:?} (remove the quotes)",
                self.name()
            ))
        } else if matches!(self, Kind::Boolean) {
            E::custom(format!("expected a boolean (true or false), found {s:?}"))
        } else {
            E::custom(format!("expected {}, found {s:?}", self.name()))
        }
    }
}

/// The scalar methods: `$ty` names the type whose range an integer must be in (YAML
/// integers are read as 64-bit ones, hence `i64`/`u64` for the 128-bit types; booleans and
/// floats have no range and name any type).
macro_rules! strict_scalar {
    ($($method:ident => $kind:expr, $ty:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.deserialize_any(Expect {
                kind: $kind,
                ty: stringify!($ty),
                range: (i128::from($ty::MIN as i64), $ty::MAX as i128),
                visitor,
            })
        }
    )*};
}

macro_rules! wrapped {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Wrap(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    strict_scalar! {
        deserialize_bool => Kind::Boolean, u8,
        deserialize_i8 => Kind::Integer, i8,
        deserialize_i16 => Kind::Integer, i16,
        deserialize_i32 => Kind::Integer, i32,
        deserialize_i64 => Kind::Integer, i64,
        deserialize_i128 => Kind::Integer, i64,
        deserialize_u8 => Kind::Integer, u8,
        deserialize_u16 => Kind::Integer, u16,
        deserialize_u32 => Kind::Integer, u32,
        deserialize_u64 => Kind::Integer, u64,
        deserialize_u128 => Kind::Integer, u64,
        deserialize_f32 => Kind::Number, f32,
        deserialize_f64 => Kind::Number, f64,
    }

    wrapped! {
        deserialize_any, deserialize_char, deserialize_str, deserialize_string,
        deserialize_bytes, deserialize_byte_buf, deserialize_option, deserialize_unit,
        deserialize_seq, deserialize_map, deserialize_identifier, deserialize_ignored_any,
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Wrap(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Wrap(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, Wrap(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, Wrap(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A seed whose deserializer is made strict.
struct Seed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(d))
    }
}

/// The visitors' methods that take no nested deserializer, passed through.
macro_rules! pass {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.visitor().$method(v)
        }
    )*};
}

/// The visitors' methods that take a nested deserializer or access, wrapped again.
macro_rules! nested {
    () => {
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            self.visitor().visit_none()
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            self.visitor().visit_unit()
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            self.visitor().visit_some(Strict(d))
        }
        fn visit_newtype_struct<D2: Deserializer<'de>>(
            self,
            d: D2,
        ) -> Result<Self::Value, D2::Error> {
            self.visitor().visit_newtype_struct(Strict(d))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            self.visitor().visit_seq(Access(seq))
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            self.visitor().visit_map(Access(map))
        }
        fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
            self.visitor().visit_enum(Access(data))
        }
    };
}

/// A visitor passed through, what it is given made strict.
struct Wrap<V>(V);

impl<V> Wrap<V> {
    fn visitor(self) -> V {
        self.0
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    pass! {
        visit_bool(bool), visit_i8(i8), visit_i16(i16), visit_i32(i32), visit_i64(i64),
        visit_i128(i128), visit_u8(u8), visit_u16(u16), visit_u32(u32), visit_u64(u64),
        visit_u128(u128), visit_f32(f32), visit_f64(f64), visit_char(char),
        visit_str(&str), visit_string(String), visit_bytes(&[u8]), visit_byte_buf(Vec<u8>),
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.0.visit_borrowed_str(v)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        self.0.visit_borrowed_bytes(v)
    }

    nested!();
}

/// The visitor of a boolean or a number: a string (a quoted scalar) is refused, and so is
/// a value of another kind or out of the type's range. Each refusal is a message of its
/// own (`custom`), which the YAML reader places at the value; serde's stock errors would be
/// placed at the key.
struct Expect<V> {
    kind: Kind,
    /// The Rust type asked for (`u16`), for messages.
    ty: &'static str,
    /// Its range, as integers.
    range: (i128, i128),
    visitor: V,
}

impl<V> Expect<V> {
    fn visitor(self) -> V {
        self.visitor
    }

    fn other<E: de::Error>(&self, found: impl fmt::Display) -> E {
        E::custom(format!("expected {}, found {found}", self.kind.name()))
    }

    /// An integer of the right kind and in range, passed on as the widest type.
    fn integer<'de, E: de::Error>(self, v: i128) -> Result<V::Value, E>
    where
        V: Visitor<'de>,
    {
        match self.kind {
            Kind::Boolean => Err(self.other(format!("the number {v}"))),
            Kind::Number => match i64::try_from(v) {
                Ok(v) => self.visitor.visit_i64(v),
                Err(_) => Err(self.other(format!("the number {v}"))),
            },
            Kind::Integer if v < self.range.0 || v > self.range.1 => Err(E::custom(format!(
                "{v} is out of range: expected {} ({}..={})",
                self.ty, self.range.0, self.range.1
            ))),
            Kind::Integer => match (u64::try_from(v), i64::try_from(v)) {
                (Ok(u), _) => self.visitor.visit_u64(u),
                (_, Ok(i)) => self.visitor.visit_i64(i),
                _ => Err(self.other(format!("the number {v}"))),
            },
        }
    }
}

macro_rules! integer {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.integer(i128::from(v))
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Expect<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())
    }

    integer! {
        visit_i8(i8), visit_i16(i16), visit_i32(i32), visit_i64(i64),
        visit_u8(u8), visit_u16(u16), visit_u32(u32), visit_u64(u64),
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
        self.integer(v)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
        match i128::try_from(v) {
            Ok(v) => self.integer(v),
            Err(_) => Err(self.other(format!("the number {v}"))),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        match self.kind {
            Kind::Boolean => self.visitor.visit_bool(v),
            _ => Err(self.other(format!("the boolean {v}"))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        match self.kind {
            Kind::Number => self.visitor.visit_f64(v),
            _ => Err(self.other(format!("the number {v}"))),
        }
    }

    fn visit_f32<E: de::Error>(self, v: f32) -> Result<Self::Value, E> {
        self.visit_f64(f64::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Err(self.kind.refuse(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Err(self.kind.refuse(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Err(self.kind.refuse(&v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(self.other("no value"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(self.other("no value"))
    }

    fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
        self.visitor().visit_some(Strict(d))
    }

    fn visit_newtype_struct<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
        self.visitor().visit_newtype_struct(Strict(d))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(self.other("a list"))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
        Err(self.other("a map"))
    }
}

/// A sequence, map or enum access whose values are made strict.
struct Access<A>(A);

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Seed(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Access<A> {
    type Error = A::Error;
    type Variant = Access<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        self.0
            .variant_seed(Seed(seed))
            .map(|(value, variant)| (value, Access(variant)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Access<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Seed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Wrap(visitor))
    }
}
