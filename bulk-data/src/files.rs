//! Bulk Data Output File Request (FHIR Bulk Data Access 2.0.0, STU2):
//! <https://hl7.org/fhir/uv/bulkdata/STU2/export.html#file-request>:
//! per-file checks while records stream in.

use url::Url;

use crate::error::{Error, Location, NdjsonErrorKind, Result};
use crate::manifest::OutputFile;
use crate::ndjson::RawRecord;

/// Which manifest array a file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// `output`: resources of the entry's type.
    Output,
    /// `error`: OperationOutcome resources.
    Error,
    /// `deleted`: Bundle resources listing deletions.
    Deleted,
}

impl FileKind {
    /// Type every record of such a file must have, given the entry's `type`.
    pub fn expected_type<'a>(&self, entry: &'a OutputFile) -> &'a str {
        match self {
            FileKind::Output => &entry.resource_type,
            FileKind::Error => "OperationOutcome",
            FileKind::Deleted => "Bundle",
        }
    }
}

/// Per-file checks while records stream in: every record has the announced
/// type, and at the end the count matches the manifest's `count`.
#[derive(Debug, Clone)]
pub struct FileCheck {
    expected: String,
    count: Option<u64>,
    seen: u64,
    url_path: String,
}

impl FileCheck {
    /// Checks for one manifest entry.
    pub fn new(entry: &OutputFile, kind: FileKind) -> Self {
        let url_path = Url::parse(&entry.url)
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        FileCheck {
            expected: kind.expected_type(entry).to_owned(),
            count: entry.count,
            seen: 0,
            url_path,
        }
    }

    /// Checks one record.
    pub fn record(&mut self, rec: &RawRecord<'_>) -> Result<()> {
        self.seen += 1;
        if rec.resource_type() != self.expected {
            return Err(Error::Ndjson {
                location: Location {
                    name: Some(self.url_path.clone()),
                    line: rec.line(),
                    offset: rec.offset(),
                },
                kind: NdjsonErrorKind::UnexpectedType {
                    expected: self.expected.clone(),
                    found: rec.resource_type().to_owned(),
                },
            });
        }
        Ok(())
    }

    /// Ends the file: checks the count; returns the number of records.
    pub fn finish(&self) -> Result<u64> {
        match self.count {
            Some(c) if c != self.seen => Err(Error::CountMismatch {
                url_path: self.url_path.clone(),
                expected: c,
                found: self.seen,
            }),
            _ => Ok(self.seen),
        }
    }
}
