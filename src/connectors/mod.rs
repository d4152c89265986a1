//! One folder per external system: authentication, client, wire types, errors.

pub mod http;
pub mod sap_b1;
pub mod teams;
