//! What every connector shares: outbound HTTP answer classification ([`outbound`]) and the
//! conformance suite every credential, source, sink and inbound endpoint passes against its
//! simulator (`conformance`, test builds only). What the two polled ERP connectors (`sap_b1`,
//! `acumatica`) share: the cookie-login credential fields ([`cookie_login`]), the checks of
//! the polled-entity list ([`polled`]) and the steps of a source `check` ([`source_check`]). Credential and source kinds
//! read from one table: [`table_kind`].

#[cfg(test)]
pub mod conformance;
pub mod cookie_login;
pub mod outbound;
pub mod polled;
pub mod source_check;
pub mod table_kind;
