//! Vendor-neutral formatting for people: numbers held in text, money, dates, and their
//! spoken forms for voice scripts. What a source's fields *mean* (which field is the total,
//! which enum value reads "Open") belongs to its [`Presenter`](crate::routes::Presenter).

use serde_json::Value as Json;

/// Parses a JSON-style decimal number held in a string (`"12500.0"`, `"-3"`, `"1e3"`),
/// allowing surrounding whitespace. `"NaN"`, `"inf"`, `"0x10"`, `""` and `"1."` are not
/// numbers.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let b = t.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Numeric value of a JSON field: a number, or a string holding a number
/// ([`parse_number`]); `None` otherwise.
pub fn json_number(value: &Json) -> Option<f64> {
    match value {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => parse_number(s),
        _ => None,
    }
}

/// Formats an amount with thousands separators and 2 decimals, followed by the currency
/// code when given: `(12500.0, Some("EUR"))` -> `"12,500.00 EUR"`, `(-1234.5, None)` ->
/// `"-1,234.50"`. Rounds half away from zero at the cent as `format!("{:.2}")` does.
pub fn format_money(amount: f64, currency: Option<&str>) -> String {
    let Some((negative, int, cents)) = split_cents(amount) else {
        return amount.to_string();
    };
    let mut out = String::with_capacity(int.len() + int.len() / 3 + 8);
    if negative {
        out.push('-');
    }
    push_grouped(&mut out, &int);
    out.push('.');
    out.push_str(&format!("{cents:02}"));
    if let Some(code) = currency.map(str::trim).filter(|c| !c.is_empty()) {
        out.push(' ');
        out.push_str(code);
    }
    out
}

/// An amount read aloud (for voice scripts): whole units with thousands separators, the
/// currency's spoken name, and the cents only when there are any.
///
/// `(12500.0, Some("EUR"))` -> `"12,500 euros"`, `(1.0, Some("USD"))` -> `"1 dollar"`,
/// `(980.5, Some("GBP"))` -> `"980 pounds and 50 pence"`, `(-3.0, None)` -> `"minus 3"`,
/// `(7.25, Some("XYZ"))` -> `"7.25 XYZ"` (unknown codes are spelled out as written, with the
/// decimals). Known codes: EUR, USD, GBP, CHF, CAD, AUD, JPY. Rounds at the cent like
/// [`format_money`].
pub fn spoken_money(amount: f64, currency: Option<&str>) -> String {
    let Some((negative, int, cents)) = split_cents(amount) else {
        return amount.to_string();
    };
    let mut out = String::with_capacity(int.len() + 32);
    if negative {
        out.push_str("minus ");
    }
    push_grouped(&mut out, &int);
    let code = currency.map(str::trim).filter(|c| !c.is_empty());
    let names = code.and_then(currency_names);
    match (code, names) {
        (None, _) => {
            if cents != 0 {
                out.push_str(&format!(".{cents:02}"));
            }
        }
        (Some(code), None) => {
            if cents != 0 {
                out.push_str(&format!(".{cents:02}"));
            }
            out.push(' ');
            out.push_str(code);
        }
        (Some(_), Some(n)) => {
            out.push(' ');
            out.push_str(if int == "1" { n.unit } else { n.units });
            if cents != 0 {
                if let Some((cent, cents_name)) = n.minor {
                    out.push_str(&format!(
                        " and {cents} {}",
                        if cents == 1 { cent } else { cents_name }
                    ));
                }
            }
        }
    }
    out
}

/// Spoken names of a currency: unit singular/plural, minor unit singular/plural.
struct CurrencyNames {
    unit: &'static str,
    units: &'static str,
    minor: Option<(&'static str, &'static str)>,
}

fn currency_names(code: &str) -> Option<CurrencyNames> {
    let cents = Some(("cent", "cents"));
    let (unit, units, minor) = match code {
        "EUR" => ("euro", "euros", cents),
        "USD" => ("dollar", "dollars", cents),
        "CAD" => ("Canadian dollar", "Canadian dollars", cents),
        "AUD" => ("Australian dollar", "Australian dollars", cents),
        "GBP" => ("pound", "pounds", Some(("penny", "pence"))),
        "CHF" => ("Swiss franc", "Swiss francs", Some(("centime", "centimes"))),
        "JPY" => ("yen", "yen", None),
        _ => return None,
    };
    Some(CurrencyNames { unit, units, minor })
}

/// Sign, whole-unit digits and cents of an amount rounded at the cent (`-0.001` is not
/// negative); `None` for NaN and infinities.
fn split_cents(amount: f64) -> Option<(bool, String, u64)> {
    if !amount.is_finite() {
        return None;
    }
    let fixed = format!("{:.2}", amount.abs());
    let (int, frac) = fixed.split_once('.').unwrap_or((fixed.as_str(), "00"));
    let cents = frac.parse::<u64>().unwrap_or(0);
    let negative = amount < 0.0 && (cents != 0 || int.bytes().any(|c| c != b'0'));
    Some((negative, int.to_owned(), cents))
}

/// Appends ASCII digits with a `,` every three from the right.
fn push_grouped(out: &mut String, digits: &str) {
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
}

/// The date part (`YYYY-MM-DD`) of a Service Layer date: v2 `Edm.DateTimeOffset`
/// (`"2026-12-01T00:00:00Z"`), v1 `Edm.DateTime` (`"2026-12-01T00:00:00"`) or a plain date.
/// `None` when the text does not start with a valid calendar date.
pub fn date_part(text: &str) -> Option<&str> {
    let t = text.trim();
    let head = t.get(..10)?;
    let b = head.as_bytes();
    let shape = b.iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        _ => c.is_ascii_digit(),
    });
    if !shape || !matches!(t.as_bytes().get(10), None | Some(b'T' | b't' | b' ')) {
        return None;
    }
    calendar_date(head).map(|_| head)
}

/// Parses `YYYY-MM-DD` (as returned by [`date_part`]) into a calendar date.
pub fn calendar_date(ymd: &str) -> Option<time::Date> {
    let year = ymd.get(0..4)?.parse::<i32>().ok()?;
    let month = ymd.get(5..7)?.parse::<u8>().ok()?;
    let day = ymd.get(8..10)?.parse::<u8>().ok()?;
    let month = time::Month::try_from(month).ok()?;
    time::Date::from_calendar_date(year, month, day).ok()
}

/// A calendar date as `YYYY-MM-DD` (`2026-12-01`).
pub fn iso_date(date: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A calendar date read aloud (for voice scripts): `2026-12-01` -> `"December 1, 2026"`.
pub fn spoken_date(date: time::Date) -> String {
    format!("{} {}, {}", date.month(), date.day(), date.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money() {
        assert_eq!(format_money(12500.0, Some("EUR")), "12,500.00 EUR");
        assert_eq!(format_money(1234567.891, None), "1,234,567.89");
        assert_eq!(format_money(-1234.5, Some("USD")), "-1,234.50 USD");
        assert_eq!(format_money(999.999, None), "1,000.00");
        assert_eq!(format_money(0.0, Some(" ")), "0.00");
        assert_eq!(format_money(-0.001, None), "0.00");
        assert_eq!(format_money(100.0, None), "100.00");
        assert_eq!(format_money(f64::NAN, None), "NaN");
    }

    #[test]
    fn spoken_amounts() {
        assert_eq!(spoken_money(12500.0, Some("EUR")), "12,500 euros");
        assert_eq!(spoken_money(1.0, Some("USD")), "1 dollar");
        assert_eq!(spoken_money(980.5, Some("GBP")), "980 pounds and 50 pence");
        assert_eq!(spoken_money(2.01, Some("EUR")), "2 euros and 1 cent");
        assert_eq!(spoken_money(1500.0, Some("JPY")), "1,500 yen");
        assert_eq!(spoken_money(-3.0, None), "minus 3");
        assert_eq!(spoken_money(1234.5, None), "1,234.50");
        assert_eq!(spoken_money(7.25, Some("XYZ")), "7.25 XYZ");
        assert_eq!(spoken_money(7.0, Some("XYZ")), "7 XYZ");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number(" 12500.0 "), Some(12500.0));
        assert_eq!(parse_number("-3"), Some(-3.0));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        for bad in ["NaN", "inf", "", "1.", ".5", "0x10", "1,000", "12 EUR"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
        assert_eq!(json_number(&serde_json::json!("4.5")), Some(4.5));
        assert_eq!(json_number(&serde_json::json!(true)), None);
    }

    #[test]
    fn dates() {
        assert_eq!(date_part("2026-12-01T00:00:00Z"), Some("2026-12-01"));
        assert_eq!(date_part("2026-12-01T00:00:00"), Some("2026-12-01"));
        assert_eq!(date_part("2026-12-01"), Some("2026-12-01"));
        assert_eq!(date_part("2026-02-30"), None);
        assert_eq!(date_part("2026-12-011"), None);
        assert_eq!(date_part("12/01/2026"), None);
        let date = calendar_date("2026-12-01").expect("valid");
        assert_eq!(iso_date(date), "2026-12-01");
        assert_eq!(spoken_date(date), "December 1, 2026");
    }
}
