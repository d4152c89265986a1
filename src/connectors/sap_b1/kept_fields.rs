//! Reading an OData collection page while keeping only the record fields something reads.
//!
//! A Service Layer document carries about a hundred properties (`DocEntry`, `DocNum`,
//! `CardCode`, ..., `DocumentLines`); the routes' filters and templates and the source's
//! presenter usually read a dozen. [`parse_page`] decodes a page body
//! (`{"value":[{...},...],"@odata.nextLink":"..."}`) into the same JSON value
//! `serde_json::from_slice` gives, except that each object inside the top-level `value` array
//! keeps only the properties in `keep`: the others are skipped while parsing (checked for JSON
//! syntax, never allocated). The request stays the same (no `$select`), so a field name that
//! the company's schema lacks cannot turn a read into `400/201 Property 'X' is invalid`
//! (`api-notes/sap-business-one.md`, "Errors"); such a field is simply absent, as it would be
//! in the full document.
//!
//! Everything else is decoded as by `serde_json`: other top-level members, non-object array
//! elements (reported later as `record #i is not an object`), and the errors (syntax, EOF).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Decode `body` (UTF-8 checked once for the whole body) as a JSON value whose top-level
/// `value` array's objects hold only the fields in `keep`.
///
/// Errors: the `serde_json::Error` `serde_json::from_slice` would give for the same body.
pub fn parse_page(body: &[u8], keep: &BTreeSet<String>) -> Result<Value, serde_json::Error> {
    let seed = Level::Page(keep);
    match std::str::from_utf8(body) {
        Ok(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            let value = seed.deserialize(&mut de)?;
            de.end()?;
            Ok(value)
        }
        // Not UTF-8: serde_json's own decoding gives the error (a skipped field would not be
        // checked, and a page with a broken field must fail as a whole).
        Err(_) => serde_json::from_slice(body),
    }
}

/// Where the decoder is: the body, the top-level `value` member, or one of its elements.
#[derive(Clone, Copy)]
enum Level<'k> {
    /// The body: its `value` member is decoded at [`Level::Records`].
    Page(&'k BTreeSet<String>),
    /// `value`: an array's elements are decoded at [`Level::Record`].
    Records(&'k BTreeSet<String>),
    /// One element: an object keeps only the fields in the set.
    Record(&'k BTreeSet<String>),
    /// Anything else: a plain [`Value`].
    Plain,
}

impl<'de> DeserializeSeed<'de> for Level<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(Key)? {
            let level = match self {
                Level::Page(keep) if key == "value" => Level::Records(keep),
                Level::Record(keep) if !keep.contains(key.as_ref()) => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                _ => Level::Plain,
            };
            let value = map.next_value_seed(level)?;
            out.insert(key.into_owned(), value);
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let element = match self {
            Level::Records(keep) => Level::Record(keep),
            _ => Level::Plain,
        };
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(element)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// An object key, borrowed from the body when it holds no escape (a skipped field allocates
/// nothing).
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keep(fields: &[&str]) -> BTreeSet<String> {
        fields.iter().map(|f| f.to_string()).collect()
    }

    const BODY: &str = r#"{"@odata.context":"$metadata#PurchaseOrders",
        "value":[
          {"DocEntry":1,"DocNum":1042,"CardCode":"V10000","Comments":"a \"quoted\" note",
           "DocTotal":12500.5,"Cancelled":"tNO","U_Na\u006De":"escaped key",
           "DocumentLines":[{"LineNum":0,"ItemCode":"A1"}],"Empty":null,"Flag":true},
          7,
          {"DocEntry":2,"DocNum":-3,"DocTotal":1e3}
        ],
        "@odata.nextLink":"PurchaseOrders?$skip=20"}"#;

    #[test]
    fn keeps_only_the_listed_fields_of_the_records_and_everything_else() {
        let page = parse_page(
            BODY.as_bytes(),
            &keep(&["DocEntry", "DocNum", "DocumentLines", "U_Name", "Missing"]),
        )
        .unwrap();
        assert_eq!(
            page,
            json!({
                "@odata.context": "$metadata#PurchaseOrders",
                "value": [
                    {"DocEntry": 1, "DocNum": 1042, "U_Name": "escaped key",
                     "DocumentLines": [{"LineNum": 0, "ItemCode": "A1"}]},
                    7,
                    {"DocEntry": 2, "DocNum": -3}
                ],
                "@odata.nextLink": "PurchaseOrders?$skip=20"
            })
        );
    }

    #[test]
    fn keeping_every_field_decodes_as_serde_json_does() {
        let all = keep(&[
            "DocEntry",
            "DocNum",
            "CardCode",
            "Comments",
            "DocTotal",
            "Cancelled",
            "U_Name",
            "DocumentLines",
            "Empty",
            "Flag",
        ]);
        let expected: Value = serde_json::from_str(BODY).unwrap();
        assert_eq!(parse_page(BODY.as_bytes(), &all).unwrap(), expected);
        for other in [r#"[1,{"a":2}]"#, r#""text""#, "12", "null", r#"{"value":{"a":1}}"#] {
            let expected: Value = serde_json::from_str(other).unwrap();
            assert_eq!(parse_page(other.as_bytes(), &keep(&[])).unwrap(), expected, "{other}");
        }
    }

    #[test]
    fn malformed_bodies_fail_as_they_do_in_serde_json() {
        for body in [
            &br#"{"value":[{"DocEntry":1,"#[..],
            br#"{"value":[{"DocEntry":1}]} trailing"#,
            br#"{"value":[{"DocEntry":01}]}"#,
            b"<html>503</html>",
            b"",
            b"{\"value\":[{\"Comments\":\"\xff\xfe\"}]}",
        ] {
            let ours = parse_page(body, &keep(&["DocEntry"])).unwrap_err();
            let theirs = serde_json::from_slice::<Value>(body).unwrap_err();
            assert_eq!(ours.classify(), theirs.classify(), "{body:?}");
        }
    }
}
