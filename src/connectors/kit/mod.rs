//! What every connector shares: outbound HTTP answer classification ([`outbound`]) and the
//! conformance suite every credential, source, sink and inbound endpoint passes against its
//! simulator.

pub mod outbound;
