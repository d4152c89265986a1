//! [`AcumaticaSource`]: polls one entity by `LastModifiedDateTime` with an overlap window.
//!
//! A poll reads `GET <entity>?$filter=LastModifiedDateTime gt datetimeoffset'<cursor −
//! overlap>'&$select=<fields>&$top=<page_size>&$skip=<n>` page by page until a page holds fewer
//! than `$top` records. Records are unwrapped (`{"value": v}` → `v`, `{}` → `null`); the
//! position is `<stamp in UTC, ms>|<key>` and the cursor the largest position read.
//!
//! **Order and paging.** The contract-based API has no documented `$orderby`; a list comes
//! back in the entity's primary-key order, which is stable while paging with `$skip` (the
//! note: "order by a stable key when paging with `$skip`"). Because the cursor only moves at
//! the end of a poll (the maximum over every page), the pages need not come in time order.
//! Edge cases: a record inserted with a smaller key while paging shifts the later pages by
//! one, so one record is read twice (the poller sees the repeated key and keeps the first
//! page's cursor; the snapshot absorbs the repeat); a record whose change moves it out of the
//! filter cannot happen (its stamp only grows); a record *deleted* while paging shifts the
//! pages back by one and may hide one record from this poll — it is read by the next poll only
//! if its stamp is within the overlap window of the new cursor, so keep `overlap_seconds`
//! above the poll's duration. Push notifications (`push`) close that gap for pushed entities.
//!
//! Source: `/work/shared/api-notes/acumatica.md` ("Query", "Record shape").

use std::time::Duration;

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::{Page, Record, Source, SourceError};
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

use super::auth::AcumaticaSession;
use super::config::StartFrom;
use super::entity::{EntityDef, LAST_MODIFIED};
use super::wire::{describe_answer, filter_literal, parse_stamp, position_stamp, unwrap_record};
use crate::connectors::kit::outbound::{describe, retry_after};

/// Settings of one polled entity.
#[derive(Debug, Clone)]
pub struct AcumaticaSourceSettings {
    /// `<base>/entity/<endpoint>/<version>/`.
    pub entity_root: Url,
    /// The entity.
    pub entity: &'static EntityDef,
    /// `$top` of each page.
    pub page_size: u32,
    /// How far each poll reaches back before the cursor.
    pub overlap: Duration,
    /// Where a poll without a cursor starts.
    pub start: StartFrom,
    /// Detail collections sent as `$expand` (`["Details"]`); empty: none.
    pub expand: Vec<String>,
}

/// One polled entity of one Acumatica instance.
#[derive(Debug, Clone)]
pub struct AcumaticaSource {
    client: reqwest::Client,
    settings: AcumaticaSourceSettings,
    watched: Vec<String>,
    /// `StartFrom::Now` resolved when the source was built (so no change is missed between
    /// polls while there is no cursor yet).
    started_at: OffsetDateTime,
}

impl AcumaticaSource {
    /// A source reading with `client`; `clock` resolves `start_from = "now"`.
    pub fn new(client: reqwest::Client, settings: AcumaticaSourceSettings, clock: SharedClock) -> Self {
        let started_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(clock.now_ms()) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Self {
            client,
            watched: settings.entity.watched_fields(),
            settings,
            started_at,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &AcumaticaSourceSettings {
        &self.settings
    }

    /// The reference of the page at `skip` of a poll reading records modified after `from`
    /// (`None`: every record): the entity's relative URL with `$filter`, `$select`,
    /// `$expand` (when configured), `$top` and `$skip`.
    fn page_ref(&self, from: Option<OffsetDateTime>, skip: u64) -> String {
        let mut url = Url::parse("relative:/").expect("static URL");
        {
            let mut q = url.query_pairs_mut();
            if let Some(from) = from {
                q.append_pair("$filter", &format!("{LAST_MODIFIED} gt {}", filter_literal(from)));
            }
            q.append_pair("$select", &self.settings.entity.fields.join(","));
            self.append_expand(&mut q);
            q.append_pair("$top", &self.settings.page_size.to_string());
            q.append_pair("$skip", &skip.to_string());
        }
        format!("{}?{}", self.settings.entity.name, url.query().unwrap_or_default())
    }

    /// `$expand=<collections joined with ,>` when any is configured. Acumatica sends a
    /// record's detail lines only when they are expanded; they come back as arrays of wrapped
    /// rows, which [`unwrap_record`] turns into `Details: [{InventoryID, Qty, UnitCost, …}]`.
    fn append_expand(&self, q: &mut url::form_urlencoded::Serializer<'_, url::UrlQuery<'_>>) {
        if !self.settings.expand.is_empty() {
            q.append_pair("$expand", &self.settings.expand.join(","));
        }
    }

    /// The page after `page` (same query, `$skip` + `$top`).
    fn next_ref(&self, page: &str) -> Option<String> {
        let url = self.settings.entity_root.join(page).ok()?;
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "$skip" {
                    (v.parse::<u64>().unwrap_or(0) + u64::from(self.settings.page_size)).to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        let mut next = Url::parse("relative:/").expect("static URL");
        next.query_pairs_mut().extend_pairs(pairs);
        Some(format!("{}?{}", self.settings.entity.name, next.query().unwrap_or_default()))
    }

    /// One record of a page: unwrapped, keyed, positioned.
    fn record(&self, raw: &Value) -> Result<Record, SourceError> {
        let malformed = |context: String| SourceError::Malformed { context };
        let fields = unwrap_record(raw).map_err(malformed)?;
        let entity = self.settings.entity;
        let key = entity.key_of(&fields).ok_or_else(|| {
            malformed(format!("a {} record lacks its key {}", entity.name, entity.key_fields.join(" + ")))
        })?;
        let stamp = fields
            .get(LAST_MODIFIED)
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(format!("{} {key} lacks {LAST_MODIFIED}", entity.name)))?;
        let at = parse_stamp(stamp).map_err(malformed)?;
        Ok(Record {
            position: format!("{}|{key}", position_stamp(at)),
            key,
            fields,
        })
    }

    /// Read the first record of the entity (`$top=1`, with the configured `$expand`, so an
    /// `expand` name the instance does not offer fails here), for `check`: how many came
    /// back.
    ///
    /// Errors: as [`Source::fetch`].
    pub async fn probe(&self, session: &AcumaticaSession) -> Result<usize, SourceError> {
        let mut url = Url::parse("relative:/").expect("static URL");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("$select", &self.settings.entity.fields.join(","));
            self.append_expand(&mut q);
            q.append_pair("$top", "1");
        }
        let page = format!("{}?{}", self.settings.entity.name, url.query().unwrap_or_default());
        self.read(session, &page).await.map(|records| records.len())
    }

    async fn read(&self, session: &AcumaticaSession, page: &str) -> Result<Vec<Record>, SourceError> {
        let entity = self.settings.entity.name;
        let url = self.settings.entity_root.join(page).map_err(|e| SourceError::Refused {
            reason: format!("{entity}: page reference cannot be joined: {e}"),
        })?;
        let cookie = session.cookie_header().map_err(|_| SourceError::SessionGone {
            reason: "session cookie is not a valid header".into(),
        })?;
        let answer = self
            .client
            .get(url)
            .header(reqwest::header::COOKIE, cookie)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| SourceError::Transient {
                reason: format!("GET {entity}: {}", describe(&e)),
                retry_after: None,
            })?;
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        let body = answer.bytes().await.map_err(|e| SourceError::Transient {
            reason: format!("GET {entity}: {}", describe(&e)),
            retry_after: None,
        })?;
        match status {
            200 => {}
            401 => {
                return Err(SourceError::SessionGone {
                    reason: format!("GET {entity}: {}", describe_answer(status, &body)),
                })
            }
            404 => {
                let s = &self.settings.entity_root;
                return Err(SourceError::Refused {
                    reason: format!(
                        "GET {entity}: HTTP 404 — the instance does not offer {} (endpoint/version \
                         pinned in the credential; `ml-connector check` lists what it offers)",
                        s.path()
                    ),
                });
            }
            429 | 500..=599 => {
                return Err(SourceError::Transient {
                    reason: format!("GET {entity}: {}", describe_answer(status, &body)),
                    retry_after: retry_after(&headers),
                })
            }
            _ => {
                return Err(SourceError::Refused {
                    reason: format!("GET {entity}: {}", describe_answer(status, &body)),
                })
            }
        }
        let value: Value = serde_json::from_slice(&body).map_err(|e| SourceError::Malformed {
            context: format!("GET {entity}: not JSON ({e})"),
        })?;
        let Value::Array(rows) = value else {
            return Err(SourceError::Malformed {
                context: format!("GET {entity}: a list answer is not a JSON array"),
            });
        };
        rows.iter().map(|row| self.record(row)).collect()
    }
}

impl Source for AcumaticaSource {
    type Credentials = AcumaticaSession;

    fn entity(&self) -> &str {
        self.settings.entity.name
    }

    fn watched_fields(&self) -> &[String] {
        &self.watched
    }

    /// From the cursor's stamp minus the overlap; without a cursor from `start_from`.
    fn first_page(&self, cursor: Option<&str>) -> String {
        let overlap = time::Duration::try_from(self.settings.overlap).unwrap_or(time::Duration::ZERO);
        let stamp = cursor.and_then(|c| c.split('|').next()).and_then(|s| parse_stamp(s).ok());
        let from = match (stamp, self.settings.start) {
            (Some(at), _) => Some(at - overlap),
            (None, StartFrom::Beginning) => None,
            (None, StartFrom::Now) => Some(self.started_at - overlap),
            (None, StartFrom::At(at)) => Some(at),
        };
        self.page_ref(from, 0)
    }

    /// One page; `next` while the page is full.
    async fn fetch(&self, session: &AcumaticaSession, page: &str) -> Result<Page, SourceError> {
        let records = self.read(session, page).await?;
        let next = if records.len() as u64 >= u64::from(self.settings.page_size) {
            self.next_ref(page)
        } else {
            None
        };
        Ok(Page { records, next })
    }
}
