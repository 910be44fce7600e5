#!/usr/bin/env bash
# ehrkit-mapping: the committed vocabulary tables (mapping/src/v2_to_fhir/vocab/generated) match a
# fresh run of mapping/vocabgen on the IG's ConceptMap spreadsheets in ../shared/v2-to-fhir.
# Prints a notice and exits 0 when ../shared is absent.
set -euo pipefail
cd "$(dirname "$0")/../.."
shared="${EHRKIT_SHARED:-$PWD/../shared}"
csv="$shared/v2-to-fhir/codesystems"

if [ ! -d "$csv" ]; then
    echo "NOTICE: $csv absent; skipping the mapping generated-vocabulary check"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "mapping: regenerating the vocabulary into $tmp/generated"
cargo run --release -q -p ehrkit-mapping-vocabgen -- --csv-dir "$csv" --out "$tmp/generated"
if ! diff -r mapping/src/v2_to_fhir/vocab/generated "$tmp/generated"; then
    echo "ERROR: mapping/src/v2_to_fhir/vocab/generated is not what the generator writes; run mapping/regen-vocab.sh" >&2
    exit 1
fi
echo "mapping: generated vocabulary is up to date"
