#!/usr/bin/env bash
# fhir-model checks that need the FHIR R4 package (fetched with npm):
#  1. the committed generated code (and the generated [features]) match a fresh run of the generator;
#  2. the 5306 R4 examples round-trip with serde_json's arbitrary_precision, preserve_order and
#     float_roundtrip switched on in the same binary (fhir-model/serde-check, its own workspace).
# Prints a notice and exits 0 when npm cannot fetch the package.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
target="${CARGO_TARGET_DIR:-$root/target}"
spec="$target/fhir-spec"

if [ ! -f "$spec/package/package.json" ]; then
    mkdir -p "$spec"
    if ! command -v npm >/dev/null 2>&1 \
        || ! (cd "$spec" && npm pack hl7.fhir.r4.examples@4.0.1 >/dev/null 2>&1 \
              && tar xzf hl7.fhir.r4.examples-4.0.1.tgz); then
        echo "NOTICE: npm cannot fetch hl7.fhir.r4.examples@4.0.1; skipping the fhir-model generated-code and serde_json-features checks"
        exit 0
    fi
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "fhir-model: regenerating into $tmp/generated"
cargo run --release -q -p ehrkit-fhir-codegen -- --package "$spec/package" --out "$tmp/generated"
if ! diff -r fhir-model/src/generated "$tmp/generated"; then
    echo "ERROR: fhir-model/src/generated is not what the generator writes; run fhir-model/regen.sh" >&2
    exit 1
fi
# The [features] block of fhir-model/Cargo.toml is the generated features.toml.
block="$(sed -n '/^# BEGIN GENERATED FEATURES/,/^# END GENERATED FEATURES/p' fhir-model/Cargo.toml | sed '1d;$d')"
if [ "$block" != "$(tail -n +2 "$tmp/generated/features.toml")" ]; then
    echo "ERROR: the generated features in fhir-model/Cargo.toml differ from features.toml" >&2
    exit 1
fi
echo "fhir-model: generated code is up to date"

echo "fhir-model: round-trip with serde_json arbitrary_precision + preserve_order + float_roundtrip"
cargo run -q --manifest-path fhir-model/serde-check/Cargo.toml -- "$spec/package" | tail -3
