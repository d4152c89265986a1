//! Entra ID, Microsoft Graph and Workflows webhook simulators.
