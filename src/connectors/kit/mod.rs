//! What every connector shares: outbound HTTP answer classification ([`outbound`]) and the
//! conformance suite every credential, source, sink and inbound endpoint passes against its
//! simulator (`conformance`, test builds only).

#[cfg(test)]
pub mod conformance;
pub mod cookie_login;
pub mod outbound;
pub mod polled;
