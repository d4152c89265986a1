//! The list query parameters the simulator understands — `$filter` on
//! `LastModifiedDateTime gt|ge datetimeoffset'…'`, `$top`, `$skip`, `$select`, `$expand` (the
//! entity's detail collections; `$custom` accepted and ignored) — and the refusal of
//! everything else (400), as strict as the real API is documented.

use std::collections::BTreeSet;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A parsed list query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// `LastModifiedDateTime gt` (`true`: strictly after) / `ge` the stamp.
    pub modified_after: Option<(OffsetDateTime, bool)>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$skip`.
    pub skip: usize,
    /// `$select` field names; `None`: every field.
    pub select: Option<BTreeSet<String>>,
    /// `$expand` detail collections; empty: no details are sent.
    pub expand: BTreeSet<String>,
}

/// Parse the query string of a list request; `known` are the entity's field names, `details`
/// its detail collections.
///
/// Errors: the 400 message for an unknown parameter, a `$filter` of another form, a
/// non-numeric `$top`/`$skip`, a `$select` naming an unknown field, or an `$expand` naming
/// an unknown detail collection.
pub fn parse(query: &str, known: &BTreeSet<String>, details: &[&str]) -> Result<ListQuery, String> {
    let mut q = ListQuery::default();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "$filter" => q.modified_after = Some(filter(&value)?),
            "$top" => q.top = Some(number("$top", &value)?),
            "$skip" => q.skip = number("$skip", &value)?,
            "$select" => {
                let fields: BTreeSet<String> = value.split(',').map(|f| f.trim().to_string()).collect();
                if let Some(unknown) = fields.iter().find(|f| !known.contains(*f)) {
                    return Err(format!("$select names an unknown field \"{unknown}\""));
                }
                q.select = Some(fields);
            }
            "$expand" => {
                let names: BTreeSet<String> = value.split(',').map(|n| n.trim().to_string()).collect();
                if let Some(unknown) = names.iter().find(|n| !details.contains(&n.as_str())) {
                    return Err(format!("$expand names an unknown detail \"{unknown}\""));
                }
                q.expand = names;
            }
            "$custom" => {}
            other => return Err(format!("unsupported query parameter \"{other}\"")),
        }
    }
    Ok(q)
}

fn number(name: &str, value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{name} must be a non-negative integer, found \"{value}\""))
}

/// `LastModifiedDateTime gt datetimeoffset'2024-12-18T17:07:45.433+00:00'` (or `ge`).
fn filter(text: &str) -> Result<(OffsetDateTime, bool), String> {
    let refuse = || {
        format!(
            "unsupported $filter \"{text}\": the sandbox understands only \
             LastModifiedDateTime gt|ge datetimeoffset'<ISO 8601 date-time>'"
        )
    };
    let rest = text.strip_prefix("LastModifiedDateTime ").ok_or_else(refuse)?;
    let (strict, rest) = match rest.split_once(' ') {
        Some(("gt", r)) => (true, r),
        Some(("ge", r)) => (false, r),
        _ => return Err(refuse()),
    };
    let stamp = rest
        .strip_prefix("datetimeoffset'")
        .and_then(|r| r.strip_suffix('\''))
        .ok_or_else(refuse)?;
    let at = OffsetDateTime::parse(stamp, &Rfc3339).map_err(|_| refuse())?;
    Ok((at, strict))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn filters_of_one_form_only() {
        let known: BTreeSet<String> = ["Status".to_string()].into();
        let q = parse(
            "%24filter=LastModifiedDateTime+gt+datetimeoffset%272024-12-18T17%3A07%3A45.433%2B00%3A00%27&%24top=2&%24skip=4&%24select=Status",
            &known,
            &[],
        )
        .expect("query");
        assert_eq!(q.modified_after, Some((datetime!(2024-12-18 17:07:45.433 UTC), true)));
        assert_eq!((q.top, q.skip), (Some(2), 4));
        assert!(parse("$filter=Status eq 'Open'", &known, &[]).unwrap_err().starts_with("unsupported $filter"));
        assert_eq!(parse("$orderby=Status", &known, &[]).unwrap_err(), "unsupported query parameter \"$orderby\"");
        assert_eq!(parse("$select=Amount", &known, &[]).unwrap_err(), "$select names an unknown field \"Amount\"");
        assert_eq!(parse("$expand=Details", &known, &["Details"]).expect("expand").expand, ["Details".to_string()].into());
        assert_eq!(parse("$expand=Lines", &known, &["Details"]).unwrap_err(), "$expand names an unknown detail \"Lines\"");
    }
}
