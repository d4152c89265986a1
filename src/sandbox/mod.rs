//! Faithful simulators of the external APIs, served over HTTP on 127.0.0.1 with fault injection.
//! They power the test suite, `ml-connector demo` and `ml-connector bench`.

pub mod env;
pub mod microsoft;
pub mod sap;
