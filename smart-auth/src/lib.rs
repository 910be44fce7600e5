//! SMART App Launch 2 and Backend Services authorization for many EHRs at once.
//!
//! Work in progress: see the workspace README.
