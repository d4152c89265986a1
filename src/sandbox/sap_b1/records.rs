//! Write-back collections of the simulated Service Layer: `Activities` (`SAPB1.Activity`,
//! key `ActivityCode`) and user-defined tables (`U_<TABLE>`, key `Code`), as strict as SAP:
//!
//! - `POST Activities` → `201` with the stored Activity (`ActivityCode` assigned from 1).
//!   A property outside the model → `400/-1000` "Property 'X' of 'Activity' is invalid"; a
//!   value of the wrong type or an unknown enum name → `400/-1000`; a `CardCode` no business
//!   partner has → `400/-5002` "Code undefined [OCLG.CardCode]" (SAP's generic validation code
//!   with the table of the field, as in the api notes' `[OCRD.CardCode]` example). Known
//!   partners: those added with [`SapSim::add_business_partner`] and every `CardCode` of a
//!   stored document.
//! - `POST U_<TABLE>` → `201` with the row. `Code` (≤ 50 characters) and `Name`
//!   (≤ 100) are required; `U_` fields must be declared with [`SapSim::define_user_table`];
//!   an existing `Code` → `400/-10` (the api notes' duplicate key). A table that was not
//!   defined → `404/-1` "Unrecognized resource path." like any unknown entity set. The table
//!   `U_MLC_AUDIT` exists from the start (fields in [`MLC_AUDIT_FIELDS`]).
//! - `GET Activities` / `GET U_<TABLE>` with the options of [`super::record_query`]; pages of
//!   the configured page size with `@odata.nextLink` (`$skip`); `GET Activities(7)`,
//!   `GET U_<TABLE>('code')` or `404/-2028`.
//! - Faults ([`RecordFault`], queued with [`SapSim::inject_record_fault`]): a 429 before
//!   storing, or the record stored and then a 5xx answer or an answer held back.
//!
//! Models from the Service Layer `$metadata` (`Activity`: `ActivityCode`, `CardCode`,
//! `Notes`, `Details`, `ActivityDate`, `ActivityTime`, `Activity` `cn_*`, `ActivityType`,
//! `DocType`/`DocEntry`/`DocNum` as strings, ...); source: `api-notes/sap-business-one.md`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::record_query::{FieldKind, RecordQuery};
use super::state::{Cookies, Reply, State};
use super::{SapSandboxConfig, SapSim};

/// The Activities entity set.
pub const ACTIVITIES: &str = "Activities";

/// `Activity` values (`BoActivities`).
const ACTIVITY_KINDS: &[&str] = &[
    "cn_Conversation",
    "cn_Meeting",
    "cn_Task",
    "cn_Note",
    "cn_Campaign",
    "cn_Other",
];
const PRIORITIES: &[&str] = &["pr_Low", "pr_Normal", "pr_High"];
const YES_NO: &[&str] = &["tYES", "tNO"];

/// Writable properties of an Activity (`ActivityCode` is assigned by SAP).
const ACTIVITY_PROPS: &[(&str, FieldKind)] = &[
    ("CardCode", FieldKind::Text),
    ("Notes", FieldKind::Text),
    ("Details", FieldKind::Text),
    ("ActivityDate", FieldKind::Date),
    ("ActivityTime", FieldKind::Time),
    ("StartTime", FieldKind::Time),
    ("EndTime", FieldKind::Time),
    ("Activity", FieldKind::Enum(ACTIVITY_KINDS)),
    ("ActivityType", FieldKind::Integer),
    ("Subject", FieldKind::Integer),
    ("DocType", FieldKind::Text),
    ("DocEntry", FieldKind::Text),
    ("DocNum", FieldKind::Text),
    ("Priority", FieldKind::Enum(PRIORITIES)),
    ("Closed", FieldKind::Enum(YES_NO)),
    ("HandledBy", FieldKind::Integer),
    ("ContactPersonCode", FieldKind::Integer),
];

/// Fields of the default user-defined table `U_MLC_AUDIT`.
pub const MLC_AUDIT_FIELDS: &[(&str, FieldKind)] = &[
    ("U_Status", FieldKind::Text),
    ("U_Destination", FieldKind::Text),
    ("U_RemoteId", FieldKind::Text),
    ("U_CardCode", FieldKind::Text),
    ("U_DocEntry", FieldKind::Integer),
    ("U_Detail", FieldKind::Text),
    ("U_Date", FieldKind::Date),
];

/// Longest `Code` / `Name` of a user-defined table row.
const MAX_CODE: usize = 50;
const MAX_NAME: usize = 100;

/// A fault of the write-back collections; each applies once, to the next `POST` to `entity`
/// that passed the session check, in queue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFault {
    /// `429` with `Retry-After: <seconds>`; nothing stored.
    Throttle { entity: String, retry_after_secs: u64 },
    /// The record is stored, then answered `status` with SAP's error body (a node failing
    /// after the commit).
    StatusAfterStore { entity: String, status: u16 },
    /// The record is stored, then the `201` is held back for `delay` (client timeout).
    HangAfterStore { entity: String, delay: Duration },
}

impl RecordFault {
    fn entity(&self) -> &str {
        match self {
            RecordFault::Throttle { entity, .. }
            | RecordFault::StatusAfterStore { entity, .. }
            | RecordFault::HangAfterStore { entity, .. } => entity,
        }
    }
}

/// One user-defined table.
#[derive(Debug, Clone, Default)]
pub struct UserTable {
    /// Declared `U_` fields.
    pub fields: BTreeMap<String, FieldKind>,
    /// Rows in arrival order (`Code` unique).
    pub rows: Vec<Map<String, Value>>,
}

impl UserTable {
    /// The row whose `Code` is `code`.
    pub fn row(&self, code: &str) -> Option<&Map<String, Value>> {
        self.rows
            .iter()
            .find(|r| r.get("Code").and_then(Value::as_str) == Some(code))
    }
}

/// The write-back collections.
#[derive(Debug)]
pub struct RecordStore {
    /// Activities by `ActivityCode`.
    pub activities: BTreeMap<i64, Map<String, Value>>,
    next_activity: i64,
    /// User-defined tables by entity set name (`U_MLC_AUDIT`).
    pub tables: BTreeMap<String, UserTable>,
    partners: BTreeSet<String>,
    faults: VecDeque<RecordFault>,
}

impl Default for RecordStore {
    fn default() -> Self {
        let mut store = RecordStore {
            activities: BTreeMap::new(),
            next_activity: 1,
            tables: BTreeMap::new(),
            partners: BTreeSet::new(),
            faults: VecDeque::new(),
        };
        store.define("U_MLC_AUDIT", MLC_AUDIT_FIELDS);
        store
    }
}

impl RecordStore {
    fn define(&mut self, entity: &str, fields: &[(&str, FieldKind)]) {
        self.tables.insert(
            entity.to_string(),
            UserTable {
                fields: fields.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
                rows: Vec::new(),
            },
        );
    }

    /// The type of `field` in `entity` (`ActivityCode` / `Code` / `Name` included), `None`
    /// when the property does not exist.
    fn kind_of(&self, entity: &str, field: &str) -> Option<FieldKind> {
        if entity == ACTIVITIES {
            if field == "ActivityCode" {
                return Some(FieldKind::Integer);
            }
            return ACTIVITY_PROPS
                .iter()
                .find(|(n, _)| *n == field)
                .map(|(_, k)| *k);
        }
        let table = self.tables.get(entity)?;
        match field {
            "Code" | "Name" => Some(FieldKind::Text),
            _ => table.fields.get(field).copied(),
        }
    }

    fn serves(&self, entity: &str) -> bool {
        entity == ACTIVITIES || self.tables.contains_key(entity)
    }
}

fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
    Reply::Error {
        status,
        code: code.into(),
        message: message.into(),
        details: true,
    }
}

/// Does `value` fit `kind`?
fn fits(kind: FieldKind, value: &Value) -> bool {
    match (kind, value) {
        (_, Value::Null) => true,
        (FieldKind::Text, Value::String(_)) => true,
        (FieldKind::Integer, Value::Number(n)) => n.is_i64(),
        (FieldKind::Date, Value::String(s)) => {
            let date = s.strip_suffix("T00:00:00Z").unwrap_or(s);
            time::Date::parse(date, time::macros::format_description!("[year]-[month]-[day]"))
                .is_ok()
        }
        (FieldKind::Time, Value::String(s)) => time::Time::parse(
            s,
            time::macros::format_description!("[hour]:[minute]:[second]"),
        )
        .is_ok(),
        (FieldKind::Enum(names), Value::String(s)) => names.contains(&s.as_str()),
        _ => false,
    }
}

fn edm(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text | FieldKind::Enum(_) => "Edm.String",
        FieldKind::Integer => "Edm.Int32",
        FieldKind::Date => "Edm.DateTime",
        FieldKind::Time => "Edm.Time",
    }
}

/// `Entity(7)` / `Entity('code')` → `("Entity", "7" | "'code'")`.
fn keyed(resource: &str) -> Option<(&str, &str)> {
    resource.strip_suffix(')')?.split_once('(')
}

/// What a `POST` does after it was stored (or not).
pub struct Posted {
    /// The answer.
    pub reply: Reply,
    /// Hold the answer back this long first.
    pub delay: Option<Duration>,
}

impl State {
    /// Is `resource` (`Activities`, `Activities(7)`, `U_MLC_AUDIT('x')`) a write-back
    /// collection?
    pub fn serves_record(&self, resource: &str) -> bool {
        let entity = keyed(resource).map_or(resource, |(e, _)| e);
        self.records.serves(entity)
    }

    fn partner_known(&self, code: &str) -> bool {
        self.records.partners.contains(code)
            || self.entities.values().any(|store| {
                store
                    .docs
                    .values()
                    .any(|d| d.value.get("CardCode").and_then(Value::as_str) == Some(code))
            })
    }

    /// The validation error of a create body for `entity`, if any.
    fn invalid(&self, entity: &str, body: &Map<String, Value>) -> Option<Reply> {
        let type_name = if entity == ACTIVITIES { "Activity" } else { entity };
        for (field, value) in body {
            let writable = !(entity == ACTIVITIES && field == "ActivityCode");
            let kind = self.records.kind_of(entity, field).filter(|_| writable);
            let Some(kind) = kind else {
                return Some(error(
                    400,
                    "-1000",
                    format!("Property '{field}' of '{type_name}' is invalid"),
                ));
            };
            if !fits(kind, value) {
                return Some(error(
                    400,
                    "-1000",
                    format!(
                        "Value of property '{field}' of '{type_name}' is invalid (expected {})",
                        edm(kind)
                    ),
                ));
            }
        }
        if entity == ACTIVITIES {
            if let Some(code) = body.get("CardCode").and_then(Value::as_str) {
                if !self.partner_known(code) {
                    return Some(error(400, "-5002", "Code undefined [OCLG.CardCode]"));
                }
            }
            return None;
        }
        for (field, max) in [("Code", MAX_CODE), ("Name", MAX_NAME)] {
            match body.get(field).and_then(Value::as_str) {
                Some(v) if !v.is_empty() && v.chars().count() <= max => {}
                _ => {
                    return Some(error(
                        400,
                        "-1000",
                        format!("Property '{field}' of '{entity}' is required (1 to {max} characters)"),
                    ))
                }
            }
        }
        None
    }

    /// `POST {entity}` of a write-back collection (see the module docs).
    pub fn post_record(
        &mut self,
        entity: &str,
        body: &[u8],
        cookies: &Cookies,
        config: &SapSandboxConfig,
        root: &str,
    ) -> Posted {
        let now = |reply| Posted { reply, delay: None };
        if let Err(reply) = self.authenticate(cookies, config) {
            return now(reply);
        }
        if !self.records.serves(entity) {
            return now(error(404, "-1", "Unrecognized resource path."));
        }
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return now(error(400, "-1000", "Invalid request body: expected a JSON object"));
        };
        let fault = self
            .records
            .faults
            .iter()
            .position(|f| f.entity() == entity)
            .and_then(|i| self.records.faults.remove(i));
        if let Some(RecordFault::Throttle { retry_after_secs, .. }) = fault {
            return now(Reply::Json {
                status: 429,
                body: json!({"error": {"code": "-1", "message": "Too Many Requests", "details": []}}),
                headers: vec![("Retry-After", retry_after_secs.to_string())],
            });
        }
        if let Some(reply) = self.invalid(entity, &body) {
            return now(reply);
        }
        let mut stored = body;
        let key_value = if entity == ACTIVITIES {
            let code = self.records.next_activity;
            self.records.next_activity += 1;
            stored.insert("ActivityCode".into(), json!(code));
            self.records.activities.insert(code, stored.clone());
            format!("{code}")
        } else {
            let code = stored.get("Code").and_then(Value::as_str).unwrap_or_default().to_string();
            let Some(table) = self.records.tables.get_mut(entity) else {
                return now(error(404, "-1", "Unrecognized resource path."));
            };
            if table.row(&code).is_some() {
                let name = entity.trim_start_matches("U_");
                return now(error(400, "-10", format!("This entry already exists in the following tables: '@{name}'")));
            }
            table.rows.push(stored.clone());
            format!("'{code}'")
        };
        let mut answer = stored;
        answer.insert(
            "@odata.context".into(),
            json!(format!("{root}$metadata#{entity}/$entity")),
        );
        let created = Reply::Json {
            status: 201,
            body: Value::Object(answer),
            headers: vec![("Location", format!("{root}{entity}({key_value})"))],
        };
        match fault {
            Some(RecordFault::StatusAfterStore { status, .. }) => now(error(
                status,
                "-1",
                "Internal error (-1) occurred",
            )),
            Some(RecordFault::HangAfterStore { delay, .. }) => Posted {
                reply: created,
                delay: Some(delay),
            },
            _ => now(created),
        }
    }

    /// `GET` of a write-back collection or one of its records.
    pub fn get_record(
        &mut self,
        resource: &str,
        query: &str,
        cookies: &Cookies,
        config: &SapSandboxConfig,
        root: &str,
    ) -> Reply {
        if let Err(reply) = self.authenticate(cookies, config) {
            return reply;
        }
        if let Some((entity, key)) = keyed(resource) {
            let found = if entity == ACTIVITIES {
                key.parse::<i64>()
                    .ok()
                    .and_then(|k| self.records.activities.get(&k))
            } else {
                key.strip_prefix('\'')
                    .and_then(|k| k.strip_suffix('\''))
                    .and_then(|k| self.records.tables.get(entity)?.row(k))
            };
            return match found {
                None => error(404, "-2028", "No matching records found (ODBC -2028)"),
                Some(record) => {
                    let mut body = record.clone();
                    body.insert(
                        "@odata.context".into(),
                        json!(format!("{root}$metadata#{entity}/$entity")),
                    );
                    Reply::Json {
                        status: 200,
                        body: Value::Object(body),
                        headers: Vec::new(),
                    }
                }
            };
        }
        let entity = resource;
        let records = &self.records;
        let opts = match RecordQuery::parse(query, &|f| records.kind_of(entity, f)) {
            Ok(o) => o,
            Err(e) => return error(400, "201", e.message()),
        };
        let all: Vec<&Map<String, Value>> = if entity == ACTIVITIES {
            records.activities.values().collect()
        } else {
            records
                .tables
                .get(entity)
                .map(|t| t.rows.iter().collect())
                .unwrap_or_default()
        };
        let matching: Vec<&Map<String, Value>> = all
            .into_iter()
            .filter(|r| opts.filter.as_ref().is_none_or(|f| f.matches(r)))
            .collect();
        let page_size = config.default_page_size.max(1);
        let limit = opts.top.map_or(page_size, |t| t.min(page_size));
        let page: Vec<Value> = matching
            .iter()
            .skip(opts.skip)
            .take(limit)
            .map(|r| match &opts.select {
                None => Value::Object((*r).clone()),
                Some(fields) => Value::Object(
                    fields
                        .iter()
                        .map(|f| (f.clone(), r.get(f).cloned().unwrap_or(Value::Null)))
                        .collect(),
                ),
            })
            .collect();
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            json!(format!("{root}$metadata#{entity}")),
        );
        let served = page.len();
        body.insert("value".into(), Value::Array(page));
        if served == page_size && opts.top.is_none_or(|t| t > served) {
            let mut next = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                if k != "$skip" && k != "$top" {
                    next.append_pair(&k, &v);
                }
            }
            if let Some(top) = opts.top {
                next.append_pair("$top", &(top - served).to_string());
            }
            next.append_pair("$skip", &(opts.skip + served).to_string());
            body.insert(
                "@odata.nextLink".into(),
                json!(format!("{entity}?{}", next.finish())),
            );
        }
        Reply::Json {
            status: 200,
            body: Value::Object(body),
            headers: Vec::new(),
        }
    }
}

impl SapSim {
    /// Make `card_code` a known business partner (Activities may name it).
    pub fn add_business_partner(&self, card_code: &str) {
        self.lock().records.partners.insert(card_code.to_string());
    }

    /// Define (or redefine, emptied) the user-defined table served as `entity`
    /// (`U_MLC_AUDIT`) with its `U_` fields.
    pub fn define_user_table(&self, entity: &str, fields: &[(&str, FieldKind)]) {
        self.lock().records.define(entity, fields);
    }

    /// Remove a user-defined table (its entity set answers `404/-1` afterwards).
    pub fn drop_user_table(&self, entity: &str) {
        self.lock().records.tables.remove(entity);
    }

    /// Every stored Activity in `ActivityCode` order.
    pub fn activities(&self) -> Vec<Map<String, Value>> {
        self.lock().records.activities.values().cloned().collect()
    }

    /// Every row of the user-defined table `entity` in arrival order (empty when undefined).
    pub fn user_table_rows(&self, entity: &str) -> Vec<Map<String, Value>> {
        self.lock()
            .records
            .tables
            .get(entity)
            .map(|t| t.rows.clone())
            .unwrap_or_default()
    }

    /// Queue a write fault; see [`RecordFault`].
    pub fn inject_record_fault(&self, fault: RecordFault) {
        self.lock().records.faults.push_back(fault);
    }
}
