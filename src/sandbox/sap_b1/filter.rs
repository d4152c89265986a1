//! The OData `$filter` subset the Service Layer pollers use: comparisons `eq ne gt ge lt le`
//! between a property and a literal (`'string'` with `''` escaping, number, `null`, bare
//! dates `2024-01-31` and times `14:05:00`), `and`, `or`, `not` and parentheses, with the
//! usual precedence (`not` > `and` > `or`).
//!
//! Date properties (`UpdateDate`, `DocDate`, ... stored as `"2026-11-21T00:00:00Z"`) compare
//! by their date part against `'2026-11-21'`; `UpdateTime` compares as `"HH:MM:SS"`.
//! Anything else is rejected the way the Service Layer does (`400`, code `201`).

use serde_json::Value;
use std::cmp::Ordering;

use super::schema::PropType;

/// Why a `$filter` (or `$orderby`/`$select`) was rejected; both map to HTTP 400 code `201`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// Syntax or type error: "Query string error - Invalid filter condition".
    InvalidCondition,
    /// Unknown property: "Property 'X' is invalid".
    UnknownProperty(String),
}

impl QueryError {
    /// The Service Layer message for this error.
    pub fn message(&self) -> String {
        match self {
            QueryError::InvalidCondition => "Query string error - Invalid filter condition".into(),
            QueryError::UnknownProperty(p) => format!("Property '{p}' is invalid"),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A literal on the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Cmp {
        property: String,
        ty: PropType,
        op: CmpOp,
        literal: Literal,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Text(String),
    Number(f64),
}

/// Maximum nesting of parentheses / `not` (bad input must not overflow the stack).
const MAX_DEPTH: usize = 64;

fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Token::Open);
            i += 1;
        } else if c == ')' {
            out.push(Token::Close);
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(QueryError::InvalidCondition),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Token::Text(s));
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | ':' | '-' | '+'))
            {
                i += 1;
            }
            let raw: String = chars[start..i].iter().collect();
            if looks_like_date(&raw) || looks_like_time(&raw) {
                out.push(Token::Text(raw));
            } else {
                let n: f64 = raw.parse().map_err(|_| QueryError::InvalidCondition)?;
                if !n.is_finite() {
                    return Err(QueryError::InvalidCondition);
                }
                out.push(Token::Number(n));
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            return Err(QueryError::InvalidCondition);
        }
    }
    Ok(out)
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
        && (b.len() == 10 || b[10] == b'T')
}

fn looks_like_time(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() == 5 || b.len() == 8)
        && b[..2].iter().all(u8::is_ascii_digit)
        && b[2] == b':'
        && b[3..5].iter().all(u8::is_ascii_digit)
        && (b.len() == 5 || (b[5] == b':' && b[6..8].iter().all(u8::is_ascii_digit)))
}

/// Normalise a time literal to `HH:MM:SS` (`"14:05"` → `"14:05:00"`).
fn normalise_time(s: &str) -> String {
    if s.len() == 5 {
        format!("{s}:00")
    } else {
        s.to_string()
    }
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    resolve: &'a dyn Fn(&str) -> Option<PropType>,
}

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w == word)
    }

    fn or_expr(&mut self, depth: usize) -> Result<Filter, QueryError> {
        let mut left = self.and_expr(depth)?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.and_expr(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize) -> Result<Filter, QueryError> {
        let mut left = self.unary(depth)?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, QueryError> {
        if depth > MAX_DEPTH {
            return Err(QueryError::InvalidCondition);
        }
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.tokens.get(self.pos) == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or_expr(depth + 1)?;
            if self.tokens.get(self.pos) != Some(&Token::Close) {
                return Err(QueryError::InvalidCondition);
            }
            self.pos += 1;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Filter, QueryError> {
        let property = match self.tokens.get(self.pos) {
            Some(Token::Word(w)) if !is_keyword(w) => w.clone(),
            _ => return Err(QueryError::InvalidCondition),
        };
        let op = match self.tokens.get(self.pos + 1) {
            Some(Token::Word(w)) => match w.as_str() {
                "eq" => CmpOp::Eq,
                "ne" => CmpOp::Ne,
                "gt" => CmpOp::Gt,
                "ge" => CmpOp::Ge,
                "lt" => CmpOp::Lt,
                "le" => CmpOp::Le,
                _ => return Err(QueryError::InvalidCondition),
            },
            _ => return Err(QueryError::InvalidCondition),
        };
        let literal = match self.tokens.get(self.pos + 2) {
            Some(Token::Text(s)) => Literal::Text(s.clone()),
            Some(Token::Number(n)) => Literal::Number(*n),
            Some(Token::Word(w)) if w == "null" => Literal::Null,
            Some(Token::Word(w)) if w == "true" => Literal::Bool(true),
            Some(Token::Word(w)) if w == "false" => Literal::Bool(false),
            _ => return Err(QueryError::InvalidCondition),
        };
        self.pos += 3;
        let ty = (self.resolve)(&property)
            .ok_or_else(|| QueryError::UnknownProperty(property.clone()))?;
        let literal = check_literal(ty, literal)?;
        Ok(Filter::Cmp {
            property,
            ty,
            op,
            literal,
        })
    }
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "and" | "or" | "not" | "eq" | "ne" | "gt" | "ge" | "lt" | "le" | "null" | "true" | "false"
    )
}

/// Type-check a literal against the property type, as the Service Layer's SQL translation does.
fn check_literal(ty: PropType, literal: Literal) -> Result<Literal, QueryError> {
    match (ty, literal) {
        (PropType::Collection, _) => Err(QueryError::InvalidCondition),
        (_, Literal::Null) => Ok(Literal::Null),
        (PropType::Number, Literal::Number(n)) => Ok(Literal::Number(n)),
        (PropType::Number, Literal::Text(s)) => s
            .trim()
            .parse::<f64>()
            .map(Literal::Number)
            .map_err(|_| QueryError::InvalidCondition),
        (PropType::Date, Literal::Text(s)) if looks_like_date(&s) => {
            Ok(Literal::Text(s[..10].to_string()))
        }
        (PropType::Time, Literal::Text(s)) if looks_like_time(&s) => {
            Ok(Literal::Text(normalise_time(&s)))
        }
        (PropType::Text, Literal::Text(s)) => Ok(Literal::Text(s)),
        (PropType::Dynamic, lit) => Ok(lit),
        _ => Err(QueryError::InvalidCondition),
    }
}

/// Parse `input` against a model: `resolve` gives the type of a property name or `None`
/// if the entity has no such property.
pub fn parse(
    input: &str,
    resolve: &dyn Fn(&str) -> Option<PropType>,
) -> Result<Filter, QueryError> {
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(QueryError::InvalidCondition);
    }
    let mut parser = Parser {
        tokens,
        pos: 0,
        resolve,
    };
    let filter = parser.or_expr(0)?;
    if parser.pos != parser.tokens.len() {
        return Err(QueryError::InvalidCondition);
    }
    Ok(filter)
}

impl Filter {
    /// The keys of a filter made only of `DocEntry eq N` joined by `or` (how clients fetch
    /// documents by key in batches), so the store can look them up instead of scanning.
    /// `None` for any other filter.
    pub fn doc_entries(&self) -> Option<Vec<i64>> {
        match self {
            Filter::Or(a, b) => {
                let mut keys = a.doc_entries()?;
                keys.extend(b.doc_entries()?);
                Some(keys)
            }
            Filter::Cmp {
                property,
                op: CmpOp::Eq,
                literal: Literal::Number(n),
                ..
            } if property == "DocEntry" && n.fract() == 0.0 => Some(vec![*n as i64]),
            _ => None,
        }
    }

    /// Does the record (a JSON object) satisfy this filter?
    pub fn matches(&self, record: &serde_json::Map<String, Value>) -> bool {
        match self {
            Filter::And(a, b) => a.matches(record) && b.matches(record),
            Filter::Or(a, b) => a.matches(record) || b.matches(record),
            Filter::Not(a) => !a.matches(record),
            Filter::Cmp {
                property,
                ty,
                op,
                literal,
            } => {
                let value = record.get(property).unwrap_or(&Value::Null);
                compare(*ty, value, literal).map_or(*op == CmpOp::Ne, |ord| apply(*op, ord))
            }
        }
    }
}

fn apply(op: CmpOp, ord: Ordering) -> bool {
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
    }
}

/// Order of `value` relative to `literal`; `None` when they are not comparable (a `null`
/// against a non-null, or different JSON types): only `ne` is then true. `null eq null` is
/// `Equal`.
fn compare(ty: PropType, value: &Value, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (Value::Null, Literal::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Literal::Null) => None,
        (Value::Number(v), Literal::Number(l)) => v.as_f64()?.partial_cmp(l),
        (Value::Bool(v), Literal::Bool(l)) => Some(v.cmp(l)),
        (Value::String(v), Literal::Text(l)) => match ty {
            PropType::Date if looks_like_date(v) => Some(v[..10].cmp(l.as_str())),
            PropType::Time => Some(normalise_time(v).as_str().cmp(l.as_str())),
            _ => Some(v.as_str().cmp(l.as_str())),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(name: &str) -> Option<PropType> {
        super::super::schema::static_type(super::super::schema::EntityKind::Document, name)
    }

    fn record(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    const CHANGE_FILTER: &str =
        "(UpdateDate gt '2024-01-31' or (UpdateDate eq '2024-01-31' and UpdateTime ge '14:05:00'))";

    #[test]
    fn change_filter_handles_the_day_boundary() {
        let f = parse(CHANGE_FILTER, &resolve).expect("parses");
        let at = |d: &str, t: &str| {
            record(json!({"UpdateDate": format!("{d}T00:00:00Z"), "UpdateTime": t}))
        };
        assert!(f.matches(&at("2024-01-31", "14:05:00")));
        assert!(f.matches(&at("2024-01-31", "23:59:59")));
        assert!(!f.matches(&at("2024-01-31", "14:04:59")));
        assert!(
            f.matches(&at("2024-02-01", "09:00:00")),
            "later day, earlier time must match"
        );
        assert!(!f.matches(&at("2024-01-30", "23:00:00")));
    }

    #[test]
    fn numbers_and_precedence() {
        let f = parse("DocEntry gt 17", &resolve).expect("parses");
        assert!(f.matches(&record(json!({"DocEntry": 18}))));
        assert!(!f.matches(&record(json!({"DocEntry": 17}))));
        let f = parse("DocEntry eq 1 or DocEntry eq 2 and DocNum eq 9", &resolve).expect("parses");
        assert!(f.matches(&record(json!({"DocEntry": 1, "DocNum": 5}))));
        assert!(!f.matches(&record(json!({"DocEntry": 2, "DocNum": 5}))));
        assert_eq!(f.doc_entries(), None, "not a pure key batch");
        let f = parse("DocEntry eq 3 or DocEntry eq 1 or DocEntry eq 2", &resolve).expect("keys");
        assert_eq!(f.doc_entries(), Some(vec![3, 1, 2]));
        assert!(f.matches(&record(json!({"DocEntry": 1}))));
        let f =
            parse("not (CardCode eq 'O''Neil') and DocTotal le -1.5", &resolve).expect("parses");
        assert!(f.matches(&record(json!({"CardCode": "X", "DocTotal": -2.0}))));
        assert!(!f.matches(&record(json!({"CardCode": "O'Neil", "DocTotal": -2.0}))));
        let f = parse("DocDate ge 2024-01-31 and UpdateTime lt 14:05", &resolve)
            .expect("bare literals");
        assert!(f.matches(&record(
            json!({"DocDate": "2024-02-01T00:00:00Z", "UpdateTime": "14:04:59"})
        )));
    }

    #[test]
    fn rejects_what_sap_rejects() {
        for bad in [
            "",
            "DocEntry",
            "DocEntry gt",
            "DocEntry gt 1 and",
            "(DocEntry gt 1",
            "DocEntry gt 1)",
            "DocEntry like 1",
            "DocEntry gt 'abc'",
            "CardCode eq 5",
            "UpdateDate gt 'yesterday'",
            "DocumentLines eq 1",
            "startswith(CardCode,'V')",
            "CardCode eq 'unterminated",
            "17 lt DocEntry",
        ] {
            assert_eq!(
                parse(bad, &resolve),
                Err(QueryError::InvalidCondition),
                "{bad}"
            );
        }
        assert_eq!(
            parse("Foo eq 1", &resolve),
            Err(QueryError::UnknownProperty("Foo".into()))
        );
        let deep = format!("{}DocEntry eq 1{}", "(".repeat(500), ")".repeat(500));
        assert_eq!(parse(&deep, &resolve), Err(QueryError::InvalidCondition));
    }
}
