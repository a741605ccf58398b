//! Lenient field types for typed webhook structs. A gateway's webhook is read into `#[derive(Deserialize)]`
//! structs whose string fields borrow from the body; these two types let such a struct take whatever
//! JSON a field holds, so that a field of the wrong type is the parser's decision (an error naming the
//! field, or "not there"), never a serde error about the whole body.
//!
//! Invariants: reading never fails on valid JSON (a broken body fails with serde_json's own error);
//! strings borrow from the body unless they hold escapes; objects that are not wanted and unknown keys
//! are skipped with [`IgnoredAny`], unbuilt; a missing key, `null` and a value of another shape stay
//! distinguishable, as they were in a `serde_json::Value`.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// A field read as whatever JSON it holds, objects skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Scalar<'a> {
    /// The key is not there.
    #[default]
    Missing,
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string (borrowed from the body unless it holds escapes).
    Str(Cow<'a, str>),
    /// An array of values.
    List(Vec<Scalar<'a>>),
    /// An object, skipped unbuilt.
    Object,
}

impl Scalar<'_> {
    /// Whether the key is there (with any value, `null` included).
    pub fn is_present(&self) -> bool {
        !matches!(self, Scalar::Missing)
    }

    /// The string, when the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string trimmed, when the value is a string with more than whitespace.
    pub fn non_empty(&self) -> Option<&str> {
        self.as_str().map(str::trim).filter(|s| !s.is_empty())
    }

    /// The boolean, when the value is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, when the value is an array.
    pub fn as_list(&self) -> Option<&[Self]> {
        match self {
            Scalar::List(items) => Some(items),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Number::from_f64(v).map_or(Scalar::Null, Scalar::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Scalar::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

/// A field read as `T` when it holds a JSON object; any other value is skipped unbuilt.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Object<T> {
    /// The key is not there.
    #[default]
    Missing,
    /// The key holds something other than an object (`null` included).
    Not,
    /// The object, read as `T`.
    Is(T),
}

impl<T> Object<T> {
    /// The object, when the value is one.
    pub fn get(&self) -> Option<&T> {
        match self {
            Object::Is(value) => Some(value),
            _ => None,
        }
    }

    /// Whether the key is there (with any value).
    pub fn is_present(&self) -> bool {
        !matches!(self, Object::Missing)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Object::Is)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Object::Not)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Object::Not)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Object::Not)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Object::Not)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Object::Not)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Object::Not)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Object::Not)
    }
}

/// An object key that borrows from the body unless it holds escapes; looked up by `&str`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
pub struct Key<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Borrow<str> for Key<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    struct Shape<'a> {
        #[serde(borrow, default)]
        name: Scalar<'a>,
        #[serde(borrow, default)]
        inner: Object<BTreeMap<Key<'a>, Scalar<'a>>>,
    }

    fn read(body: &str) -> Object<Shape<'_>> {
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn strings_borrow_from_the_body_unless_escaped() {
        let Object::Is(shape) = read(r#"{"name": "Anna", "inner": {"k\u0065y": "a\"b"}}"#) else {
            panic!("an object")
        };
        assert!(matches!(shape.name, Scalar::Str(Cow::Borrowed("Anna"))));
        let inner = shape.inner.get().unwrap();
        assert_eq!(inner.get("key"), Some(&Scalar::Str(Cow::Owned("a\"b".into()))));
    }

    #[test]
    fn missing_null_and_other_shapes_stay_apart() {
        let Object::Is(shape) = read(r#"{"inner": null, "unknown": {"deep": [1, {"x": 2}]}}"#) else {
            panic!("an object")
        };
        assert_eq!(shape.name, Scalar::Missing);
        assert!(!shape.name.is_present());
        assert_eq!(shape.inner, Object::Not);
        assert!(shape.inner.is_present());
        for body in ["[1, {\"name\": 2}]", "\"text\"", "3", "-3", "1.5", "true", "null"] {
            assert_eq!(read(body), Object::Not, "{body}");
        }
        let Object::Is(shape) = read(r#"{"name": [1, -2, 2.5, true, null, "s", {"a": 1}, [ ]]}"#) else {
            panic!("an object")
        };
        let list = shape.name.as_list().unwrap();
        assert_eq!(list.len(), 8);
        assert_eq!(list[2], Scalar::Number(Number::from_f64(2.5).unwrap()));
        assert_eq!((list[3].as_bool(), list[5].as_str()), (Some(true), Some("s")));
        assert_eq!((&list[6], &list[7]), (&Scalar::Object, &Scalar::List(vec![])));
    }

    #[test]
    fn broken_json_fails_with_serde_json_s_error_even_in_skipped_parts() {
        for body in [
            "",
            "{",
            r#"{"unknown": {"id": }}"#,
            r#"{"name": "a"} trailing"#,
            "[1, 2",
        ] {
            let full = serde_json::from_str::<serde_json::Value>(body).unwrap_err();
            let typed = serde_json::from_str::<Object<Shape<'_>>>(body).unwrap_err();
            assert_eq!(typed.to_string(), full.to_string(), "{body}");
        }
    }
}
