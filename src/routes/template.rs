//! minijinja templates of the routes: built-in defaults, custom templates and mappings,
//! extra filters, and rendering into the payload of one [`PayloadShape`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use minijinja::value::{Object, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};
use ml_connector_actors::Event;
use serde_json::Value as Json;

use super::context::MessageContext;
use super::humanize::{
    calendar_date, date_part, format_money, parse_number, spoken_date, spoken_money,
};
use super::present::{GenericPresenter, Presenter};
use super::shape::{ChatFormat, ChatMessage, PayloadShape};
use super::spec::{FieldType, MapSpec, TemplateSpec};

/// Built-in summary (also the built-in SMS text): `Purchase order 1042 · Acme Supplies
/// (V10000) · 12,500.00 EUR · Open · due 2026-12-01`, or for `status_changed`
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

/// Built-in voice script: `Purchase order 1042 from Acme Supplies (V10000) was created,
/// for 12,500 euros, due December 1, 2026. Status: Open.`, or for `status_changed`
/// `Purchase order 1042 from Acme Supplies (V10000): status changed from Open to Closed.`
pub const DEFAULT_VOICE: &str = concat!(
    "{{ title }}{% if partner %} from {{ partner }}{% endif %}",
    "{% if event == 'status_changed' %}",
    "{% if changes %}: {% for c in changes %}{% if not loop.first %}, {% endif %}",
    "{{ c.label|lower }} changed from {{ c.old_text }} to {{ c.new_text }}{% endfor %}",
    "{% else %} changed status{% endif %}.",
    "{% else %} was created",
    "{% if total %}, for {{ amount|spoken_money(currency) }}{% endif %}",
    "{% if due %}, due {{ due|spoken_date }}{% endif %}.",
    "{% if status %} Status: {{ status }}.{% endif %}",
    "{% endif %}"
);

/// Auto-escape mode of card templates: values print as JSON string content.
const CARD_ESCAPE: &str = "json-string";

/// Context variable holding the event's [`Presenter`] (read by the `label` filter).
const PRESENTER_VAR: &str = "__presenter";

/// A template rendering or conversion failure, located inside its route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FormError {
    /// Key path inside the route: `template.summary`, `template.card`, `map.Amount`.
    pub path: String,
    /// `"<form> template: <reason>"` or ``"map field `Amount`: <reason>"``.
    pub message: String,
}

impl FormError {
    fn template(form: &str, reason: impl std::fmt::Display) -> FormError {
        FormError {
            path: format!("template.{form}"),
            message: format!("{form} template: {reason}"),
        }
    }

    fn field(field: &str, reason: impl std::fmt::Display) -> FormError {
        FormError {
            path: format!("map.{}", key_segment(field)),
            message: format!("map field `{field}`: {reason}"),
        }
    }
}

/// A key path segment: bare when it is a TOML bare key, quoted otherwise.
fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// What one route renders: the compiled templates of its destination's shape only.
///
/// Two routes with equal forms (e.g. both on the built-in templates of the same shape)
/// share one rendering per event.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteForm {
    /// `Chat(Html)`: summary + HTML body.
    ChatHtml {
        /// Template name of the summary.
        summary: String,
        /// Template name of the HTML body.
        html: String,
    },
    /// `Chat(Card)`: summary + Adaptive Card.
    ChatCard {
        /// Template name of the summary.
        summary: String,
        /// Template name of the card.
        card: String,
    },
    /// `Text`: the SMS body.
    Text {
        /// Template name of the text.
        text: String,
    },
    /// `Voice`: the spoken script.
    Voice {
        /// Template name of the script.
        voice: String,
    },
    /// `Record`: the mapped fields, in name order.
    Record {
        /// One entry per output field.
        fields: Vec<MappedField>,
    },
}

/// One compiled field of a record mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedField {
    name: String,
    template: String,
    kind: FieldType,
    table: Option<BTreeMap<String, Json>>,
    default: Option<Json>,
}

/// The compiled templates of all routes in one minijinja [`Environment`].
///
/// Escaping: HTML templates auto-escape every printed value (`<script>` ->
/// `&lt;script&gt;`); card templates print values as JSON string content (so
/// `"text": "{{ doc.CardName }}"` is safe) and `{{ value|tojson }}` prints a JSON value;
/// summary, text, voice and mapping templates are not escaped. `none` and undefined values
/// print as an empty string; attribute access on a missing value yields undefined instead of
/// failing.
///
/// Extra filters:
/// - `money` — `{{ amount|money }}` -> `12,500.00`, `{{ amount|money(currency) }}` ->
///   `12,500.00 EUR`; accepts numbers and numeric strings; empty for a missing value; error
///   for anything else. `{{ total }}` is the document's own total, already formatted.
/// - `date` — `{{ doc.DocDueDate|date }}` -> `2026-12-01`; with a `time` format description
///   `{{ doc.DocDueDate|date("[day].[month].[year]") }}` -> `01.12.2026`; empty for a missing
///   value; error for text that is not a date.
/// - `spoken_money` — `{{ amount|spoken_money(currency) }}` -> `12,500 euros` (see
///   [`spoken_money`]); `spoken_date` — `{{ due|spoken_date }}` -> `December 1, 2026`.
/// - `label` — human label of an enum value by the event source's presenter:
///   `{{ doc.DocumentStatus|label }}` -> `Open`; booleans `Yes`/`No`.
/// - `tojson` — the value as JSON text (marked safe).
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    /// Top-level record fields the compiled templates read as `doc.FIELD` (`None`: a
    /// template uses `doc` as a whole, e.g. `doc|tojson` or `doc[name]`, so it gets every
    /// field). See [`Renderer::context_for`].
    doc_fields: Option<BTreeSet<String>>,
}

impl Renderer {
    /// An environment holding the built-in templates and the extra filters.
    ///
    /// Errors: only if a built-in template fails to compile (covered by tests).
    pub fn new() -> Result<Renderer, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|name| {
            if name.starts_with("map:") {
                AutoEscape::None
            } else if name.ends_with("#html") {
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
        env.add_filter("spoken_money", spoken_money_filter);
        env.add_filter("spoken_date", spoken_date_filter);
        env.add_filter("label", label_filter);
        env.add_filter("tojson", tojson_filter);
        for (form, source) in [
            ("summary", DEFAULT_SUMMARY),
            ("html", DEFAULT_HTML),
            ("card", DEFAULT_CARD),
            ("voice", DEFAULT_VOICE),
        ] {
            env.add_template(builtin_name(form), source)
                .map_err(|e| format!("built-in {form} template: {e}"))?;
        }
        Ok(Renderer {
            env,
            doc_fields: Some(BTreeSet::new()),
        })
    }

    /// Compiles what a route renders for a destination of `shape`: its custom templates
    /// (built-in ones fill the gaps) or its mapping. Forms the shape does not use are not
    /// compiled, except that a chat route compiles both `html` and `card` when given.
    ///
    /// `route` must be unique per renderer. Errors: [`FormError`] for a syntax error
    /// (`template.html`, `map.Amount`), or `map` (path `map`) when a record shape has no
    /// mapping. Which keys a shape accepts is checked by the route table.
    pub fn compile(
        &mut self,
        route: &str,
        shape: PayloadShape,
        spec: Option<&TemplateSpec>,
        map: Option<&BTreeMap<String, MapSpec>>,
    ) -> Result<RouteForm, FormError> {
        let spec = spec.cloned().unwrap_or_default();
        let mut added: Vec<String> = Vec::new();
        let mut compile =
            |form: &'static str, source: Option<String>, fallback: &'static str| match source {
                None => Ok(builtin_name(fallback).to_owned()),
                Some(source) => {
                    let name = format!("route:{route}#{form}");
                    self.env
                        .add_template_owned(name.clone(), source)
                        .map_err(|e| FormError::template(form, e))?;
                    added.push(name.clone());
                    Ok::<_, FormError>(name)
                }
            };
        let form = match shape {
            PayloadShape::Chat(format) => {
                let summary = compile("summary", spec.summary, "summary")?;
                let html = compile("html", spec.html, "html")?;
                let card = compile("card", spec.card, "card")?;
                match format {
                    ChatFormat::Html => RouteForm::ChatHtml { summary, html },
                    ChatFormat::Card => RouteForm::ChatCard { summary, card },
                }
            }
            PayloadShape::Text => RouteForm::Text {
                text: match spec.text {
                    Some(text) => compile("text", Some(text), "summary")?,
                    None => compile("summary", spec.summary, "summary")?,
                },
            },
            PayloadShape::Voice => RouteForm::Voice {
                voice: compile("voice", spec.voice, "voice")?,
            },
            PayloadShape::Record => {
                let map = map.ok_or_else(|| FormError {
                    path: "map".to_owned(),
                    message: "a record destination needs a `map` of its fields".to_owned(),
                })?;
                let mut fields = Vec::with_capacity(map.len());
                for (name, field) in map {
                    let template = format!("map:{route}:{name}");
                    self.env
                        .add_template_owned(template.clone(), field.value.clone())
                        .map_err(|e| FormError::field(name, e))?;
                    added.push(template.clone());
                    fields.push(MappedField {
                        name: name.clone(),
                        template,
                        kind: field.kind,
                        table: field.table.clone(),
                        default: field.default.clone(),
                    });
                }
                RouteForm::Record { fields }
            }
        };
        for name in &added {
            self.note_doc_fields(name);
        }
        Ok(form)
    }

    /// Adds the record fields template `name` reads to [`Renderer::doc_fields`] (minijinja's
    /// static analysis: `doc.DocEntry` and `doc.DocumentLines[0].ItemCode` read one field
    /// each; `doc` used whole, or a template that cannot be analysed, reads all of them).
    fn note_doc_fields(&mut self, name: &str) {
        let variables = match self.env.get_template(name) {
            Ok(template) => template.undeclared_variables(true),
            Err(_) => {
                self.doc_fields = None;
                return;
            }
        };
        let Some(keys) = &mut self.doc_fields else {
            return;
        };
        for variable in variables {
            if variable == "doc" {
                self.doc_fields = None;
                return;
            }
            if let Some(path) = variable.strip_prefix("doc.") {
                let field = path.split('.').next().unwrap_or(path);
                keys.insert(field.to_owned());
            }
        }
    }

    /// The top-level record fields [`Renderer::context_for`] puts in `doc`, sorted; `None`
    /// when a template reads `doc` as a whole (every field is put in).
    pub fn doc_fields(&self) -> Option<&BTreeSet<String>> {
        self.doc_fields.as_ref()
    }

    /// The template context of an event from source `source` (see [`MessageContext`]),
    /// to compute once per event and pass to [`Renderer::render`] for every matching route.
    pub fn context(event: &Event, source: &str, presenter: &Arc<dyn Presenter>) -> Value {
        Self::context_value(MessageContext::new(event, source, &**presenter), presenter)
    }

    /// [`Renderer::context`] with `doc` holding only the record fields this renderer's
    /// templates read ([`Renderer::doc_fields`]), which renders the same payloads: the
    /// record is not converted into template values field by field (a purchase order with
    /// its lines is about a hundred values) when the templates print a few of them, or none
    /// (the built-in templates only use the presenter's variables). The presenter still sees
    /// the whole record.
    pub fn context_for(
        &self,
        event: &Event,
        source: &str,
        presenter: &Arc<dyn Presenter>,
    ) -> Value {
        let Some(keys) = &self.doc_fields else {
            return Self::context(event, source, presenter);
        };
        let doc = Json::Object(
            keys.iter()
                .filter_map(|k| event.fields.get(k).map(|v| (k.clone(), v.clone())))
                .collect(),
        );
        let mut message = MessageContext::new(event, source, &**presenter);
        message.doc = &doc;
        Self::context_value(message, presenter)
    }

    fn context_value(message: MessageContext<'_>, presenter: &Arc<dyn Presenter>) -> Value {
        let context = Value::from_serialize(message);
        minijinja::context! {
            __presenter => Value::from_object(PresenterValue(Arc::clone(presenter))),
            ..context
        }
    }

    /// Renders a route's payload (JSON shapes: see [`PayloadShape`]).
    ///
    /// Errors: [`FormError`] on a rendering failure, when the card output is not JSON or
    /// not an object with `"type": "AdaptiveCard"`, or when a mapped value does not convert
    /// to its type.
    pub fn render(&self, form: &RouteForm, context: &Value) -> Result<Json, FormError> {
        let payload = match form {
            RouteForm::ChatHtml { summary, html } => to_json(ChatMessage {
                summary: self.render_text("summary", summary, context)?,
                html: Some(self.render_one("html", html, context)?),
                card: None,
            }),
            RouteForm::ChatCard { summary, card } => to_json(ChatMessage {
                summary: self.render_text("summary", summary, context)?,
                html: None,
                card: Some(self.render_card(card, context)?),
            }),
            RouteForm::Text { text } => {
                serde_json::json!({"text": self.render_text("text", text, context)?})
            }
            RouteForm::Voice { voice } => {
                serde_json::json!({"say": self.render_text("voice", voice, context)?})
            }
            RouteForm::Record { fields } => {
                let mut record = serde_json::Map::with_capacity(fields.len());
                for field in fields {
                    let text = self
                        .env
                        .get_template(&field.template)
                        .and_then(|t| t.render(context))
                        .map_err(|e| FormError::field(&field.name, e))?;
                    let value = field
                        .convert(&text)
                        .map_err(|reason| FormError::field(&field.name, reason))?;
                    record.insert(field.name.clone(), value);
                }
                serde_json::json!({ "record": record })
            }
        };
        Ok(payload)
    }

    fn render_card(&self, name: &str, context: &Value) -> Result<Json, FormError> {
        let text = self.render_one("card", name, context)?;
        let card: Json = serde_json::from_str(&text)
            .map_err(|e| FormError::template("card", format!("output is not valid JSON: {e}")))?;
        if card.get("type").and_then(Json::as_str) != Some("AdaptiveCard") {
            return Err(FormError::template(
                "card",
                "output is not an object with \"type\": \"AdaptiveCard\"",
            ));
        }
        Ok(card)
    }

    /// A plain-text form, trimmed.
    fn render_text(&self, form: &str, name: &str, context: &Value) -> Result<String, FormError> {
        let text = self.render_one(form, name, context)?;
        Ok(match text.trim() {
            trimmed if trimmed.len() == text.len() => text,
            trimmed => trimmed.to_owned(),
        })
    }

    fn render_one(&self, form: &str, name: &str, context: &Value) -> Result<String, FormError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|e| FormError::template(form, e))
    }
}

impl MappedField {
    /// Converts the rendered text by the field's [`FieldType`] (rules there).
    fn convert(&self, text: &str) -> Result<Json, String> {
        let trimmed = text.trim();
        match self.kind {
            FieldType::String => Ok(Json::String(text.to_owned())),
            FieldType::Number if trimmed.is_empty() => Ok(Json::Null),
            FieldType::Number => {
                let number =
                    parse_number(trimmed).ok_or_else(|| format!("`{trimmed}` is not a number"))?;
                let integral = !trimmed.contains(['.', 'e', 'E']);
                Ok(match trimmed.parse::<i64>() {
                    Ok(i) if integral => Json::from(i),
                    _ => serde_json::Number::from_f64(number).map_or(Json::Null, Json::Number),
                })
            }
            FieldType::Date if trimmed.is_empty() => Ok(Json::Null),
            FieldType::Date => date_part(trimmed)
                .map(|d| Json::String(d.to_owned()))
                .ok_or_else(|| format!("`{trimmed}` is not a date like 2026-12-01")),
            FieldType::Lookup => self
                .table
                .as_ref()
                .and_then(|t| t.get(trimmed))
                .or(self.default.as_ref())
                .cloned()
                .ok_or_else(|| {
                    format!("value `{trimmed}` is not in the lookup table and there is no default")
                }),
        }
    }
}

/// Serialises a payload struct (cannot fail: string keys, finite values only).
fn to_json(message: ChatMessage) -> Json {
    serde_json::to_value(message).unwrap_or(Json::Null)
}

/// Environment name of a built-in template.
fn builtin_name(form: &str) -> &'static str {
    match form {
        "html" => "builtin#html",
        "card" => "builtin#card",
        "voice" => "builtin#voice",
        _ => "builtin#summary",
    }
}

/// The event's presenter inside a template context.
#[derive(Debug)]
struct PresenterValue(Arc<dyn Presenter>);

impl Object for PresenterValue {}

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

/// Number argument of a filter: `None` for a missing value, an error naming the filter for
/// anything that is not a number or a numeric string.
fn number_arg(filter: &str, value: &Value) -> Result<Option<f64>, Error> {
    if value.is_none() || value.is_undefined() {
        return Ok(None);
    }
    value_number(value).map(Some).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{filter}: expected a number, got `{value}`"),
        )
    })
}

/// Date argument of a filter as `YYYY-MM-DD`: `None` for a missing value, an error naming
/// the filter for text that does not start with a calendar date.
fn date_arg(filter: &str, value: &Value) -> Result<Option<String>, Error> {
    if value.is_none() || value.is_undefined() {
        return Ok(None);
    }
    date_part(value.as_str().unwrap_or_default())
        .map(|d| Some(d.to_owned()))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("{filter}: expected a date like 2026-12-01, got `{value}`"),
            )
        })
}

/// `money` filter: amount with thousands separators, 2 decimals and optional currency.
fn money_filter(value: Value, currency: Option<Value>) -> Result<String, Error> {
    let currency = currency.as_ref().and_then(Value::as_str);
    Ok(number_arg("money", &value)?
        .map(|amount| format_money(amount, currency))
        .unwrap_or_default())
}

/// `spoken_money` filter: the amount read aloud ([`spoken_money`]).
fn spoken_money_filter(value: Value, currency: Option<Value>) -> Result<String, Error> {
    let currency = currency.as_ref().and_then(Value::as_str);
    Ok(number_arg("spoken_money", &value)?
        .map(|amount| spoken_money(amount, currency))
        .unwrap_or_default())
}

/// `date` filter: `YYYY-MM-DD` of a date, or formatted with a `time` format description.
fn date_filter(value: Value, format: Option<String>) -> Result<String, Error> {
    let Some(ymd) = date_arg("date", &value)? else {
        return Ok(String::new());
    };
    let Some(format) = format else {
        return Ok(ymd);
    };
    let date = calendar_date(&ymd).ok_or_else(|| {
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

/// `spoken_date` filter: `2026-12-01` -> `December 1, 2026`.
fn spoken_date_filter(value: Value) -> Result<String, Error> {
    Ok(date_arg("spoken_date", &value)?
        .and_then(|ymd| calendar_date(&ymd))
        .map(spoken_date)
        .unwrap_or_default())
}

/// `label` filter: human label of an enum value by the event's presenter (the generic
/// presenter when the context has none, e.g. in a unit test).
fn label_filter(state: &State, value: Value) -> String {
    if value.is_none() || value.is_undefined() {
        return String::new();
    }
    match value.kind() {
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            let presenter = state.lookup(PRESENTER_VAR);
            let presenter: &dyn Presenter = presenter
                .as_ref()
                .and_then(|p| p.downcast_object_ref::<PresenterValue>())
                .map_or(&GenericPresenter, |p| &*p.0);
            presenter
                .label(text)
                .map_or_else(|| text.to_owned(), Into::into)
        }
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
    use crate::connectors::sap_b1::present::SapPresenter;
    use crate::routes::event::make_event;
    use ml_connector_actors::EventKind;
    use serde_json::json;

    /// Purchase order 1042 of source `acme` (DocEntry 77), open when created, closed after a
    /// status change.
    fn po_event(kind: EventKind) -> Event<'static> {
        let (changes, status) = match kind {
            EventKind::Created => (vec![], "bost_Open"),
            EventKind::StatusChanged => (
                vec![(
                    "DocumentStatus".to_owned(),
                    json!("bost_Open"),
                    json!("bost_Close"),
                )],
                "bost_Close",
            ),
        };
        let fields = json!({
            "DocEntry": 77, "DocNum": 1042, "CardCode": "V10000",
            "CardName": "Acme Supplies", "DocTotal": 12500.0, "DocCurrency": "EUR",
            "DocDueDate": "2026-12-01T00:00:00Z", "DocumentStatus": status,
            "Cancelled": "tNO", "Comments": null,
        });
        make_event("acme", "PurchaseOrders", "77", kind, changes, fields)
    }

    fn context(event: &Event) -> Value {
        let sap: Arc<dyn Presenter> = Arc::new(SapPresenter);
        Renderer::context(event, "acme", &sap)
    }

    /// Renders `event` for `shape` with the given templates/map (route name `r`).
    fn render(
        shape: PayloadShape,
        spec: Option<&TemplateSpec>,
        map: Option<&BTreeMap<String, MapSpec>>,
        event: &Event,
    ) -> Result<Json, FormError> {
        let mut renderer = Renderer::new().expect("built-ins compile");
        let form = renderer.compile("r", shape, spec, map)?;
        renderer.render(&form, &context(event))
    }

    fn chat(format: ChatFormat, event: &Event) -> Json {
        render(PayloadShape::Chat(format), None, None, event).expect("renders")
    }

    const SUMMARY: &str =
        "Purchase order 1042 · Acme Supplies (V10000) · 12,500.00 EUR · Open · due 2026-12-01";

    #[test]
    fn chat_html_payload_is_summary_and_html_only() {
        assert_eq!(
            chat(ChatFormat::Html, &po_event(EventKind::Created)),
            json!({
                "summary": SUMMARY,
                "html": "<h3>Purchase order 1042 created</h3><table>\
                    <tr><th>Document</th><td>Purchase order 1042</td></tr>\
                    <tr><th>Partner</th><td>Acme Supplies (V10000)</td></tr>\
                    <tr><th>Total</th><td>12,500.00 EUR</td></tr>\
                    <tr><th>Status</th><td>Open</td></tr>\
                    <tr><th>Due</th><td>2026-12-01</td></tr></table>",
            })
        );
    }

    #[test]
    fn chat_card_payload_is_summary_and_card_only() {
        let payload = chat(ChatFormat::Card, &po_event(EventKind::Created));
        assert_eq!(
            payload,
            json!({
                "summary": SUMMARY,
                "card": {
                    "type": "AdaptiveCard",
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": "Purchase order 1042 created",
                         "weight": "Bolder", "size": "Medium", "wrap": true},
                        {"type": "FactSet", "facts": [
                            {"title": "Document", "value": "Purchase order 1042"},
                            {"title": "Partner", "value": "Acme Supplies (V10000)"},
                            {"title": "Total", "value": "12,500.00 EUR"},
                            {"title": "Status", "value": "Open"},
                            {"title": "Due", "value": "2026-12-01"},
                        ]},
                    ],
                },
            })
        );
        assert!(payload.get("html").is_none());
    }

    #[test]
    fn text_and_voice_payloads() {
        let created = po_event(EventKind::Created);
        let changed = po_event(EventKind::StatusChanged);
        let text = |event| render(PayloadShape::Text, None, None, event).expect("text");
        let voice = |event| render(PayloadShape::Voice, None, None, event).expect("voice");
        assert_eq!(text(&created), json!({"text": SUMMARY}));
        assert_eq!(
            text(&changed),
            json!({"text": "Purchase order 1042 · Acme Supplies (V10000): Open → Closed"})
        );
        assert_eq!(
            voice(&created),
            json!({"say": "Purchase order 1042 from Acme Supplies (V10000) was created, \
                for 12,500 euros, due December 1, 2026. Status: Open."})
        );
        assert_eq!(
            voice(&changed),
            json!({"say": "Purchase order 1042 from Acme Supplies (V10000): \
                status changed from Open to Closed."})
        );

        // A custom summary is the text default; a custom text wins over it.
        let summary_only = TemplateSpec {
            summary: Some(" PO {{ number }} ".into()),
            ..TemplateSpec::default()
        };
        assert_eq!(
            render(PayloadShape::Text, Some(&summary_only), None, &created).expect("text"),
            json!({"text": "PO 1042"})
        );
        let both = TemplateSpec {
            text: Some("{{ title }}: {{ amount|money(currency) }}".into()),
            ..summary_only
        };
        assert_eq!(
            render(PayloadShape::Text, Some(&both), None, &created).expect("text"),
            json!({"text": "Purchase order 1042: 12,500.00 EUR"})
        );
    }

    fn map(toml_text: &str) -> BTreeMap<String, MapSpec> {
        toml::from_str(toml_text).expect("map parses")
    }

    #[test]
    fn record_mapping_gives_typed_json() {
        let fields = map(r#"
            Name = "{{ partner }}"
            Amount = { value = "{{ doc.DocTotal }}", type = "number" }
            Lines = { value = "{{ doc.DocNum }}", type = "number" }
            CloseDate = { value = "{{ doc.DocDueDate }}", type = "date" }
            Missing = { value = "{{ doc.U_Nothing }}", type = "date" }
            Stage = { value = "{{ doc.DocumentStatus }}", type = "lookup", table = { bost_Open = "Prospecting", bost_Close = "Closed Won" }, default = "Prospecting" }
            Open = { value = "{{ doc.DocumentStatus }}", type = "lookup", table = { bost_Open = true }, default = false }
            Note = "{{ doc.Comments }}"
        "#);
        let record = |event: &Event| render(PayloadShape::Record, None, Some(&fields), event);
        assert_eq!(
            record(&po_event(EventKind::Created)).expect("record"),
            json!({"record": {
                "Amount": 12500.0,
                "CloseDate": "2026-12-01",
                "Lines": 1042,
                "Missing": null,
                "Name": "Acme Supplies (V10000)",
                "Note": "",
                "Open": true,
                "Stage": "Prospecting",
            }})
        );
        let closed = record(&po_event(EventKind::StatusChanged)).expect("record");
        assert_eq!(closed["record"]["Stage"], "Closed Won");
        assert_eq!(closed["record"]["Open"], false);
        let mut paid = po_event(EventKind::Created);
        paid.fields.to_mut()["DocumentStatus"] = json!("bost_Paid");
        assert_eq!(
            record(&paid).expect("default")["record"]["Stage"],
            "Prospecting"
        );
    }

    #[test]
    fn record_conversion_errors_name_the_field_and_value() {
        let event = po_event(EventKind::Created);
        for (toml_text, path, message) in [
            (
                r#"Stage = { value = "{{ doc.DocumentStatus }}", type = "lookup", table = { bost_Close = "Won" } }"#,
                "map.Stage",
                "map field `Stage`: value `bost_Open` is not in the lookup table and there is no default",
            ),
            (
                r#"Amount = { value = "{{ doc.CardName }}", type = "number" }"#,
                "map.Amount",
                "map field `Amount`: `Acme Supplies` is not a number",
            ),
            (
                r#""Close Date" = { value = "{{ doc.CardCode }}", type = "date" }"#,
                "map.\"Close Date\"",
                "map field `Close Date`: `V10000` is not a date like 2026-12-01",
            ),
        ] {
            let err = render(PayloadShape::Record, None, Some(&map(toml_text)), &event)
                .expect_err(toml_text);
            assert_eq!(
                err,
                FormError {
                    path: path.into(),
                    message: message.into()
                }
            );
        }
        let err = render(PayloadShape::Record, None, None, &event).expect_err("no map");
        assert_eq!(err.path, "map");
        let err = render(
            PayloadShape::Record,
            None,
            Some(&map(r#"X = "{{ nope ""#)),
            &event,
        )
        .expect_err("syntax");
        assert_eq!(err.path, "map.X");
        assert!(
            err.message.starts_with("map field `X`: syntax error"),
            "{err}"
        );
    }

    #[test]
    fn status_changed_chat() {
        let msg = chat(ChatFormat::Card, &po_event(EventKind::StatusChanged));
        assert_eq!(
            msg["summary"],
            "Purchase order 1042 · Acme Supplies (V10000): Open → Closed"
        );
        assert_eq!(
            msg["card"]["body"][0]["text"],
            "Purchase order 1042 status changed"
        );
        assert_eq!(
            msg["card"]["body"][1]["facts"][5],
            json!({"title": "Status changed", "value": "Open → Closed"})
        );
        let html = chat(ChatFormat::Html, &po_event(EventKind::StatusChanged));
        assert!(html["html"]
            .as_str()
            .is_some_and(|h| h.contains("<tr><th>Status changed</th><td>Open → Closed</td></tr>")));
    }

    #[test]
    fn payment_minimal_and_unpresented_records() {
        let mut event = po_event(EventKind::Created);
        event.entity = "IncomingPayments".into();
        event.fields =
            std::borrow::Cow::Owned(json!({"DocEntry": 5, "DocNum": 12, "CardCode": "C20000",
            "CashSum": 100, "TransferSum": "1150.5", "DocCurrency": "USD",
            "DocDate": "2026-01-02T00:00:00Z", "Cancelled": "tNO"}));
        assert_eq!(
            chat(ChatFormat::Html, &event)["summary"],
            "Incoming payment 12 · C20000 · 1,250.50 USD · due 2026-01-02"
        );

        event.entity = "Whatever".into();
        event.fields = std::borrow::Cow::Owned(json!({}));
        let msg = chat(ChatFormat::Card, &event);
        assert_eq!(msg["summary"], "Whatever 77");
        assert_eq!(
            msg["card"]["body"][1]["facts"].as_array().map(Vec::len),
            Some(1)
        );

        // The generic presenter: entity as document type, key as number, labels as written.
        let generic: Arc<dyn Presenter> = Arc::new(GenericPresenter);
        let po = po_event(EventKind::StatusChanged);
        let mut renderer = Renderer::new().expect("built-ins");
        let spec = TemplateSpec {
            text: Some("{{ doc.DocumentStatus|label }}".into()),
            ..TemplateSpec::default()
        };
        let text = renderer
            .compile("t", PayloadShape::Text, Some(&spec), None)
            .expect("compiles");
        let summary = renderer
            .compile("s", PayloadShape::Text, None, None)
            .expect("compiles");
        let ctx = Renderer::context(&po, "crm", &generic);
        assert_eq!(
            renderer.render(&text, &ctx).expect("renders"),
            json!({"text": "bost_Close"})
        );
        assert_eq!(
            renderer.render(&summary, &ctx).expect("renders"),
            json!({"text": "PurchaseOrders 77: DocumentStatus: bost_Open → bost_Close"})
        );
    }

    #[test]
    fn html_and_card_escape_hostile_names() {
        let mut event = po_event(EventKind::Created);
        event.fields.to_mut()["CardName"] = json!("<script>alert(\"x\")</script> & Co\n\\");
        let html = chat(ChatFormat::Html, &event);
        let html = html["html"].as_str().expect("html");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("&amp; Co"), "{html}");
        let card = chat(ChatFormat::Card, &event);
        assert_eq!(
            card["card"]["body"][1]["facts"][1]["value"],
            "<script>alert(\"x\")</script> & Co\n\\ (V10000)"
        );
        assert!(card["summary"]
            .as_str()
            .is_some_and(|s| s.contains("<script>")));

        // Plain `{{ }}` inside a JSON string literal of a custom card is escaped too.
        let spec = TemplateSpec {
            card: Some(r#"{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"{{ doc.CardName }} {{ doc.DocTotal }} {{ doc.Missing }}"}]}"#.into()),
            ..TemplateSpec::default()
        };
        let msg = render(
            PayloadShape::Chat(ChatFormat::Card),
            Some(&spec),
            None,
            &event,
        )
        .expect("renders");
        assert_eq!(
            msg["card"]["body"][0]["text"],
            "<script>alert(\"x\")</script> & Co\n\\ 12500.0 "
        );
    }

    #[test]
    fn custom_templates_and_filters() {
        let spec = TemplateSpec {
            summary: Some(
                "\n{{ doc_type }} #{{ number }} for {{ doc.DocTotal|money(doc.DocCurrency) }} \
                 due {{ doc.DocDueDate|date('[day].[month].[year]') }} ({{ doc.DocumentStatus|label }}) \
                 [{{ doc.Comments }}] {{ source }}/{{ tenant }}/{{ entity }}/{{ event }} {{ doc.Nope.Deeper }}\n"
                    .into(),
            ),
            html: Some("<p>{{ doc.CardName }} {{ total }}</p>".into()),
            card: Some(
                r#"{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":{{ summary_text|tojson }}},{"type":"TextBlock","text":{{ doc.CardName|tojson }}}]}"#
                    .into(),
            ),
            ..TemplateSpec::default()
        };
        let event = po_event(EventKind::Created);
        let html = render(
            PayloadShape::Chat(ChatFormat::Html),
            Some(&spec),
            None,
            &event,
        )
        .expect("renders");
        assert_eq!(
            html,
            json!({
                "summary": "Purchase order #1042 for 12,500.00 EUR due 01.12.2026 (Open) [] acme/acme/PurchaseOrders/created",
                "html": "<p>Acme Supplies 12,500.00 EUR</p>",
            })
        );
        let card = render(
            PayloadShape::Chat(ChatFormat::Card),
            Some(&spec),
            None,
            &event,
        )
        .expect("renders");
        assert_eq!(card["card"]["body"][0]["text"], json!(null));
        assert_eq!(card["card"]["body"][1]["text"], "Acme Supplies");
        let voice = TemplateSpec {
            voice: Some(
                "{{ doc.DocTotal|spoken_money('USD') }} by {{ doc.DocDueDate|spoken_date }}".into(),
            ),
            ..TemplateSpec::default()
        };
        assert_eq!(
            render(PayloadShape::Voice, Some(&voice), None, &event).expect("voice"),
            json!({"say": "12,500 dollars by December 1, 2026"})
        );
    }

    #[test]
    fn render_errors() {
        let mut renderer = Renderer::new().expect("built-ins");
        let err = renderer
            .compile(
                "bad",
                PayloadShape::Chat(ChatFormat::Html),
                Some(&TemplateSpec {
                    html: Some("{% if %}".into()),
                    ..TemplateSpec::default()
                }),
                None,
            )
            .expect_err("syntax error");
        assert_eq!(err.path, "template.html");
        assert!(err.message.starts_with("html template:"), "{err}");

        let ctx = context(&po_event(EventKind::Created));
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
            let form = renderer
                .compile(
                    &format!("r{card}"),
                    PayloadShape::Chat(ChatFormat::Card),
                    Some(&spec),
                    None,
                )
                .expect("compiles");
            let err = renderer.render(&form, &ctx).expect_err(card);
            assert_eq!(err.path, "template.card");
            assert!(err.message.starts_with("card template:"), "{err}");
            assert!(err.message.contains(expected), "{card}: {err}");
        }
    }

    #[test]
    fn context_for_puts_only_the_fields_the_templates_read_in_doc() {
        let sap: Arc<dyn Presenter> = Arc::new(SapPresenter);
        let event = po_event(EventKind::Created);
        let mut renderer = Renderer::new().expect("built-ins");
        let builtin = renderer
            .compile("b", PayloadShape::Chat(ChatFormat::Card), None, None)
            .expect("compiles");
        assert_eq!(renderer.doc_fields(), Some(&BTreeSet::new()));
        let spec = TemplateSpec {
            summary: Some("{{ doc.DocNum }} {{ doc.CardName|upper }}".into()),
            html: Some(
                "<p>{{ doc.DocTotal|money(doc.DocCurrency) }} {{ doc.Nope.Deeper }}</p>".into(),
            ),
            ..TemplateSpec::default()
        };
        let custom = renderer
            .compile("c", PayloadShape::Chat(ChatFormat::Html), Some(&spec), None)
            .expect("compiles");
        let fields: BTreeSet<String> = ["CardName", "DocCurrency", "DocNum", "DocTotal", "Nope"]
            .map(String::from)
            .into();
        assert_eq!(renderer.doc_fields(), Some(&fields));

        let lean = renderer.context_for(&event, "acme", &sap);
        let full = Renderer::context(&event, "acme", &sap);
        assert_eq!(
            renderer.render(&custom, &lean).expect("renders"),
            json!({"summary": "1042 ACME SUPPLIES", "html": "<p>12,500.00 EUR </p>"})
        );
        for form in [&custom, &builtin] {
            assert_eq!(
                renderer.render(form, &lean).expect("renders"),
                renderer.render(form, &full).expect("renders")
            );
        }
    }

    #[test]
    fn a_template_reading_doc_as_a_whole_gets_every_field() {
        let sap: Arc<dyn Presenter> = Arc::new(SapPresenter);
        let event = po_event(EventKind::Created);
        for (i, text) in ["{{ doc|tojson }}", "{{ doc['DocNum'] }}{{ doc.CardCode }}"]
            .into_iter()
            .enumerate()
        {
            let mut renderer = Renderer::new().expect("built-ins");
            let spec = TemplateSpec {
                text: Some(text.into()),
                ..TemplateSpec::default()
            };
            let form = renderer
                .compile(&format!("t{i}"), PayloadShape::Text, Some(&spec), None)
                .expect("compiles");
            assert_eq!(renderer.doc_fields(), None, "{text}");
            assert_eq!(
                renderer
                    .render(&form, &renderer.context_for(&event, "acme", &sap))
                    .expect("renders"),
                renderer
                    .render(&form, &Renderer::context(&event, "acme", &sap))
                    .expect("renders"),
                "{text}"
            );
        }
    }
}
