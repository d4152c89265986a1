//! Route filter expressions: one condition on one top-level field of a record.
//!
//! Grammar (whitespace between tokens is free):
//! ```text
//! filter   := field op value
//! field    := [A-Za-z_][A-Za-z0-9_]*          top-level JSON property (DocTotal, U_Region)
//! op       := "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "in" | "not in"
//! value    := number | string | list           list only after in / not in
//! number   := -?[0-9]+(.[0-9]+)?([eE][+-]?[0-9]+)?
//! string   := "..." | '...'                    escapes: \\ \" \' \n \t
//! list     := "[" scalar ("," scalar)* ","? "]"
//! ```
//! Examples: `DocTotal >= 10000`, `CardCode in ["V10000", 'V20000']`,
//! `DocumentStatus != "bost_Close"`, `Comments contains "urgent"`.

use std::cmp::Ordering;

use serde_json::Value as Json;

use super::humanize::parse_number;

/// A filter expression that failed to parse.
///
/// `position` is the 1-based character column of the offending character (the length of
/// the expression plus one when the expression ended too early).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter `{expression}`: {message} at position {position}")]
pub struct FilterError {
    /// The expression as written in the configuration.
    pub expression: String,
    /// 1-based character column of the error.
    pub position: usize,
    /// What was expected or found.
    pub message: String,
}

/// A parsed filter expression, evaluated against a record's top-level JSON properties.
///
/// Semantics:
/// - A missing field or a JSON `null` makes every condition false (also `!=` and `not in`).
/// - With a number literal, the field must be a number or a string holding a number
///   (`"12500.0"`) and is compared numerically; otherwise the condition is false.
/// - With a string literal, a string field is compared exactly (case-sensitive; `<`, `>`
///   compare by code point, which orders ISO dates such as `DocDueDate` correctly); a
///   number field is compared numerically when the literal holds a number; a boolean field
///   compares as `"true"`/`"false"`.
/// - `in` / `not in` test equality with any list element under the same rules.
/// - `contains` tests for a substring of a string field (case-sensitive), or for an equal
///   string element of an array field.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    expression: String,
    field: String,
    test: Test,
}

/// The condition applied to the field's value.
#[derive(Debug, Clone, PartialEq)]
enum Test {
    Compare(CmpOp, Literal),
    In(Vec<Literal>),
    NotIn(Vec<Literal>),
    Contains(String),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            CmpOp::Eq => ord == Ordering::Equal,
            CmpOp::Ne => ord != Ordering::Equal,
            CmpOp::Lt => ord == Ordering::Less,
            CmpOp::Le => ord != Ordering::Greater,
            CmpOp::Gt => ord == Ordering::Greater,
            CmpOp::Ge => ord != Ordering::Less,
        }
    }
}

/// A literal on the right-hand side.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Number(f64),
    Text(String),
}

/// Operator token as parsed.
enum OpToken {
    Cmp(CmpOp),
    In,
    NotIn,
    Contains,
}

impl Filter {
    /// Parses an expression such as `DocTotal >= 10000`.
    ///
    /// Errors: [`FilterError`] quoting the expression with the position and what was
    /// expected (`expected an operator (==, !=, <, <=, >, >=, in, not in, contains)`,
    /// `unterminated string`, `strings must be quoted`, ...).
    pub fn parse(expression: &str) -> Result<Filter, FilterError> {
        let mut p = Parser {
            src: expression,
            pos: 0,
        };
        p.skip_ws();
        let field = p.field()?;
        p.skip_ws();
        let op = p.op()?;
        p.skip_ws();
        let value_pos = p.pos;
        let test = match op {
            OpToken::In | OpToken::NotIn => {
                if p.peek() != Some('[') {
                    return Err(p.err(value_pos, "expected a list `[...]` after `in`"));
                }
                let list = p.list()?;
                if matches!(op, OpToken::In) {
                    Test::In(list)
                } else {
                    Test::NotIn(list)
                }
            }
            OpToken::Contains => match p.scalar()? {
                Literal::Text(s) => Test::Contains(s),
                Literal::Number(_) => {
                    return Err(p.err(value_pos, "`contains` needs a quoted string"));
                }
            },
            OpToken::Cmp(cmp) => {
                if p.peek() == Some('[') {
                    return Err(p.err(value_pos, "a list is only allowed after `in` or `not in`"));
                }
                Test::Compare(cmp, p.scalar()?)
            }
        };
        p.skip_ws();
        if let Some(c) = p.peek() {
            return Err(p.err(p.pos, &format!("unexpected `{c}` after the value")));
        }
        Ok(Filter {
            expression: expression.to_owned(),
            field,
            test,
        })
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The top-level field the filter reads (`DocTotal`).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Whether the record (a JSON object as read from the Service Layer) satisfies the
    /// condition. Non-objects, missing fields and `null` give `false`.
    pub fn matches(&self, record: &Json) -> bool {
        let value = match record.get(&self.field) {
            None | Some(Json::Null) => return false,
            Some(v) => v,
        };
        match &self.test {
            Test::Compare(op, lit) => compare(value, lit).is_some_and(|ord| op.holds(ord)),
            Test::In(list) => list
                .iter()
                .any(|lit| compare(value, lit) == Some(Ordering::Equal)),
            Test::NotIn(list) => {
                matches!(value, Json::String(_) | Json::Number(_) | Json::Bool(_))
                    && !list
                        .iter()
                        .any(|lit| compare(value, lit) == Some(Ordering::Equal))
            }
            Test::Contains(needle) => match value {
                Json::String(s) => s.contains(needle.as_str()),
                Json::Array(items) => items.iter().any(|i| i.as_str() == Some(needle)),
                _ => false,
            },
        }
    }
}

/// Orders a field value against a literal; `None` when they are not comparable.
fn compare(value: &Json, lit: &Literal) -> Option<Ordering> {
    match lit {
        Literal::Number(n) => {
            let v = match value {
                Json::Number(v) => v.as_f64()?,
                Json::String(s) => parse_number(s)?,
                _ => return None,
            };
            v.partial_cmp(n)
        }
        Literal::Text(t) => match value {
            Json::String(s) => Some(s.as_str().cmp(t.as_str())),
            Json::Number(v) => v.as_f64()?.partial_cmp(&parse_number(t)?),
            Json::Bool(b) => Some((if *b { "true" } else { "false" }).cmp(t.as_str())),
            _ => None,
        },
    }
}

/// Hand-written recursive-descent parser over the expression text.
struct Parser<'a> {
    src: &'a str,
    /// Byte offset of the next character.
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, byte_pos: usize, message: &str) -> FilterError {
        let column = self.src.get(..byte_pos).map_or(0, |s| s.chars().count()) + 1;
        FilterError {
            expression: self.src.to_owned(),
            position: column,
            message: message.to_owned(),
        }
    }

    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// Whether `word` follows and is not the start of a longer identifier.
    fn at_keyword(&self, word: &str) -> bool {
        let rest = self.rest();
        rest.starts_with(word)
            && !rest[word.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    fn field(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
            Some(c) => {
                return Err(self.err(start, &format!("expected a field name, found `{c}`")));
            }
            None => return Err(self.err(start, "expected a field name")),
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.bump();
        }
        Ok(self.src[start..self.pos].to_owned())
    }

    fn op(&mut self) -> Result<OpToken, FilterError> {
        let start = self.pos;
        let rest = self.rest();
        let symbolic = [
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            (">", CmpOp::Gt),
            ("<", CmpOp::Lt),
        ];
        for (text, op) in symbolic {
            if rest.starts_with(text) {
                self.pos += text.len();
                return Ok(OpToken::Cmp(op));
            }
        }
        if rest.starts_with('=') {
            return Err(self.err(start, "use `==` to test equality"));
        }
        if self.at_keyword("in") {
            self.pos += 2;
            return Ok(OpToken::In);
        }
        if self.at_keyword("contains") {
            self.pos += "contains".len();
            return Ok(OpToken::Contains);
        }
        if self.at_keyword("not") {
            self.pos += 3;
            self.skip_ws();
            if self.at_keyword("in") {
                self.pos += 2;
                return Ok(OpToken::NotIn);
            }
            return Err(self.err(self.pos, "expected `in` after `not`"));
        }
        let message = match self.peek() {
            Some(c) => format!(
                "expected an operator (==, !=, <, <=, >, >=, in, not in, contains), found `{c}`"
            ),
            None => "expected an operator (==, !=, <, <=, >, >=, in, not in, contains)".to_owned(),
        };
        Err(self.err(start, &message))
    }

    fn scalar(&mut self) -> Result<Literal, FilterError> {
        let start = self.pos;
        match self.peek() {
            Some('"' | '\'') => self.string().map(Literal::Text),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number().map(Literal::Number),
            Some(c) if c.is_alphabetic() || c == '_' => Err(self.err(
                start,
                "expected a number or a quoted string (strings must be quoted)",
            )),
            Some(c) => Err(self.err(
                start,
                &format!("expected a number or a quoted string, found `{c}`"),
            )),
            None => Err(self.err(start, "expected a number or a quoted string")),
        }
    }

    fn number(&mut self) -> Result<f64, FilterError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            self.bump();
        }
        let text = &self.src[start..self.pos];
        parse_number(text).ok_or_else(|| self.err(start, &format!("invalid number `{text}`")))
    }

    fn string(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        let quote = self.bump().unwrap_or('"');
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(self.err(start, "unterminated string")),
                Some(c) if c == quote => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    Some('\'') => out.push('\''),
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(c) => {
                        return Err(self.err(at, &format!("unknown escape `\\{c}`")));
                    }
                    None => return Err(self.err(start, "unterminated string")),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn list(&mut self) -> Result<Vec<Literal>, FilterError> {
        let open = self.pos;
        self.bump(); // '['
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(']') {
                self.bump();
                break;
            }
            if self.peek().is_none() {
                return Err(self.err(open, "unclosed list, expected `]`"));
            }
            items.push(self.scalar()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {
                    self.bump();
                    break;
                }
                Some(c) => {
                    return Err(self.err(self.pos, &format!("expected `,` or `]`, found `{c}`")));
                }
                None => return Err(self.err(open, "unclosed list, expected `]`")),
            }
        }
        if items.is_empty() {
            return Err(self.err(open, "empty list"));
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(expr: &str, record: &Json) -> bool {
        Filter::parse(expr)
            .unwrap_or_else(|e| panic!("{e}"))
            .matches(record)
    }

    fn po() -> Json {
        json!({
            "DocEntry": 1042, "DocNum": 1042, "CardCode": "V10000", "CardName": "Acme Supplies",
            "DocTotal": 12500.0, "DocCurrency": "EUR", "DocumentStatus": "bost_Open",
            "Comments": "urgent: ship by Friday", "VatSum": "2375.5", "Confirmed": true,
            "DocDueDate": "2026-12-01T00:00:00Z", "Reference2": null,
        })
    }

    #[test]
    fn numeric_comparisons() {
        let r = po();
        assert!(check("DocTotal >= 10000", &r));
        assert!(check("DocTotal >= 12500", &r));
        assert!(!check("DocTotal > 12500", &r));
        assert!(check("DocTotal > 12499.99", &r));
        assert!(!check("DocTotal < 500.5", &r));
        assert!(check("DocTotal <= 12500.0", &r));
        assert!(check("DocTotal == 12500", &r));
        assert!(check("DocTotal != 1", &r));
        assert!(check("DocTotal<1e5", &r));
        assert!(check("DocTotal > -1", &r));
        // A string holding a number compares numerically.
        assert!(check("VatSum > 2000", &r));
        assert!(check("VatSum == 2375.50", &r));
        // A non-numeric string against a number is false for every operator.
        assert!(!check("CardCode > 1", &r));
        assert!(!check("CardCode != 1", &r));
        // A number field against a string literal holding a number.
        assert!(check("DocNum == '1042'", &r));
    }

    #[test]
    fn string_comparisons() {
        let r = po();
        assert!(check("DocCurrency == \"EUR\"", &r));
        assert!(!check("DocCurrency == \"eur\"", &r));
        assert!(check("DocumentStatus != \"bost_Close\"", &r));
        assert!(!check("DocumentStatus != 'bost_Open'", &r));
        assert!(check("DocDueDate < '2026-12-02'", &r));
        assert!(check("DocDueDate >= '2026-12-01'", &r));
        assert!(check("Confirmed == 'true'", &r));
        assert!(check(r#"CardName == 'Acme Supplies'"#, &r));
        assert!(check(r#"Comments contains "urgent""#, &r));
        assert!(!check(r#"Comments contains "Urgent""#, &r));
        assert!(check(r#"Comments contains 'ship by'"#, &r));
        assert!(!check(r#"DocTotal contains "125""#, &r));
        assert!(check(r#"Tags contains "x""#, &json!({"Tags": ["y", "x"]})));
        assert!(check(
            r#"Note == 'it\'s "fine"\\'"#,
            &json!({"Note": "it's \"fine\"\\"})
        ));
    }

    #[test]
    fn membership() {
        let r = po();
        assert!(check(r#"CardCode in ["V10000", "V20000"]"#, &r));
        assert!(check("CardCode in ['V20000', 'V10000',]", &r));
        assert!(!check(r#"CardCode in ["V20000"]"#, &r));
        assert!(check(r#"CardCode not in ["V20000", "V30000"]"#, &r));
        assert!(!check(r#"CardCode   not   in ["V10000"]"#, &r));
        assert!(check("DocNum in [1, 1042]", &r));
        assert!(check("VatSum in [2375.5]", &r));
    }

    #[test]
    fn missing_or_null_field_is_false() {
        let r = po();
        for expr in [
            "Missing >= 1",
            "Missing == 'x'",
            "Missing != 'x'",
            "Missing in ['x']",
            "Missing not in ['x']",
            "Missing contains 'x'",
            "Reference2 != 'x'",
            "Reference2 not in ['x']",
        ] {
            assert!(!check(expr, &r), "{expr}");
        }
        assert!(!check("DocTotal > 1", &json!([1, 2])));
    }

    fn parse_err(expr: &str) -> FilterError {
        match Filter::parse(expr) {
            Ok(f) => panic!("`{expr}` parsed: {f:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parse_errors_quote_expression_and_position() {
        let e = parse_err("DocTotal >= ");
        assert_eq!(e.position, 13);
        assert_eq!(
            e.to_string(),
            "filter `DocTotal >= `: expected a number or a quoted string at position 13"
        );

        let e = parse_err("DocTotal => 5");
        assert_eq!(e.position, 10);
        assert!(e.message.contains("=="), "{e}");

        let e = parse_err("DocTotal ~ 5");
        assert_eq!(e.position, 10);
        assert!(e.message.starts_with("expected an operator"), "{e}");

        let e = parse_err("DocCurrency == EUR");
        assert_eq!(e.position, 16);
        assert!(e.message.contains("quoted"), "{e}");

        let e = parse_err("CardCode in [\"V1\", \"V2");
        assert_eq!(e.position, 20);
        assert!(e.message.contains("unterminated string"), "{e}");

        let e = parse_err("CardCode in \"V1\"");
        assert_eq!(e.position, 13);

        let e = parse_err("CardCode not [\"V1\"]");
        assert_eq!(e.position, 14);

        let e = parse_err("CardCode in [\"V1\" \"V2\"]");
        assert_eq!(e.position, 19);

        let e = parse_err("CardCode in [");
        assert_eq!(e.position, 13);

        let e = parse_err("CardCode in []");
        assert_eq!(e.message, "empty list");

        let e = parse_err("DocTotal >= 1.2.3");
        assert_eq!(e.position, 13);
        assert!(e.message.contains("1.2.3"), "{e}");

        let e = parse_err("DocTotal >= 10 and");
        assert_eq!(e.position, 16);

        let e = parse_err("DocTotal >= [1]");
        assert!(e.message.contains("list"), "{e}");

        let e = parse_err("Comments contains 5");
        assert_eq!(e.position, 19);

        let e = parse_err("");
        assert_eq!(e.position, 1);
        assert_eq!(e.message, "expected a field name");

        let e = parse_err("1DocTotal > 1");
        assert_eq!(e.position, 1);

        // Positions count characters, not bytes.
        let e = parse_err("Comments == 'ü' x");
        assert_eq!(e.position, 17);

        let e = parse_err("Comments == 'a\\q'");
        assert_eq!(e.position, 15);
    }

    #[test]
    fn accessors() {
        let f = Filter::parse("  DocTotal>=1 ").expect("parses");
        assert_eq!(f.field(), "DocTotal");
        assert_eq!(f.expression(), "  DocTotal>=1 ");
        assert!(Filter::parse("Index > 1").is_ok());
        assert!(Filter::parse("inside in [1]").is_ok());
        assert!(Filter::parse("notes not in [1]").is_ok());
    }
}
