//! SAP Business One Service Layer connector.
