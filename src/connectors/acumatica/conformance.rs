//! The Acumatica connector on the conformance suite.
