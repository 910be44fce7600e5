#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
pub mod normalize;
mod profile;
mod quirks;
mod report;
mod routing;
mod systems;
pub mod v2_to_fhir;

/// The IANA time zone database [`Profile::source_time_zone`] takes its zones from
/// (`chrono_tz::America::Chicago`, or `"America/Chicago".parse()`).
pub use chrono_tz;

pub use error::{Error, ProfileProblem};
pub use profile::{CodeOverride, Profile, ProfileTranslation, Quirk};
pub use quirks::{V2Settings, ZField, ZTarget, ZValue};
pub use report::{DataProblem, Location, Report, ReportEntry, ReportKind, SegmentId};
pub use routing::{Routing, Selected, Selection};
pub use systems::{
    Authority, SystemSource, SystemUri, Systems, CODING_SYSTEMS, DEFAULT_UNKNOWN_SYSTEM_BASE,
    IDENTIFIER_SYSTEMS,
};
