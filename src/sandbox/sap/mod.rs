//! SAP Business One Service Layer simulator.
