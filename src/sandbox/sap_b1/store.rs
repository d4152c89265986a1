//! The simulator's in-memory company database: one [`EntityStore`] per entity set (records in
//! a `BTreeMap` by `DocEntry`) and the page selection a collection GET performs (filter,
//! order, skip, top), with the query order cached between pages of one paging run.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use super::query::QueryOptions;
use super::schema::{may_extend, static_type, EntityKind, PropType};

/// One stored record with its `@odata.etag`.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    /// `DocEntry`, the key.
    pub doc_entry: i64,
    /// The record as the Service Layer returns it (without `@odata.etag`).
    pub value: Map<String, Value>,
    /// Weak ETag `W/"<40 hex>"`, changes on every update.
    pub etag: String,
    /// Number of updates (feeds the ETag).
    pub version: u64,
}

impl StoredDoc {
    /// Recompute the ETag from `DocEntry`, the version and the content.
    pub fn refresh_etag(&mut self, entity: &str) {
        let mut hasher = Sha256::new();
        hasher.update(entity.as_bytes());
        hasher.update(self.doc_entry.to_be_bytes());
        hasher.update(self.version.to_be_bytes());
        hasher.update(serde_json::to_vec(&self.value).unwrap_or_default());
        let digest = hasher.finalize();
        self.etag = format!("W/\"{}\"", hex::encode_upper(&digest[..20]));
    }
}

/// The records of one entity set.
#[derive(Debug)]
pub struct EntityStore {
    /// Document or payment model.
    pub kind: EntityKind,
    /// Records by `DocEntry`.
    pub docs: BTreeMap<i64, StoredDoc>,
    /// Next `DocEntry` to assign.
    pub next_doc_entry: i64,
    /// Properties outside the static model that some record carried (UDFs `U_*`, test fields).
    pub extra_props: HashSet<String>,
    /// Bumped by every change to `docs` (use [`EntityStore::put`] / [`EntityStore::modify`]).
    generation: u64,
    /// Recently computed query orders.
    cache: VecDeque<CachedOrder>,
}

impl EntityStore {
    /// An empty entity set of the given model.
    pub fn new(kind: EntityKind) -> EntityStore {
        EntityStore {
            kind,
            docs: BTreeMap::new(),
            next_doc_entry: 1,
            extra_props: HashSet::new(),
            generation: 0,
            cache: VecDeque::new(),
        }
    }

    /// The type of a property of this entity set, `None` if the model does not have it.
    pub fn resolve(&self, name: &str) -> Option<PropType> {
        static_type(self.kind, name)
            .or_else(|| self.extra_props.contains(name).then_some(PropType::Dynamic))
    }

    /// Remember properties a record carries that the static model lacks.
    pub fn learn_props(&mut self, value: &Map<String, Value>) {
        for key in value.keys() {
            if static_type(self.kind, key).is_none()
                && may_extend(self.kind, key)
                && !self.extra_props.contains(key)
            {
                self.extra_props.insert(key.clone());
            }
        }
    }

    /// Insert or replace a record (invalidates cached query orders).
    pub fn put(&mut self, doc: StoredDoc) {
        self.generation += 1;
        self.docs.insert(doc.doc_entry, doc);
    }

    /// Change a record in place (invalidates cached query orders); `false` if absent.
    pub fn modify(&mut self, doc_entry: i64, change: impl FnOnce(&mut StoredDoc)) -> bool {
        match self.docs.get_mut(&doc_entry) {
            None => false,
            Some(doc) => {
                change(doc);
                self.generation += 1;
                true
            }
        }
    }

    /// The records of one page: filtered, ordered by `$orderby` (then `DocEntry`), `$skip`
    /// applied, at most `limit` of them; plus the total match count when `$count=true`.
    pub fn select_page(
        &mut self,
        opts: &QueryOptions,
        limit: usize,
    ) -> (Vec<&StoredDoc>, Option<usize>) {
        let keys = self.ordered_keys(opts);
        let page = keys
            .iter()
            .skip(opts.skip)
            .take(limit)
            .filter_map(|k| self.docs.get(k))
            .collect();
        (page, opts.count.then_some(keys.len()))
    }

    /// `DocEntry`s matching `$filter` in `$orderby` order. A paging run repeats the same
    /// filter and order with a growing `$skip`, so the result is cached until the data
    /// changes (every insert/update bumps `generation`): paging 10,000 records filters and
    /// sorts once instead of once per page, with the same answers as re-running the query.
    fn ordered_keys(&mut self, opts: &QueryOptions) -> Arc<Vec<i64>> {
        let filter_raw = opts.filter.as_ref().map(|(raw, _)| raw.as_str());
        let orderby_raw = opts.orderby.as_ref().map(|(raw, _)| raw.as_str());
        if let Some(pos) = self.cache.iter().position(|c| {
            c.generation == self.generation
                && c.filter.as_deref() == filter_raw
                && c.orderby.as_deref() == orderby_raw
        }) {
            if let Some(hit) = self.cache.remove(pos) {
                let keys = hit.keys.clone();
                self.cache.push_front(hit);
                return keys;
            }
        }
        let keys = Arc::new(self.compute_order(opts));
        self.cache.retain(|c| c.generation == self.generation);
        self.cache.truncate(QUERY_CACHE_SIZE - 1);
        self.cache.push_front(CachedOrder {
            filter: filter_raw.map(str::to_string),
            orderby: orderby_raw.map(str::to_string),
            generation: self.generation,
            keys: keys.clone(),
        });
        keys
    }

    fn compute_order(&self, opts: &QueryOptions) -> Vec<i64> {
        let filter = opts.filter.as_ref().map(|(_, f)| f);
        if opts.orderby.is_none() {
            // A batch of keys: look them up (same answer as the scan, in DocEntry order).
            if let Some(mut keys) = filter.and_then(|f| f.doc_entries()) {
                keys.sort_unstable();
                keys.dedup();
                keys.retain(|k| self.docs.contains_key(k));
                return keys;
            }
        }
        let keep = |d: &&StoredDoc| filter.is_none_or(|f| f.matches(&d.value));
        let keys = opts
            .orderby
            .as_ref()
            .map(|(_, k)| k.as_slice())
            .unwrap_or(&[]);
        match keys {
            [] => {
                return self
                    .docs
                    .values()
                    .filter(keep)
                    .map(|d| d.doc_entry)
                    .collect()
            }
            [k] if k.property == "DocEntry" => {
                let iter: Box<dyn Iterator<Item = &StoredDoc>> = if k.descending {
                    Box::new(self.docs.values().rev())
                } else {
                    Box::new(self.docs.values())
                };
                return iter.filter(keep).map(|d| d.doc_entry).collect();
            }
            _ => {}
        }
        let matching: Vec<&StoredDoc> = self.docs.values().filter(keep).collect();
        // Sort keys extracted once into a flat table; DocEntry breaks ties so the order is total.
        static NULL: Value = Value::Null;
        let width = keys.len();
        let mut table: Vec<&Value> = Vec::with_capacity(matching.len() * width);
        for doc in &matching {
            for key in keys {
                table.push(doc.value.get(&key.property).unwrap_or(&NULL));
            }
        }
        let mut idx: Vec<usize> = (0..matching.len()).collect();
        idx.sort_unstable_by(|a, b| {
            for (i, key) in keys.iter().enumerate() {
                let ord = compare_values(table[a * width + i], table[b * width + i]);
                let ord = if key.descending { ord.reverse() } else { ord };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            matching[*a].doc_entry.cmp(&matching[*b].doc_entry)
        });
        idx.into_iter().map(|i| matching[i].doc_entry).collect()
    }
}

/// How many (filter, orderby) orders each entity set keeps (one per concurrent paging run).
const QUERY_CACHE_SIZE: usize = 8;

/// A cached query order, valid while `generation` matches the store's.
#[derive(Debug)]
struct CachedOrder {
    filter: Option<String>,
    orderby: Option<String>,
    generation: u64,
    keys: Arc<Vec<i64>>,
}

/// `$orderby` order of two JSON values: `null` < booleans < numbers < strings < others.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A record as served: `$select` applied and `@odata.etag` added.
pub fn render(doc: &StoredDoc, select: Option<&[String]>) -> Value {
    let mut out = match select {
        None => doc.value.clone(),
        Some(props) => {
            let mut m = Map::new();
            for p in props {
                if let Some(v) = doc.value.get(p) {
                    m.insert(p.clone(), v.clone());
                }
            }
            m
        }
    };
    out.insert("@odata.etag".into(), Value::String(doc.etag.clone()));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store_with(n: i64) -> EntityStore {
        let mut s = EntityStore::new(EntityKind::Document);
        for i in 1..=n {
            // Many ties on the first key so DocEntry tie-breaking matters.
            let value = json!({"DocEntry": i, "DocNum": (i * 7919) % 13, "CardCode": format!("V{}", i % 3)});
            let mut doc = StoredDoc {
                doc_entry: i,
                value: value.as_object().cloned().unwrap_or_default(),
                etag: String::new(),
                version: 0,
            };
            doc.refresh_etag("Orders");
            s.put(doc);
        }
        s
    }

    #[test]
    fn order_is_total_and_cache_follows_changes() {
        let mut s = store_with(257);
        let run = |s: &mut EntityStore, q: &str, limit: usize| -> Vec<i64> {
            let known = s.extra_props.clone();
            let resolve = |p: &str| {
                static_type(EntityKind::Document, p)
                    .or(known.contains(p).then_some(PropType::Dynamic))
            };
            let opts = QueryOptions::parse(q, &resolve).expect("parses");
            s.select_page(&opts, limit)
                .0
                .iter()
                .map(|d| d.doc_entry)
                .collect()
        };
        let all = run(&mut s, "$orderby=DocNum%20desc,CardCode", usize::MAX);
        assert_eq!(all.len(), 257);
        for w in all.windows(2) {
            let (a, b) = (&s.docs[&w[0]].value, &s.docs[&w[1]].value);
            let key = |v: &Map<String, Value>| {
                (
                    -v["DocNum"].as_i64().unwrap_or(0),
                    v["CardCode"].as_str().unwrap_or("").to_string(),
                )
            };
            assert!(
                key(a) < key(b) || (key(a) == key(b) && w[0] < w[1]),
                "{w:?}"
            );
        }
        let pages: Vec<i64> = (0..13)
            .flat_map(|p| {
                run(
                    &mut s,
                    &format!("$orderby=DocNum%20desc,CardCode&$skip={}", p * 20),
                    20,
                )
            })
            .collect();
        assert_eq!(pages, all);
        assert_eq!(
            run(&mut s, "$orderby=DocEntry%20desc&$top=3", 3),
            vec![257, 256, 255]
        );

        // A change between pages is visible on the next page (no stale cache).
        let first = run(&mut s, "$orderby=DocNum%20desc,CardCode", 1)[0];
        assert!(s.modify(first, |d| {
            d.value.insert("DocNum".into(), json!(-1));
        }));
        assert_eq!(
            run(&mut s, "$orderby=DocNum%20desc,CardCode", usize::MAX).last(),
            Some(&first)
        );
        assert!(!s.modify(9999, |_| {}));
    }
}
