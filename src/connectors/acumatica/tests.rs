//! Tests of the Acumatica connector against its simulator.
