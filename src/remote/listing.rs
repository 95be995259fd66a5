//! TEMPORARY STUB (being replaced by the real parser).
use super::RemoteEntry;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat { Mlsd, List }
pub fn parse_listing(_lines: &[String], _format: ListFormat) -> Vec<RemoteEntry> { Vec::new() }
