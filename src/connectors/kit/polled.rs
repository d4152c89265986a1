//! The polled-entity list of an ERP source: `page_size` and `entities = [{ name = "…",
//! interval_seconds = N, … }]` of `[[sources]] kind = "sap_b1"` and `kind = "acumatica"`,
//! checked the same way for both (key paths relative to the source's table).

use crate::seam::Problem;

/// One entry of a source's `entities` list, as far as the shared checks read it.
pub trait PolledEntity {
    /// `name`: the entity as the vendor names it (`PurchaseOrders` in the Service Layer,
    /// `Bill` in Acumatica's contract-based API).
    fn name(&self) -> &str;
    /// `interval_seconds`: pause between two polls of the entity, in seconds.
    fn interval_seconds(&self) -> u64;
}

/// What a connector's `entities` list may hold.
#[derive(Debug, Clone, Copy)]
pub struct EntityList<'a> {
    /// The entity names the connector polls (the only accepted `name`s).
    pub known: &'a [&'a str],
    /// The entity shown in the "must list at least one entity" hint (`PurchaseOrders`).
    pub example: &'a str,
}

/// Checks `page_size` (entries per page, `$top` / `Prefer: odata.maxpagesize`) lies in
/// `1..=max`.
///
/// Errors: at `page_size`, `must be between 1 and {max}, found {page_size}`.
pub fn check_page_size(page_size: u32, max: u32) -> Result<(), Problem> {
    if (1..=max).contains(&page_size) {
        return Ok(());
    }
    Err(Problem::new(
        "page_size",
        format!("must be between 1 and {max}, found {page_size}"),
    ))
}

impl EntityList<'_> {
    /// Checks `entities` in order, each entry in turn: its `name` is known, its
    /// `interval_seconds` is at least 1, the connector's own `extra` check of entry `i`
    /// passes (its [`Problem`] keyed `entities[i]…`), and its `name` was not listed before.
    ///
    /// Errors, the first found:
    /// - at `entities`: the list is empty (`must list at least one entity, e.g. [{ name =
    ///   "{example}" }]`);
    /// - at `entities[i].name`: `unknown entity "{name}" (one of {known, comma-separated})`;
    /// - at `entities[i].interval_seconds`: `must be at least 1`;
    /// - whatever `extra` returns;
    /// - at `entities[i].name`: `{name} is already listed as entities[{first}]`.
    pub fn check<E: PolledEntity>(
        &self,
        entities: &[E],
        mut extra: impl FnMut(usize, &E) -> Result<(), Problem>,
    ) -> Result<(), Problem> {
        if entities.is_empty() {
            return Err(Problem::new(
                "entities",
                format!(
                    "must list at least one entity, e.g. [{{ name = \"{}\" }}]",
                    self.example
                ),
            ));
        }
        for (i, entity) in entities.iter().enumerate() {
            let name = entity.name();
            if !self.known.contains(&name) {
                return Err(Problem::new(
                    format!("entities[{i}].name"),
                    format!(
                        "unknown entity \"{name}\" (one of {})",
                        self.known.join(", ")
                    ),
                ));
            }
            if entity.interval_seconds() == 0 {
                return Err(Problem::new(
                    format!("entities[{i}].interval_seconds"),
                    "must be at least 1",
                ));
            }
            extra(i, entity)?;
            if let Some(first) = entities[..i].iter().position(|e| e.name() == name) {
                return Err(Problem::new(
                    format!("entities[{i}].name"),
                    format!("{name} is already listed as entities[{first}]"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Entry(&'static str, u64);

    impl PolledEntity for Entry {
        fn name(&self) -> &str {
            self.0
        }
        fn interval_seconds(&self) -> u64 {
            self.1
        }
    }

    const LIST: EntityList<'static> = EntityList {
        known: &["Bill", "Check"],
        example: "Bill",
    };

    fn none(_: usize, _: &Entry) -> Result<(), Problem> {
        Ok(())
    }

    #[test]
    fn page_size_bounds_are_inclusive() {
        assert_eq!(check_page_size(1, 1000), Ok(()));
        assert_eq!(check_page_size(1000, 1000), Ok(()));
        let err = check_page_size(1001, 1000).expect_err("above");
        assert_eq!(
            err,
            Problem::new("page_size", "must be between 1 and 1000, found 1001")
        );
        let err = check_page_size(0, 1000).expect_err("zero");
        assert_eq!(
            err,
            Problem::new("page_size", "must be between 1 and 1000, found 0")
        );
    }

    #[test]
    fn entity_list_problems_carry_the_entry_key_path() {
        assert_eq!(
            LIST.check(&[Entry("Bill", 60), Entry("Check", 1)], none),
            Ok(())
        );
        let empty: [Entry; 0] = [];
        assert_eq!(
            LIST.check(&empty, none),
            Err(Problem::new(
                "entities",
                "must list at least one entity, e.g. [{ name = \"Bill\" }]"
            ))
        );
        assert_eq!(
            LIST.check(&[Entry("Bill", 60), Entry("Invoice", 60)], none),
            Err(Problem::new(
                "entities[1].name",
                "unknown entity \"Invoice\" (one of Bill, Check)"
            ))
        );
        assert_eq!(
            LIST.check(&[Entry("Check", 0)], none),
            Err(Problem::new(
                "entities[0].interval_seconds",
                "must be at least 1"
            ))
        );
        assert_eq!(
            LIST.check(
                &[Entry("Check", 5), Entry("Bill", 5), Entry("Check", 5)],
                none
            ),
            Err(Problem::new(
                "entities[2].name",
                "Check is already listed as entities[0]"
            ))
        );
    }

    #[test]
    fn the_extra_check_runs_after_the_interval_and_before_the_repeat() {
        let mut seen = Vec::new();
        let extra = |i: usize, e: &Entry| {
            seen.push(i);
            if e.1 == 7 {
                return Err(Problem::new(format!("entities[{i}].expand[0]"), "refused"));
            }
            Ok(())
        };
        let result = LIST.check(&[Entry("Bill", 5), Entry("Bill", 7)], extra);
        assert_eq!(
            result,
            Err(Problem::new("entities[1].expand[0]", "refused"))
        );
        assert_eq!(seen, vec![0, 1]);
    }
}
