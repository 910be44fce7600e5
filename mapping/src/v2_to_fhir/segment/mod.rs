//! IG segment maps (`PID[Patient]` → [`pid_patient`], IG page
//! `https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-segment-pid-to-patient.html`), one file
//! per map. Implemented: [`msh_message_header`], [`nk1_related_person`], [`pid_patient`],
//! [`pv1_encounter`], [`obr_diagnostic_report`], [`obx_observation`], [`nte_observation`].
//!
//! Every implemented segment map registers its rows in [`COVERAGE`]: each row of the IG's
//! spreadsheet (`../shared/v2-to-fhir/segments/HL7 Segment - FHIR R4_ PID[Patient] - *.csv`)
//! that has a FHIR attribute is either [`RowStatus::Mapped`] (by which file) or
//! [`RowStatus::Unmapped`] with the reason. `tests/row_coverage.rs` walks the spreadsheets and
//! fails on a row that is neither, or on a listed row the spreadsheet no longer has. Rows without
//! a FHIR attribute (the IG maps the field to nothing) need no listing: the converter reports
//! them as unmapped when they are present.

use ehrkit_fhir_model::{CodeableConcept, Primitive};
use ehrkit_hl7v2::datatypes::{Cwe, Text};

use crate::v2_to_fhir::datatype::{has_text, text_ref, Context};
use crate::SystemSource;

/// DG1-2 / PR1-2 (diagnosis / procedure coding method, deprecated; v2.3-style senders) as the
/// system of a bare code: when the code's CWE (`cwe`, DG1-3 / PR1-3) names no coding system
/// (CWE.3, CWE.14) and `method` is a coding system the registry knows (not a fallback), the
/// first coding of `code` gets it. True when it did (the method field is then mapped).
pub(crate) fn system_from_coding_method(
    code: &mut Option<CodeableConcept>,
    cwe: Option<&Cwe<'_>>,
    method: Option<Text<'_>>,
    ctx: &Context<'_>,
) -> bool {
    let Some(cwe) = cwe else { return false };
    if has_text(cwe.name_of_coding_system()) || has_text(cwe.coding_system_oid()) {
        return false;
    }
    let Some(name) = text_ref(method) else {
        return false;
    };
    let Some(uri) = ctx
        .systems
        .coding_system(&name)
        .filter(|u| u.source != SystemSource::Fallback)
    else {
        return false;
    };
    match code.as_mut().and_then(|cc| cc.coding.first_mut()) {
        Some(coding) if coding.system.is_none() && coding.code.is_some() => {
            coding.system = Some(Primitive::new(uri.uri.into_owned()));
            true
        }
        _ => false,
    }
}

/// How one spreadsheet row is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    /// Implemented, in this file (`segment/pid_patient.rs`).
    Mapped(&'static str),
    /// Deliberately not mapped, with the reason.
    Unmapped(&'static str),
}

/// One row of a segment map: the v2 element and the FHIR attribute it maps to, as the
/// spreadsheet writes them (`"PID-3"`, `"identifier[2]"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The spreadsheet's `Identifier` (`PID-3`).
    pub identifier: &'static str,
    /// The spreadsheet's `FHIR Attribute` (`identifier[2]`).
    pub fhir_attribute: &'static str,
    /// How the converter handles it.
    pub status: RowStatus,
}

/// The rows of one implemented segment map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentCoverage {
    /// The IG map name (`PID[Patient]`).
    pub map: &'static str,
    /// Its rows.
    pub rows: &'static [Row],
}

pub mod aig_appointment;
pub mod ail_appointment;
pub mod aip_appointment;
pub mod ais_appointment;
pub mod ais_service_request;
pub mod al1_allergy_intolerance;
pub mod cardinality;
pub mod dg1_condition;
pub mod dg1_encounter;
pub mod evn_provenance;
pub mod ft1_charge_item;
pub mod iam_allergy_intolerance;
pub mod in1_coverage;
pub mod mrg_account;
pub mod mrg_patient;
pub mod msh_message_header;
pub mod nk1_related_person;
pub mod nte_observation;
pub mod nte_service_request;
pub mod obr_diagnostic_report;
pub mod obr_service_request;
pub mod obr_specimen;
pub mod obx_observation;
pub mod orc_medication_request;
pub mod orc_service_request;
pub(crate) mod patient_other_sources;
pub mod pid_patient;
pub mod pr1_procedure;
pub mod pv1_encounter;
pub mod pv2_encounter;
pub mod rxa_immunization;
pub mod rxe_medication_request;
pub mod rxo_medication_request;
pub mod rxr_medication_request;
pub mod sch_appointment;
pub mod sch_service_request;
pub mod spm_specimen;
pub mod tq1_medication_request;
pub mod tq1_service_request;
pub mod txa_document_reference;

/// Every implemented segment map and its rows.
pub static COVERAGE: &[SegmentCoverage] = &[
    SegmentCoverage {
        map: "AL1[AllergyIntolerance]",
        rows: al1_allergy_intolerance::ROWS,
    },
    SegmentCoverage {
        map: "DG1[Condition]",
        rows: dg1_condition::ROWS,
    },
    SegmentCoverage {
        map: "DG1[Encounter]",
        rows: dg1_encounter::ROWS,
    },
    SegmentCoverage {
        map: "EVN[Provenance]",
        rows: evn_provenance::ROWS,
    },
    SegmentCoverage {
        map: "IAM[AllergyIntolerance]",
        rows: iam_allergy_intolerance::ROWS,
    },
    SegmentCoverage {
        map: "IN1[Coverage]",
        rows: in1_coverage::ROWS,
    },
    SegmentCoverage {
        map: "MRG[Account]",
        rows: mrg_account::ROWS,
    },
    SegmentCoverage {
        map: "PR1[Procedure]",
        rows: pr1_procedure::ROWS,
    },
    SegmentCoverage {
        map: "PV2[Encounter]",
        rows: pv2_encounter::ROWS,
    },
    SegmentCoverage {
        map: "MSH[MessageHeader]",
        rows: msh_message_header::ROWS,
    },
    SegmentCoverage {
        map: "NK1[RelatedPerson]",
        rows: nk1_related_person::ROWS,
    },
    SegmentCoverage {
        map: "NTE[Observation]",
        rows: nte_observation::ROWS,
    },
    SegmentCoverage {
        map: "OBR[DiagnosticReport]",
        rows: obr_diagnostic_report::ROWS,
    },
    SegmentCoverage {
        map: "OBX[Observation]",
        rows: obx_observation::ROWS,
    },
    SegmentCoverage {
        map: "OBX[Observation-Component]",
        rows: obx_observation::COMPONENT_ROWS,
    },
    SegmentCoverage {
        map: "PID[Patient]",
        rows: pid_patient::ROWS,
    },
    SegmentCoverage {
        map: "PV1[Encounter]",
        rows: pv1_encounter::ROWS,
    },
    SegmentCoverage {
        map: "NTE[ServiceRequest]",
        rows: nte_service_request::ROWS,
    },
    SegmentCoverage {
        map: "OBR[ServiceRequest]",
        rows: obr_service_request::ROWS,
    },
    SegmentCoverage {
        map: "OBR[Specimen]",
        rows: obr_specimen::ROWS,
    },
    SegmentCoverage {
        map: "ORC[ServiceRequest]",
        rows: orc_service_request::ROWS,
    },
    SegmentCoverage {
        map: "SPM[Specimen]",
        rows: spm_specimen::ROWS,
    },
    SegmentCoverage {
        map: "TQ1[ServiceRequest]",
        rows: tq1_service_request::ROWS,
    },
    SegmentCoverage {
        map: "RXO[MedicationRequest]",
        rows: rxo_medication_request::ROWS,
    },
    SegmentCoverage {
        map: "RXR[MedicationRequest]",
        rows: rxr_medication_request::ROWS,
    },
    SegmentCoverage {
        map: "TQ1[MedicationRequest]",
        rows: tq1_medication_request::ROWS,
    },
    SegmentCoverage {
        map: "AIG[Appointment]",
        rows: aig_appointment::ROWS,
    },
    SegmentCoverage {
        map: "AIL[Appointment]",
        rows: ail_appointment::ROWS,
    },
    SegmentCoverage {
        map: "AIP[Appointment]",
        rows: aip_appointment::ROWS,
    },
    SegmentCoverage {
        map: "AIS[Appointment]",
        rows: ais_appointment::ROWS,
    },
    SegmentCoverage {
        map: "SCH[Appointment]",
        rows: sch_appointment::ROWS,
    },
    SegmentCoverage {
        map: "SCH[ServiceRequest]",
        rows: sch_service_request::ROWS,
    },
    SegmentCoverage {
        map: "AIS[ServiceRequest]",
        rows: ais_service_request::ROWS,
    },
    SegmentCoverage {
        map: "TXA[DocumentReference]",
        rows: txa_document_reference::ROWS,
    },
    SegmentCoverage {
        map: "OBX[DocumentReference]",
        rows: txa_document_reference::OBX_ROWS,
    },
    SegmentCoverage {
        map: "RXA[Immunization]",
        rows: rxa_immunization::ROWS,
    },
    SegmentCoverage {
        map: "RXR[Immunization]",
        rows: rxa_immunization::RXR_ROWS,
    },
    SegmentCoverage {
        map: "ORC[Immunization]",
        rows: rxa_immunization::ORC_ROWS,
    },
];

/// A row mapped in `file`.
pub(crate) const fn mapped_in(
    file: &'static str,
    identifier: &'static str,
    fhir_attribute: &'static str,
) -> Row {
    Row {
        identifier,
        fhir_attribute,
        status: RowStatus::Mapped(file),
    }
}

/// A row deliberately not mapped, with the reason.
pub(crate) const fn unmapped(
    identifier: &'static str,
    fhir_attribute: &'static str,
    reason: &'static str,
) -> Row {
    Row {
        identifier,
        fhir_attribute,
        status: RowStatus::Unmapped(reason),
    }
}
