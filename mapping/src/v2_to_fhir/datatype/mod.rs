//! IG datatype maps (`CX[Identifier]` → `datatype/cx_identifier.rs`), one file per map, each
//! opening with the map's name and IG link
//! (`https://hl7.org/fhir/uv/v2mappings/1.0.0/ConceptMap-datatype-cx-to-identifier.html`).
//! None is implemented yet.
