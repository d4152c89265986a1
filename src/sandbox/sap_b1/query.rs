//! OData system query options of a collection GET (`$filter`, `$orderby`, `$select`, `$top`,
//! `$skip`, `$count`), the page size from `Prefer: odata.maxpagesize=N` / `B1S-PageSize`, and
//! the `@odata.nextLink` the Service Layer builds from them (guide §3.6): relative to the
//! service root, percent-encoded, always `$skip`, `$top` reduced by what was already served.

use super::filter::{self, Filter, QueryError};
use super::schema::PropType;

/// One `$orderby` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderKey {
    pub property: String,
    pub descending: bool,
}

/// The parsed query options of one collection request.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// `$filter` as received (decoded) and parsed.
    pub filter: Option<(String, Filter)>,
    /// `$orderby` as received and parsed.
    pub orderby: Option<(String, Vec<OrderKey>)>,
    /// `$select` as received and the property list.
    pub select: Option<(String, Vec<String>)>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$skip` (0 when absent).
    pub skip: usize,
    /// `$count=true`: add `@odata.count`.
    pub count: bool,
}

impl QueryOptions {
    /// Parse the raw query string of a request against an entity model. Unknown `$` options,
    /// `$expand` (inline collections are not navigation properties) and malformed numbers
    /// are `InvalidCondition`; unknown properties are `UnknownProperty`.
    pub fn parse(
        query: &str,
        resolve: &dyn Fn(&str) -> Option<PropType>,
    ) -> Result<QueryOptions, QueryError> {
        let mut opts = QueryOptions::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "$filter" => {
                    let parsed = filter::parse(&value, resolve)?;
                    opts.filter = Some((value.into_owned(), parsed));
                }
                "$orderby" => {
                    let keys = parse_orderby(&value, resolve)?;
                    opts.orderby = Some((value.into_owned(), keys));
                }
                "$select" => {
                    let mut props = Vec::new();
                    for p in value.split(',').map(str::trim) {
                        if p.is_empty() {
                            return Err(QueryError::InvalidCondition);
                        }
                        resolve(p).ok_or_else(|| QueryError::UnknownProperty(p.to_string()))?;
                        props.push(p.to_string());
                    }
                    opts.select = Some((value.into_owned(), props));
                }
                "$top" => {
                    opts.top = Some(
                        value
                            .trim()
                            .parse()
                            .map_err(|_| QueryError::InvalidCondition)?,
                    )
                }
                "$skip" => {
                    opts.skip = value
                        .trim()
                        .parse()
                        .map_err(|_| QueryError::InvalidCondition)?
                }
                "$count" => {
                    opts.count = match value.as_ref() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(QueryError::InvalidCondition),
                    }
                }
                k if k.starts_with('$') => return Err(QueryError::InvalidCondition),
                _ => {}
            }
        }
        Ok(opts)
    }

    /// The `@odata.nextLink` for the page after one that served `served` records:
    /// `"{entity}?$filter=…&$select=…&$orderby=…&$count=true&$top=…&$skip=…"`.
    pub fn next_link(&self, entity: &str, served: usize) -> String {
        let mut parts = Vec::new();
        if let Some((raw, _)) = &self.filter {
            parts.push(format!("$filter={}", percent_encode(raw)));
        }
        if let Some((raw, _)) = &self.select {
            parts.push(format!("$select={}", percent_encode(raw)));
        }
        if let Some((raw, _)) = &self.orderby {
            parts.push(format!("$orderby={}", percent_encode(raw)));
        }
        if self.count {
            parts.push("$count=true".to_string());
        }
        if let Some(top) = self.top {
            parts.push(format!("$top={}", top.saturating_sub(served)));
        }
        parts.push(format!("$skip={}", self.skip + served));
        format!("{entity}?{}", parts.join("&"))
    }
}

fn parse_orderby(
    raw: &str,
    resolve: &dyn Fn(&str) -> Option<PropType>,
) -> Result<Vec<OrderKey>, QueryError> {
    let mut keys = Vec::new();
    for item in raw.split(',') {
        let mut words = item.split_whitespace();
        let property = words.next().ok_or(QueryError::InvalidCondition)?;
        let descending = match words.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(QueryError::InvalidCondition),
        };
        if words.next().is_some() {
            return Err(QueryError::InvalidCondition);
        }
        match resolve(property) {
            None => return Err(QueryError::UnknownProperty(property.to_string())),
            Some(PropType::Collection) => return Err(QueryError::InvalidCondition),
            Some(_) => {}
        }
        keys.push(OrderKey {
            property: property.to_string(),
            descending,
        });
    }
    Ok(keys)
}

/// Percent-encode everything but RFC 3986 unreserved characters (space → `%20`, `'` → `%27`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The page size asked for by `Prefer: odata.maxpagesize=N` (returned as `(N, true)`, the
/// answer then carries `Preference-Applied`) or the legacy `B1S-PageSize: N` (`(N, false)`).
pub fn requested_page_size(
    prefer: Option<&str>,
    b1s_page_size: Option<&str>,
) -> Option<(usize, bool)> {
    let from_prefer = prefer.and_then(|p| {
        p.split(',').find_map(|pref| {
            let (k, v) = pref.split_once('=')?;
            if k.trim().eq_ignore_ascii_case("odata.maxpagesize") {
                v.trim()
                    .trim_matches('"')
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
            } else {
                None
            }
        })
    });
    if let Some(n) = from_prefer {
        return Some((n, true));
    }
    b1s_page_size
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .map(|n| (n, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::sap_b1::schema::{static_type, EntityKind};

    fn resolve(name: &str) -> Option<PropType> {
        static_type(EntityKind::Document, name)
    }

    #[test]
    fn next_link_repeats_options_and_reduces_top() {
        let q = "%24filter=DocEntry%20gt%2017&%24orderby=UpdateDate,UpdateTime,DocEntry&%24top=500&%24skip=100";
        let opts = QueryOptions::parse(q, &resolve).expect("parses");
        assert_eq!(
            opts.next_link("PurchaseOrders", 100),
            "PurchaseOrders?$filter=DocEntry%20gt%2017&$orderby=UpdateDate%2CUpdateTime%2CDocEntry&$top=400&$skip=200"
        );
    }

    #[test]
    fn rejects_bad_options() {
        assert!(QueryOptions::parse("$orderby=Nope", &resolve).is_err());
        assert!(QueryOptions::parse("$orderby=DocEntry%20sideways", &resolve).is_err());
        assert!(QueryOptions::parse("$top=-1", &resolve).is_err());
        assert!(QueryOptions::parse("$expand=DocumentLines", &resolve).is_err());
        assert!(QueryOptions::parse("$select=DocEntry,Nope", &resolve).is_err());
        assert!(QueryOptions::parse("other=1&$select=DocEntry,DocumentLines", &resolve).is_ok());
    }

    #[test]
    fn page_size_headers() {
        assert_eq!(
            requested_page_size(Some("odata.maxpagesize=100"), None),
            Some((100, true))
        );
        assert_eq!(
            requested_page_size(Some("return=minimal, odata.maxpagesize=5"), None),
            Some((5, true))
        );
        assert_eq!(requested_page_size(None, Some("50")), Some((50, false)));
        assert_eq!(
            requested_page_size(Some("odata.maxpagesize=0"), Some("x")),
            None
        );
    }
}
