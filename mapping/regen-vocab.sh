#!/usr/bin/env bash
# Regenerates mapping/src/v2_to_fhir/vocab/generated/ from ../shared/v2-to-fhir/codesystems.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q -p ehrkit-mapping-vocabgen -- \
    --csv-dir "${EHRKIT_SHARED:-../shared}/v2-to-fhir/codesystems" \
    --out mapping/src/v2_to_fhir/vocab/generated
