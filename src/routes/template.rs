//! minijinja templates of the routes: built-in defaults, custom templates, extra filters
//! and rendering into a [`TeamsMessage`].

use std::fmt::Write as _;

use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};
use ml_connector_actors::Event;

use super::context::MessageContext;
use super::humanize::{calendar_date, date_part, format_money, parse_number, value_label};
use super::spec::TemplateSpec;
use crate::connectors::teams::message::TeamsMessage;

/// Built-in summary: `Purchase order 1042 · Acme Supplies (V10000) · 12,500.00 EUR · Open ·
/// due 2026-12-01`, or for `status_changed`
/// `Purchase order 1042 · Acme Supplies (V10000): Open → Closed`.
pub const DEFAULT_SUMMARY: &str = concat!(
    "{{ title }}{% if partner %} · {{ partner }}{% endif %}",
    "{% if event == 'status_changed' %}",
    "{% if changes %}: {% for c in changes %}{% if not loop.first %}, {% endif %}",
    "{{ c.text }}{% endfor %}{% endif %}",
    "{% else %}",
    "{% if total %} · {{ total }}{% endif %}{% if status %} · {{ status }}{% endif %}",
    "{% if due %} · due {{ due }}{% endif %}",
    "{% endif %}"
);

/// Built-in HTML body: a heading and a two-column table of the `facts`.
pub const DEFAULT_HTML: &str = concat!(
    "<h3>{{ headline }}</h3><table>",
    "{% for f in facts %}<tr><th>{{ f.title }}</th><td>{{ f.value }}</td></tr>{% endfor %}",
    "</table>"
);

/// Built-in Adaptive Card 1.4: a bold `TextBlock` with the headline and a `FactSet`.
pub const DEFAULT_CARD: &str = concat!(
    r#"{"type":"AdaptiveCard","$schema":"http://adaptivecards.io/schemas/adaptive-card.json","#,
    r#""version":"1.4","body":["#,
    r#"{"type":"TextBlock","text":{{ headline|tojson }},"weight":"Bolder","size":"Medium","wrap":true},"#,
    r#"{"type":"FactSet","facts":{{ facts|tojson }}}]}"#
);

/// Auto-escape mode of card templates: values print as JSON string content.
const CARD_ESCAPE: &str = "json-string";

/// Names of the three compiled templates a route renders with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTemplates {
    summary: String,
    html: String,
    card: String,
}

/// The compiled templates of all routes in one minijinja [`Environment`].
///
/// Escaping: HTML templates auto-escape every printed value (`<script>` ->
/// `&lt;script&gt;`); card templates print values as JSON string content (so
/// `"text": "{{ doc.CardName }}"` is safe) and `{{ value|tojson }}` prints a JSON value;
/// summaries are not escaped. `none` and undefined values print as an empty string;
/// attribute access on a missing value yields undefined instead of failing.
///
/// Extra filters:
/// - `money` — `{{ doc.DocTotal|money }}` -> `12,500.00`, `{{ doc.DocTotalFc|money(doc.DocCurrency) }}`
///   -> `12,500.00 EUR`; accepts numbers and numeric strings; empty for a missing value;
///   error for anything else. SAP's `DocTotal` is in the company's local currency and
///   `DocTotalFc` in `DocCurrency` (0 on a local-currency document): to print a document's
///   own total use `{{ total }}`, which picks the right one.
/// - `date` — `{{ doc.DocDueDate|date }}` -> `2026-12-01`; with a `time` format description
///   `{{ doc.DocDueDate|date("[day].[month].[year]") }}` -> `01.12.2026`; empty for a missing
///   value; error for text that is not a date.
/// - `label` — human label of an SAP enum value: `{{ doc.DocumentStatus|label }}` -> `Open`.
/// - `tojson` — the value as JSON text (marked safe).
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    /// An environment holding the built-in templates and the extra filters.
    ///
    /// Errors: only if a built-in template fails to compile (covered by tests).
    pub fn new() -> Result<Renderer, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|name| {
            if name.ends_with("#html") {
                AutoEscape::Html
            } else if name.ends_with("#card") {
                AutoEscape::Custom(CARD_ESCAPE)
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(format_value);
        env.add_filter("money", money_filter);
        env.add_filter("date", date_filter);
        env.add_filter("label", label_filter);
        env.add_filter("tojson", tojson_filter);
        for (form, source) in [
            ("summary", DEFAULT_SUMMARY),
            ("html", DEFAULT_HTML),
            ("card", DEFAULT_CARD),
        ] {
            env.add_template(builtin_name(form), source)
                .map_err(|e| format!("built-in {form} template: {e}"))?;
        }
        Ok(Renderer { env })
    }

    /// Compiles a route's custom templates (the built-in ones fill the gaps).
    ///
    /// `route` must be unique per renderer. Errors: `"<form> template: <syntax error>"`.
    pub fn add_route(
        &mut self,
        route: &str,
        spec: Option<&TemplateSpec>,
    ) -> Result<RouteTemplates, String> {
        let spec = spec.cloned().unwrap_or_default();
        let mut compile = |form: &'static str, source: Option<String>| match source {
            None => Ok(builtin_name(form).to_owned()),
            Some(source) => {
                let name = format!("route:{route}#{form}");
                self.env
                    .add_template_owned(name.clone(), source)
                    .map_err(|e| format!("{form} template: {e}"))?;
                Ok::<_, String>(name)
            }
        };
        Ok(RouteTemplates {
            summary: compile("summary", spec.summary)?,
            html: compile("html", spec.html)?,
            card: compile("card", spec.card)?,
        })
    }

    /// The template context of an event (see [`MessageContext`]), to compute once per
    /// event and pass to [`Renderer::render`] for every matching route.
    pub fn context(event: &Event) -> Value {
        Value::from_serialize(MessageContext::new(event))
    }

    /// Renders the three forms of a route's message.
    ///
    /// Errors: `"<form> template: <reason>"` on a rendering failure, or when the card
    /// output is not JSON or not an object with `"type": "AdaptiveCard"`.
    pub fn render(
        &self,
        templates: &RouteTemplates,
        context: &Value,
    ) -> Result<TeamsMessage, String> {
        let summary = self.render_one("summary", &templates.summary, context)?;
        let html = self.render_one("html", &templates.html, context)?;
        let card_text = self.render_one("card", &templates.card, context)?;
        let card: serde_json::Value = serde_json::from_str(&card_text)
            .map_err(|e| format!("card template: output is not valid JSON: {e}"))?;
        if card.get("type").and_then(serde_json::Value::as_str) != Some("AdaptiveCard") {
            return Err(
                "card template: output is not an object with \"type\": \"AdaptiveCard\"".to_owned(),
            );
        }
        Ok(TeamsMessage {
            summary: summary.trim().to_owned(),
            html,
            card,
        })
    }

    fn render_one(&self, form: &str, name: &str, context: &Value) -> Result<String, String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|e| format!("{form} template: {e}"))
    }
}

/// Environment name of a built-in template.
fn builtin_name(form: &str) -> &'static str {
    match form {
        "summary" => "builtin#summary",
        "html" => "builtin#html",
        _ => "builtin#card",
    }
}

/// Formatter: `none`/undefined print nothing; card templates escape values as JSON string
/// content; other modes use minijinja's default escaping.
fn format_value(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &Value,
) -> Result<(), Error> {
    if value.is_none() || value.is_undefined() {
        return Ok(());
    }
    match state.auto_escape() {
        AutoEscape::Custom(CARD_ESCAPE) => {
            if value.is_safe() {
                return out
                    .write_str(value.as_str().unwrap_or_default())
                    .map_err(Error::from);
            }
            let text = match value.as_str() {
                Some(s) => serde_json::to_string(s),
                None => serde_json::to_string(&value.to_string()),
            }
            .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
            let inner = text
                .get(1..text.len().saturating_sub(1))
                .unwrap_or_default();
            out.write_str(inner).map_err(Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Numeric value of a template value: a number or a string holding a number.
fn value_number(value: &Value) -> Option<f64> {
    match value.kind() {
        ValueKind::Number => f64::try_from(value.clone()).ok(),
        ValueKind::String => value.as_str().and_then(parse_number),
        _ => None,
    }
}

/// `money` filter: amount with thousands separators, 2 decimals and optional currency.
fn money_filter(value: Value, currency: Option<Value>) -> Result<String, Error> {
    if value.is_none() || value.is_undefined() {
        return Ok(String::new());
    }
    let amount = value_number(&value).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("money: expected a number, got `{value}`"),
        )
    })?;
    let currency = currency.as_ref().and_then(Value::as_str);
    Ok(format_money(amount, currency))
}

/// `date` filter: `YYYY-MM-DD` of a Service Layer date, or formatted with a `time` format
/// description.
fn date_filter(value: Value, format: Option<String>) -> Result<String, Error> {
    if value.is_none() || value.is_undefined() {
        return Ok(String::new());
    }
    let text = value.as_str().unwrap_or_default();
    let ymd = date_part(text).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("date: expected a date like 2026-12-01, got `{value}`"),
        )
    })?;
    let Some(format) = format else {
        return Ok(ymd.to_owned());
    };
    let date = calendar_date(ymd).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("date: invalid date `{ymd}`"),
        )
    })?;
    let description = time::format_description::parse_borrowed::<2>(&format).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("date: invalid format `{format}`: {e}"),
        )
    })?;
    date.format(&description).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("date: cannot format with `{format}`: {e}"),
        )
    })
}

/// `label` filter: human label of an SAP enum value.
fn label_filter(value: Value) -> String {
    if value.is_none() || value.is_undefined() {
        return String::new();
    }
    match value.kind() {
        ValueKind::String => value_label(value.as_str().unwrap_or_default()).to_owned(),
        ValueKind::Bool => if value.is_true() { "Yes" } else { "No" }.to_owned(),
        _ => {
            let mut s = String::new();
            let _ = write!(s, "{value}");
            s
        }
    }
}

/// `tojson` filter: the value serialised as JSON, marked safe.
fn tojson_filter(value: Value) -> Result<Value, Error> {
    serde_json::to_string(&value)
        .map(Value::from_safe_string)
        .map_err(|e| Error::new(ErrorKind::BadSerialization, format!("tojson: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ml_connector_actors::EventKind;
    use serde_json::json;

    fn po_event(kind: EventKind) -> Event {
        let changes = match kind {
            EventKind::Created => vec![],
            EventKind::StatusChanged => vec![(
                "DocumentStatus".to_owned(),
                json!("bost_Open"),
                json!("bost_Close"),
            )],
        };
        let status = match kind {
            EventKind::Created => "bost_Open",
            EventKind::StatusChanged => "bost_Close",
        };
        Event {
            tenant: "acme".into(),
            entity: "PurchaseOrders".into(),
            key: "77".into(),
            kind,
            changes,
            fields: json!({
                "DocEntry": 77, "DocNum": 1042, "CardCode": "V10000",
                "CardName": "Acme Supplies", "DocTotal": 12500.0, "DocCurrency": "EUR",
                "DocDueDate": "2026-12-01T00:00:00Z", "DocumentStatus": status,
                "Cancelled": "tNO", "Comments": null,
            }),
            event_key: "acme/PurchaseOrders/77/created".into(),
        }
    }

    fn render_default(event: &Event) -> TeamsMessage {
        let mut renderer = Renderer::new().expect("built-ins compile");
        let templates = renderer.add_route("r", None).expect("defaults");
        renderer
            .render(&templates, &Renderer::context(event))
            .expect("renders")
    }

    #[test]
    fn default_created() {
        let msg = render_default(&po_event(EventKind::Created));
        assert_eq!(
            msg.summary,
            "Purchase order 1042 · Acme Supplies (V10000) · 12,500.00 EUR · Open · due 2026-12-01"
        );
        assert_eq!(
            msg.html,
            "<h3>Purchase order 1042 created</h3><table>\
             <tr><th>Document</th><td>Purchase order 1042</td></tr>\
             <tr><th>Partner</th><td>Acme Supplies (V10000)</td></tr>\
             <tr><th>Total</th><td>12,500.00 EUR</td></tr>\
             <tr><th>Status</th><td>Open</td></tr>\
             <tr><th>Due</th><td>2026-12-01</td></tr></table>"
        );
        assert_eq!(msg.card["type"], "AdaptiveCard");
        assert_eq!(msg.card["version"], "1.4");
        assert_eq!(msg.card["body"][0]["type"], "TextBlock");
        assert_eq!(msg.card["body"][0]["text"], "Purchase order 1042 created");
        assert_eq!(msg.card["body"][1]["type"], "FactSet");
        assert_eq!(
            msg.card["body"][1]["facts"][2],
            json!({"title": "Total", "value": "12,500.00 EUR"})
        );
        assert_eq!(
            msg.card["body"][1]["facts"].as_array().map(Vec::len),
            Some(5)
        );
    }

    #[test]
    fn default_status_changed() {
        let msg = render_default(&po_event(EventKind::StatusChanged));
        assert_eq!(
            msg.summary,
            "Purchase order 1042 · Acme Supplies (V10000): Open → Closed"
        );
        assert!(
            msg.html
                .contains("<tr><th>Status changed</th><td>Open → Closed</td></tr>"),
            "{}",
            msg.html
        );
        assert_eq!(
            msg.card["body"][0]["text"],
            "Purchase order 1042 status changed"
        );
        assert_eq!(
            msg.card["body"][1]["facts"][5],
            json!({"title": "Status changed", "value": "Open → Closed"})
        );
    }

    #[test]
    fn payment_and_minimal_records() {
        let mut event = po_event(EventKind::Created);
        event.entity = "IncomingPayments".into();
        event.fields = json!({"DocEntry": 5, "DocNum": 12, "CardCode": "C20000",
            "CashSum": 100, "TransferSum": "1150.5", "DocCurrency": "USD",
            "DocDate": "2026-01-02T00:00:00Z", "Cancelled": "tNO"});
        let msg = render_default(&event);
        assert_eq!(
            msg.summary,
            "Incoming payment 12 · C20000 · 1,250.50 USD · due 2026-01-02"
        );

        event.entity = "Whatever".into();
        event.fields = json!({});
        let msg = render_default(&event);
        assert_eq!(msg.summary, "Whatever 77");
        assert_eq!(
            msg.card["body"][1]["facts"].as_array().map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn html_and_card_escape_hostile_names() {
        let mut event = po_event(EventKind::Created);
        event.fields["CardName"] = json!("<script>alert(\"x\")</script> & Co\n\\");
        let msg = render_default(&event);
        assert!(!msg.html.contains("<script>"), "{}", msg.html);
        assert!(msg.html.contains("&lt;script&gt;"), "{}", msg.html);
        assert!(msg.html.contains("&amp; Co"), "{}", msg.html);
        assert_eq!(
            msg.card["body"][1]["facts"][1]["value"],
            "<script>alert(\"x\")</script> & Co\n\\ (V10000)"
        );
        assert!(msg.summary.contains("<script>"));

        // Plain `{{ }}` inside a JSON string literal of a custom card is escaped too.
        let mut renderer = Renderer::new().expect("built-ins");
        let spec = TemplateSpec {
            card: Some(r#"{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"{{ doc.CardName }} {{ doc.DocTotal }} {{ doc.Missing }}"}]}"#.into()),
            ..TemplateSpec::default()
        };
        let t = renderer.add_route("r", Some(&spec)).expect("compiles");
        let msg = renderer
            .render(&t, &Renderer::context(&event))
            .expect("renders");
        assert_eq!(
            msg.card["body"][0]["text"],
            "<script>alert(\"x\")</script> & Co\n\\ 12500.0 "
        );
    }

    #[test]
    fn custom_templates_and_filters() {
        let mut renderer = Renderer::new().expect("built-ins");
        let spec = TemplateSpec {
            summary: Some(
                "\n{{ doc_type }} #{{ number }} for {{ doc.DocTotal|money(doc.DocCurrency) }} \
                 due {{ doc.DocDueDate|date('[day].[month].[year]') }} ({{ doc.DocumentStatus|label }}) \
                 [{{ doc.Comments }}] {{ tenant }}/{{ entity }}/{{ event }} {{ doc.Nope.Deeper }}\n"
                    .into(),
            ),
            html: Some("<p>{{ doc.CardName }} {{ total }}</p>".into()),
            card: Some(
                r#"{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":{{ summary_text|tojson }}},{"type":"TextBlock","text":{{ doc.CardName|tojson }}}]}"#
                    .into(),
            ),
        };
        let t = renderer.add_route("custom", Some(&spec)).expect("compiles");
        let msg = renderer
            .render(&t, &Renderer::context(&po_event(EventKind::Created)))
            .expect("renders");
        assert_eq!(
            msg.summary,
            "Purchase order #1042 for 12,500.00 EUR due 01.12.2026 (Open) [] acme/PurchaseOrders/created"
        );
        assert_eq!(msg.html, "<p>Acme Supplies 12,500.00 EUR</p>");
        assert_eq!(msg.card["body"][0]["text"], json!(null));
        assert_eq!(msg.card["body"][1]["text"], "Acme Supplies");
    }

    #[test]
    fn render_errors() {
        let mut renderer = Renderer::new().expect("built-ins");
        let err = renderer
            .add_route(
                "bad",
                Some(&TemplateSpec {
                    html: Some("{% if %}".into()),
                    ..TemplateSpec::default()
                }),
            )
            .expect_err("syntax error");
        assert!(err.starts_with("html template:"), "{err}");

        let ctx = Renderer::context(&po_event(EventKind::Created));
        for (card, expected) in [
            ("{\"type\": {{ doc.CardName }}}", "not valid JSON"),
            ("[1, 2]", "AdaptiveCard"),
            ("{{ doc.CardName|money }}", "money: expected a number"),
            ("{{ doc.CardName|date }}", "date: expected a date"),
            ("{{ doc.CardName|nosuchfilter }}", "nosuchfilter"),
        ] {
            let spec = TemplateSpec {
                card: Some(card.into()),
                ..TemplateSpec::default()
            };
            let t = renderer
                .add_route(&format!("r{card}"), Some(&spec))
                .expect("compiles");
            let err = renderer.render(&t, &ctx).expect_err(card);
            assert!(err.starts_with("card template:"), "{err}");
            assert!(err.contains(expected), "{card}: {err}");
        }
    }
}
