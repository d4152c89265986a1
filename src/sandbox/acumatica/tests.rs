//! Tests of the Acumatica simulator.
