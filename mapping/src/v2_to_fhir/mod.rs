//! HL7 v2 → FHIR R4 per the HL7 Version 2 to FHIR Implementation Guide 1.0.0
//! (<https://hl7.org/fhir/uv/v2mappings/1.0.0/>).
//!
//! The layout mirrors the IG, one file per IG map, so a reader goes from a spreadsheet row to
//! its code:
//!
//! - [`Converter`]: a borrowed message → [`Conversion`] (`Bundle` + report), deterministic ids
//!   ([`ids`]), Bundle type per [`Options`].
//! - [`message`]: message maps (`ADT_A01` → Bundle): ADT A01/A02/A03/A04/A08 and ORU_R01 so far.
//! - [`segment`]: segment maps (`PID[Patient]` → `segment/pid_patient.rs`); each registers its
//!   spreadsheet rows in [`segment::COVERAGE`]. `PID[Patient]` so far.
//! - [`datatype`]: datatype maps (`CX[Identifier]` → `datatype/cx_identifier.rs`): DTM/DT, CX,
//!   EI, HD, DLN, XPN, XAD, XTN, CWE, NM, CQ, SN so far, each reporting what it does not carry.
//! - [`vocab`]: the 99 vocabulary ConceptMaps, generated from the IG's spreadsheets.

mod convert;
pub mod datatype;
pub mod ids;
pub mod message;
pub mod segment;
pub mod vocab;

pub use convert::{
    BundleKind, Conversion, ConvertError, Converter, Options, ORIGINAL_CONTENT_TYPE, SUPPORTED,
};

/// rayon, whose current thread pool [`Converter::convert_batch`] runs on (feature `rayon`):
/// `rayon::ThreadPoolBuilder::new().num_threads(2).build()?.install(|| ...)` bounds a batch.
#[cfg(feature = "rayon")]
#[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
pub use rayon;
