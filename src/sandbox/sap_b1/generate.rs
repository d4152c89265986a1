//! Deterministic, realistic Service Layer records for the sandbox: documents (purchase and
//! sales) and payments, shaped like SBODEMOUS data (field names from the v2 `$metadata`).
//!
//! Money follows SAP: the company's local currency is USD; for a foreign-currency document
//! `DocTotal` is in local currency and `DocTotalFc` in `DocCurrency` (`DocRate` USD per unit);
//! for a USD document `DocTotalFc` is 0. Dates are v2 `Edm.DateTimeOffset` at midnight.

use serde_json::{json, Value};
use time::{Date, Duration};

use super::schema::{EntityKind, ENTITY_SETS};

/// SplitMix64: a tiny, stable PRNG so a seed gives the same record on every platform and
/// dependency version.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const VENDORS: &[(&str, &str, &str)] = &[
    ("V10000", "Acme Associates", "USD"),
    ("V20000", "Mashina Corporation", "USD"),
    ("V23000", "Nordwerk Komponenten GmbH", "EUR"),
    ("V30000", "Britannia Office Supply Ltd", "GBP"),
    ("V40000", "Rhône Logistique SA", "EUR"),
    ("V50000", "Pacific Microchips Inc.", "USD"),
];

const CUSTOMERS: &[(&str, &str, &str)] = &[
    ("C20000", "Norm Thompson", "USD"),
    ("C23900", "Parameter Technology", "USD"),
    ("C30000", "Microchips", "USD"),
    ("C40000", "Earthshaker Corporation", "EUR"),
    ("C42000", "Mashina Corporation UK", "GBP"),
    ("C50000", "Mitsukoshi Trading", "USD"),
];

const ITEMS: &[(&str, &str, f64)] = &[
    ("A00001", "J.B. Officeprint 1420", 400.0),
    ("A00002", "J.B. Officeprint 1111", 300.0),
    ("A00003", "J.B. Officeprint 1186", 200.0),
    ("A00004", "Rainbow Color Printer 5.0", 250.0),
    ("A00005", "Rainbow Color Printer 7.5", 500.0),
    ("C00001", "Motherboard BTX", 120.0),
    ("C00003", "Quad-Core Processor 3.4 GHz", 180.0),
    ("C00007", "Hard Disk 3TB", 95.5),
    ("I00001", "Blu-Ray Disc 10-Pack", 12.75),
    ("S10002", "Toner Cartridge Black", 39.9),
];

const WAREHOUSES: &[&str] = &["01", "02", "03"];
const DEPARTMENTS: &[&str] = &["ADMIN", "SALES", "PURCH", "IT"];

/// USD per unit of a document currency.
fn rate(currency: &str) -> f64 {
    match currency {
        "EUR" => 1.08,
        "GBP" => 1.27,
        _ => 1.0,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `"YYYY-MM-DDT00:00:00Z"`, the v2 wire form of an SAP date.
pub fn v2_date(d: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}T00:00:00Z",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// The primary numbering series of an entity set (SBODEMOUS-like numbers); the secondary
/// series is this + 100. Both start at `DocNum` 1, so two records can share a `DocNum`.
pub fn primary_series(entity: &str) -> i64 {
    match entity {
        "Orders" => 17,
        "Invoices" => 4,
        "PurchaseOrders" => 22,
        "PurchaseInvoices" => 18,
        "IncomingPayments" => 15,
        "VendorPayments" => 16,
        _ => 1,
    }
}

fn object_code(entity: &str) -> String {
    if ENTITY_SETS.contains(&entity) {
        format!("o{entity}")
    } else {
        "oDrafts".to_string()
    }
}

/// A generated record for `entity`, deterministic for `seed`. Does not insert it.
pub fn generate(entity: &str, seed: u64) -> Value {
    let mut rng = SplitMix(seed ^ 0x5AB0_0000_0000_0000 ^ ((entity.len() as u64) << 40));
    let purchasing = entity.starts_with("Purchase") || entity == "VendorPayments";
    let partners = if purchasing { VENDORS } else { CUSTOMERS };
    let (card_code, card_name, currency) = *rng.pick(partners);
    let base = time::macros::date!(2026 - 01 - 01);
    let doc_date = base + Duration::days((seed % 330) as i64);
    let series = if rng.below(10) < 7 {
        primary_series(entity)
    } else {
        primary_series(entity) + 100
    };
    let doc_rate = rate(currency);

    if EntityKind::of(entity) == EntityKind::Payment {
        let amount = round2(50.0 + rng.below(2_000_000) as f64 / 100.0);
        let by_transfer = rng.below(4) != 0;
        let invoices: Vec<Value> = (0..1 + rng.below(2))
            .map(|line| {
                json!({
                    "LineNum": line,
                    "DocEntry": 1 + rng.below(500),
                    "SumApplied": if line == 0 { amount } else { 0.0 },
                    "InvoiceType": if purchasing { "it_PurchaseInvoice" } else { "it_Invoice" },
                })
            })
            .collect();
        return json!({
            "DocType": if purchasing { "rSupplier" } else { "rCustomer" },
            "DocDate": v2_date(doc_date),
            "DueDate": v2_date(doc_date),
            "TaxDate": v2_date(doc_date),
            "CardCode": card_code,
            "CardName": card_name,
            "DocCurrency": currency,
            "DocRate": doc_rate,
            "CashSum": if by_transfer { 0.0 } else { amount },
            "TransferSum": if by_transfer { amount } else { 0.0 },
            "TransferDate": if by_transfer { Value::String(v2_date(doc_date)) } else { Value::Null },
            "TransferAccount": if by_transfer { Value::String("_SYS00000000004".into()) } else { Value::Null },
            "TransferReference": if by_transfer { Value::String(format!("TRF-{seed:06}")) } else { Value::Null },
            "CheckAccount": Value::Null,
            "Remarks": format!("Payment {card_name}"),
            "JournalRemarks": format!("{} - {card_code}", if purchasing { "Outgoing Payments" } else { "Incoming Payments" }),
            "Series": series,
            "Cancelled": "tNO",
            "PaymentInvoices": invoices,
            "PaymentChecks": [],
        });
    }

    let domestic = currency == "USD";
    let (tax_code, tax_rate) = if domestic {
        ("NY", 0.08875)
    } else {
        ("EX", 0.0)
    };
    let mut net_fc = 0.0;
    let lines: Vec<Value> = (0..1 + rng.below(4))
        .map(|line| {
            let (code, description, usd_price) = *rng.pick(ITEMS);
            let quantity = (1 + rng.below(20)) as f64;
            let discount = if rng.below(5) == 0 { 5.0 } else { 0.0 };
            let price = round2(usd_price / doc_rate);
            let line_fc = round2(price * quantity * (1.0 - discount / 100.0));
            net_fc += line_fc;
            json!({
                "LineNum": line,
                "ItemCode": code,
                "ItemDescription": description,
                "Quantity": quantity,
                "Price": price,
                "UnitPrice": price,
                "Currency": currency,
                "DiscountPercent": discount,
                "WarehouseCode": *rng.pick(WAREHOUSES),
                "AccountCode": if purchasing { "_SYS00000000033" } else { "_SYS00000000025" },
                "VatGroup": Value::Null,
                "TaxCode": tax_code,
                "LineTotal": round2(line_fc * doc_rate),
                "LineStatus": "bost_Open",
                "BaseType": -1,
                "BaseEntry": Value::Null,
                "BaseLine": Value::Null,
                "CostingCode": *rng.pick(DEPARTMENTS),
                "CostingCode2": Value::Null,
                "CostingCode3": Value::Null,
                "CostingCode4": Value::Null,
                "CostingCode5": Value::Null,
            })
        })
        .collect();
    let vat_fc = round2(net_fc * tax_rate);
    let total_fc = round2(net_fc + vat_fc);
    let authorization = match rng.below(10) {
        0 | 1 if purchasing => "dasPending",
        2 if purchasing => "dasApproved",
        _ => "dasWithout",
    };
    json!({
        "DocType": "dDocument_Items",
        "DocDate": v2_date(doc_date),
        "DocDueDate": v2_date(doc_date + Duration::days(30)),
        "TaxDate": v2_date(doc_date),
        "CardCode": card_code,
        "CardName": card_name,
        "NumAtCard": format!("{}-{:05}", if purchasing { "VREF" } else { "PO" }, rng.below(100_000)),
        "DocTotal": round2(total_fc * doc_rate),
        "DocTotalFc": if domestic { 0.0 } else { total_fc },
        "VatSum": round2(vat_fc * doc_rate),
        "DocCurrency": currency,
        "DocRate": doc_rate,
        "PaidToDate": 0.0,
        "Comments": format!("Generated for the sandbox (seed {seed})"),
        "Series": series,
        "DocObjectCode": object_code(entity),
        "DocumentStatus": "bost_Open",
        "Cancelled": "tNO",
        "CancelStatus": "csNo",
        "AuthorizationStatus": authorization,
        "Confirmed": if authorization == "dasPending" { "tNO" } else { "tYES" },
        "DocumentLines": lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped() {
        assert_eq!(generate("PurchaseOrders", 7), generate("PurchaseOrders", 7));
        assert_ne!(generate("PurchaseOrders", 7), generate("PurchaseOrders", 8));
        let mut currencies = std::collections::BTreeSet::new();
        let mut series = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let doc = generate("PurchaseOrders", seed);
            assert!(doc["CardCode"].as_str().is_some_and(|c| c.starts_with('V')));
            assert_eq!(doc["DocumentStatus"], "bost_Open");
            assert_eq!(doc["Cancelled"], "tNO");
            let lines = doc["DocumentLines"].as_array().map(Vec::len).unwrap_or(0);
            assert!(lines >= 1);
            let total = doc["DocTotal"].as_f64().unwrap_or(-1.0);
            assert!(total > 0.0);
            currencies.insert(doc["DocCurrency"].as_str().unwrap_or("").to_string());
            series.insert(doc["Series"].as_i64().unwrap_or(0));
        }
        assert_eq!(currencies.len(), 3, "{currencies:?}");
        assert_eq!(series.len(), 2);
        let pay = generate("VendorPayments", 3);
        assert_eq!(pay["DocType"], "rSupplier");
        assert!(pay.get("DocTotal").is_none() && pay.get("UpdateDate").is_none());
        assert!(generate("Orders", 1)["CardCode"]
            .as_str()
            .is_some_and(|c| c.starts_with('C')));
    }
}
