#!/usr/bin/env bash
# Regenerates src/generated from the FHIR R4 package.
# Usage: fhir-model/regen.sh [PACKAGE_DIR] [OUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pkg="${1:-}"
out="${2:-$here/src/generated}"
if [ -z "$pkg" ]; then
    dl="${CARGO_TARGET_DIR:-$here/../target}/fhir-spec"
    if [ ! -d "$dl/package" ]; then
        mkdir -p "$dl"
        (cd "$dl" && npm pack hl7.fhir.r4.examples@4.0.1 >/dev/null && tar xzf hl7.fhir.r4.examples-4.0.1.tgz)
    fi
    pkg="$dl/package"
fi
cargo run --release -q -p ehrkit-fhir-codegen -- --package "$pkg" --out "$out"
