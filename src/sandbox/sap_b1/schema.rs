//! The simulated `$metadata`: which entity sets exist, which properties each has and their
//! EDM types. Source: the generated Service Layer v2 `$metadata` (Documents and Payments
//! entity types), summarised in `shared/api-notes/sap-business-one.md` ("Field names").

/// The entity sets the simulator serves, by their Service Layer names.
pub const ENTITY_SETS: [&str; 6] = [
    "PurchaseOrders",
    "PurchaseInvoices",
    "Orders",
    "Invoices",
    "IncomingPayments",
    "VendorPayments",
];

/// Master-data sets served besides [`ENTITY_SETS`] (not seeded with generated documents):
/// `Items`, filled with [`super::SapSim::add_item`].
pub const MASTER_DATA_SETS: [&str; 1] = ["Items"];

/// Which `$metadata` entity type an entity set uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    /// `SAPB1.Document` (Orders, Invoices, PurchaseOrders, PurchaseInvoices): has
    /// `CreationDate`, `UpdateDate`, `UpdateTime`, `DocTotal`, `DocumentLines`.
    Document,
    /// `SAPB1.Payment` (IncomingPayments, VendorPayments): no `UpdateDate`/`UpdateTime`,
    /// no `DocTotal`; has `CashSum`, `TransferSum`, `PaymentInvoices`.
    Payment,
    /// `SAPB1.Item` (Items): key `ItemCode`, `QuantityOnStock`, `MinInventory`, the inline
    /// `ItemWarehouseInfoCollection` (`WarehouseCode`, `InStock`, `MinimalStock`). The
    /// simulator keeps an internal `DocEntry` that is not part of the model: filtering or
    /// sorting on it is `400`/`201`.
    Item,
}

impl EntityKind {
    /// The entity type of an entity set name. Unknown names are treated as documents.
    pub fn of(entity: &str) -> EntityKind {
        match entity {
            "IncomingPayments" | "VendorPayments" => EntityKind::Payment,
            "Items" => EntityKind::Item,
            _ => EntityKind::Document,
        }
    }
}

/// EDM type of a property, as far as `$filter` and `$orderby` care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    /// `Edm.Int32` / `Edm.Int64` / `Edm.Double`: compared numerically.
    Number,
    /// `Edm.String` and enum types (`"tYES"`, `"bost_Open"`): compared as strings.
    Text,
    /// `Edm.DateTimeOffset` at midnight (`"2026-11-21T00:00:00Z"`): compared by date part.
    Date,
    /// `Edm.TimeOfDay` (`"14:05:00"`).
    Time,
    /// Inline collection (`DocumentLines`, `PaymentInvoices`): selectable, not filterable.
    Collection,
    /// A property not in the static model (user-defined field `U_*` or a field a test
    /// inserted): compared by the JSON type found in each record.
    Dynamic,
}

const DOCUMENT_PROPS: &[(&str, PropType)] = &[
    ("DocEntry", PropType::Number),
    ("DocNum", PropType::Number),
    ("DocType", PropType::Text),
    ("DocDate", PropType::Date),
    ("DocDueDate", PropType::Date),
    ("TaxDate", PropType::Date),
    ("CardCode", PropType::Text),
    ("CardName", PropType::Text),
    ("NumAtCard", PropType::Text),
    ("DocTotal", PropType::Number),
    ("DocTotalFc", PropType::Number),
    ("VatSum", PropType::Number),
    ("DocCurrency", PropType::Text),
    ("DocRate", PropType::Number),
    ("PaidToDate", PropType::Number),
    ("Comments", PropType::Text),
    ("Series", PropType::Number),
    ("DocObjectCode", PropType::Text),
    ("DocumentStatus", PropType::Text),
    ("Cancelled", PropType::Text),
    ("CancelStatus", PropType::Text),
    ("AuthorizationStatus", PropType::Text),
    ("Confirmed", PropType::Text),
    ("CreationDate", PropType::Date),
    ("UpdateDate", PropType::Date),
    ("UpdateTime", PropType::Time),
    ("DocumentLines", PropType::Collection),
];

const PAYMENT_PROPS: &[(&str, PropType)] = &[
    ("DocEntry", PropType::Number),
    ("DocNum", PropType::Number),
    ("DocType", PropType::Text),
    ("DocDate", PropType::Date),
    ("DueDate", PropType::Date),
    ("TaxDate", PropType::Date),
    ("CardCode", PropType::Text),
    ("CardName", PropType::Text),
    ("DocCurrency", PropType::Text),
    ("DocRate", PropType::Number),
    ("CashSum", PropType::Number),
    ("TransferSum", PropType::Number),
    ("TransferDate", PropType::Date),
    ("TransferAccount", PropType::Text),
    ("TransferReference", PropType::Text),
    ("CheckAccount", PropType::Text),
    ("Remarks", PropType::Text),
    ("JournalRemarks", PropType::Text),
    ("Series", PropType::Number),
    ("Cancelled", PropType::Text),
    ("PaymentInvoices", PropType::Collection),
    ("PaymentChecks", PropType::Collection),
];

const ITEM_PROPS: &[(&str, PropType)] = &[
    ("ItemCode", PropType::Text),
    ("ItemName", PropType::Text),
    ("QuantityOnStock", PropType::Number),
    ("QuantityOrderedFromVendors", PropType::Number),
    ("QuantityOrderedByCustomers", PropType::Number),
    ("MinInventory", PropType::Number),
    ("MaxInventory", PropType::Number),
    ("Mainsupplier", PropType::Text),
    ("ItemWarehouseInfoCollection", PropType::Collection),
];

/// Properties a payment never has, even if a test inserted them: filtering or sorting on
/// them is `400`/`201` exactly like the real Service Layer.
const PAYMENT_ABSENT: &[&str] = &["UpdateDate", "UpdateTime", "CreationDate", "DocTotal"];

/// The static type of `name` in `kind`, `None` if the model has no such property.
pub fn static_type(kind: EntityKind, name: &str) -> Option<PropType> {
    let table = match kind {
        EntityKind::Document => DOCUMENT_PROPS,
        EntityKind::Payment => PAYMENT_PROPS,
        EntityKind::Item => ITEM_PROPS,
    };
    table.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Whether `name` may be added to `kind`'s model because a record carries it (user-defined
/// fields and fields tests insert); payments never gain `UpdateDate`/`UpdateTime`/`DocTotal`.
pub fn may_extend(kind: EntityKind, name: &str) -> bool {
    let absent = (kind == EntityKind::Payment && PAYMENT_ABSENT.contains(&name))
        || (kind == EntityKind::Item && (name == "DocEntry" || name == "DocNum" || name == "Series"));
    !(absent || name.starts_with('@'))
}
