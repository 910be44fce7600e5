//! IG message maps (`messages/HL7 Message - FHIR R4_ ADT_A01 - Sheet1.csv` →
//! `message/adt_a01.rs`), one file per map. None is implemented yet.
