//! Query options of the write-back collections (`Activities`, user-defined tables): exactly
//! the forms the `sap_b1_record` sink and `check` send, refused otherwise like the rest of the
//! simulator (`400`, code `201`):
//! - `$filter`: `contains(<Field>,'<text>')` on a text property, or `<Field> eq '<text>'` /
//!   `<Field> eq <integer>`; `''` inside a literal is one quote;
//! - `$select`: known properties, comma separated;
//! - `$top`, `$skip`: non-negative integers.

use serde_json::{Map, Value};

use super::filter::QueryError;

/// The type of a write-back property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// `Edm.String`.
    Text,
    /// `Edm.Int32`.
    Integer,
    /// `Edm.DateTime` as `YYYY-MM-DD` (or with `T00:00:00Z`).
    Date,
    /// `Edm.Time` as `HH:MM:SS`.
    Time,
    /// An enum, one of the listed names.
    Enum(&'static [&'static str]),
}

/// A parsed `$filter` of a write-back collection.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordFilter {
    /// `contains(field,'text')`.
    Contains { field: String, text: String },
    /// `field eq <literal>`.
    Equals { field: String, value: Value },
}

impl RecordFilter {
    /// Does `record` match?
    pub fn matches(&self, record: &Map<String, Value>) -> bool {
        match self {
            RecordFilter::Contains { field, text } => record
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|v| v.contains(text.as_str())),
            RecordFilter::Equals { field, value } => record.get(field) == Some(value),
        }
    }
}

/// Query options of one GET.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordQuery {
    pub filter: Option<RecordFilter>,
    pub select: Option<Vec<String>>,
    pub top: Option<usize>,
    pub skip: usize,
}

/// A quoted literal `'…'` (with `''` escapes) making up all of `text`.
fn quoted(text: &str) -> Option<String> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    (!inner.replace("''", "").contains('\'')).then(|| inner.replace("''", "'"))
}

fn number(text: &str) -> Result<usize, QueryError> {
    text.trim().parse().map_err(|_| QueryError::InvalidCondition)
}

impl RecordQuery {
    /// Parse a raw query string against the collection's properties (`kind_of`).
    ///
    /// Errors: an option other than `$filter`, `$select`, `$top`, `$skip`; a filter of
    /// another form; `contains` on a non-text property; an unknown property.
    pub fn parse(
        query: &str,
        kind_of: &dyn Fn(&str) -> Option<FieldKind>,
    ) -> Result<RecordQuery, QueryError> {
        let known = |field: &str| {
            kind_of(field).ok_or_else(|| QueryError::UnknownProperty(field.to_string()))
        };
        let mut out = RecordQuery::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "$filter" => out.filter = Some(parse_filter(value.trim(), &known)?),
                "$select" => {
                    let mut fields = Vec::new();
                    for field in value.split(',').map(str::trim) {
                        known(field)?;
                        fields.push(field.to_string());
                    }
                    out.select = Some(fields);
                }
                "$top" => out.top = Some(number(&value)?),
                "$skip" => out.skip = number(&value)?,
                _ => return Err(QueryError::InvalidCondition),
            }
        }
        Ok(out)
    }
}

fn parse_filter(
    text: &str,
    known: &dyn Fn(&str) -> Result<FieldKind, QueryError>,
) -> Result<RecordFilter, QueryError> {
    if let Some(args) = text
        .strip_prefix("contains(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        let (field, literal) = args.split_once(',').ok_or(QueryError::InvalidCondition)?;
        let field = field.trim();
        if known(field)? != FieldKind::Text {
            return Err(QueryError::InvalidCondition);
        }
        let text = quoted(literal.trim()).ok_or(QueryError::InvalidCondition)?;
        return Ok(RecordFilter::Contains {
            field: field.to_string(),
            text,
        });
    }
    let (field, literal) = text.split_once(" eq ").ok_or(QueryError::InvalidCondition)?;
    let field = field.trim();
    let literal = literal.trim();
    let value = match known(field)? {
        FieldKind::Integer => Value::from(
            literal
                .parse::<i64>()
                .map_err(|_| QueryError::InvalidCondition)?,
        ),
        _ => Value::String(quoted(literal).ok_or(QueryError::InvalidCondition)?),
    };
    Ok(RecordFilter::Equals {
        field: field.to_string(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(field: &str) -> Option<FieldKind> {
        match field {
            "Details" => Some(FieldKind::Text),
            "ActivityCode" => Some(FieldKind::Integer),
            "ActivityDate" => Some(FieldKind::Date),
            _ => None,
        }
    }

    #[test]
    fn the_forms_the_sink_sends_parse() {
        let q = RecordQuery::parse(
            "$filter=contains(Details,'mlc-0123')&$select=ActivityCode&$top=1",
            &kind_of,
        )
        .expect("valid");
        assert_eq!(
            q,
            RecordQuery {
                filter: Some(RecordFilter::Contains {
                    field: "Details".into(),
                    text: "mlc-0123".into()
                }),
                select: Some(vec!["ActivityCode".into()]),
                top: Some(1),
                skip: 0,
            }
        );
        let q = RecordQuery::parse("$filter=ActivityCode%20eq%207", &kind_of).expect("valid");
        assert_eq!(
            q.filter,
            Some(RecordFilter::Equals {
                field: "ActivityCode".into(),
                value: Value::from(7)
            })
        );
        let q = RecordQuery::parse("$filter=Details eq 'it''s'", &kind_of).expect("valid");
        assert_eq!(
            q.filter,
            Some(RecordFilter::Equals {
                field: "Details".into(),
                value: Value::from("it's")
            })
        );
    }

    #[test]
    fn other_forms_are_refused_like_sap() {
        let refused = |q: &str| RecordQuery::parse(q, &kind_of).unwrap_err();
        assert_eq!(refused("$filter=contains(Nope,'x')"), QueryError::UnknownProperty("Nope".into()));
        assert_eq!(refused("$filter=contains(ActivityCode,'1')"), QueryError::InvalidCondition);
        assert_eq!(refused("$filter=startswith(Details,'x')"), QueryError::InvalidCondition);
        assert_eq!(refused("$filter=Details ne 'x'"), QueryError::InvalidCondition);
        assert_eq!(refused("$filter=Details eq x"), QueryError::InvalidCondition);
        assert_eq!(refused("$orderby=ActivityCode"), QueryError::InvalidCondition);
        assert_eq!(refused("$select=Nope"), QueryError::UnknownProperty("Nope".into()));
        assert_eq!(refused("$top=-1"), QueryError::InvalidCondition);
    }
}
