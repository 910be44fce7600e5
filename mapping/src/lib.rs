#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod profile;
mod report;
mod systems;
pub mod v2_to_fhir;

pub use error::{Error, ProfileProblem};
pub use profile::{CodeOverride, Profile, ProfileTranslation, Quirk};
pub use report::{DataProblem, Location, Report, ReportEntry, ReportKind};
pub use systems::{
    Authority, SystemSource, SystemUri, Systems, CODING_SYSTEMS, DEFAULT_UNKNOWN_SYSTEM_BASE,
    IDENTIFIER_SYSTEMS,
};
