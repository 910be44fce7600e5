//! Generator of `ehrkit-mapping`'s vocabulary tables (`mapping/src/v2_to_fhir/vocab/generated/`)
//! from the HL7 Version 2 to FHIR IG's ConceptMap spreadsheets (`../shared/v2-to-fhir/codesystems/`,
//! one `HL7 Concept Map_ <Name> - Sheet1.csv` per map).
//!
//! Output is deterministic (files and rows in a fixed order, no timestamps) and formatted with
//! `rustfmt`. Run `mapping/regen-vocab.sh` (or this binary with `--out`) after the CSVs change;
//! CI (`.ci/extra/mapping-vocab.sh`) regenerates into a temporary folder and diffs.
//!
//! Every CSV has two header rows (a group row: `HL7 v2`, `Condition (IF True)`, `HL7 FHIR`,
//! `Comments`; and a column row). Columns are found by their names in the second row, because the
//! layout differs between files (with or without `Computable FHIRPath`, with or without the
//! unnamed "Proposed Extension" column, with or without `Comments`). Rows keep every non-empty
//! cell: a condition (ANTLR / FHIRPath / narrative) is kept with its row; a source code without a
//! target is kept as "the IG lists no equivalent"; a FHIR code without a source code is kept as
//! a target-only concept.
//!
//! Upstream spreadsheet defects are repaired by named [`Fixup`]s; each must apply at least once,
//! so a fixed spreadsheet makes the generator fail until the fixup is removed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    about = "Generate ehrkit-mapping's vocabulary tables from the v2-to-FHIR ConceptMap CSVs"
)]
struct Args {
    /// Folder of `HL7 Concept Map_ *.csv` files (`../shared/v2-to-fhir/codesystems`).
    #[arg(long)]
    csv_dir: PathBuf,
    /// CSV file name → IG ConceptMap id (defaults to the list beside this generator).
    #[arg(long)]
    ids: Option<PathBuf>,
    /// Output folder (created; existing `.rs` files in it are replaced).
    #[arg(long)]
    out: PathBuf,
}

/// Where a published ConceptMap of the IG lives (version-pinned).
const IG_BASE: &str = "https://hl7.org/fhir/uv/v2mappings/1.0.0";

/// A repair of a known upstream spreadsheet defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fixup {
    /// `PatientClass[EncounterClass]`: the FHIR display sits in the unnamed "Proposed Extension"
    /// column and the `Display` column is empty. The text is used as the display.
    DisplayInProposedColumn,
    /// `ParticipantOrganizationUnitType`: the FHIR `Code System` column holds the concept's
    /// definition, not a URI. The text is kept as the row's comment; the system is left empty.
    DefinitionInSystemColumn,
    /// `ProcessingMode` and `MessageStructure`: the v2 code system is written `HL0207` /
    /// `HL7-0354` instead of `HL70207` / `HL70354`.
    MisspelledTableName,
}

impl Fixup {
    const ALL: [Fixup; 3] = [
        Fixup::DisplayInProposedColumn,
        Fixup::DefinitionInSystemColumn,
        Fixup::MisspelledTableName,
    ];
}

/// Column positions of one CSV.
#[derive(Debug, Default)]
struct Columns {
    code: usize,
    text: usize,
    system: usize,
    antlr: Option<usize>,
    fhirpath: Option<usize>,
    narrative: Option<usize>,
    proposed: Option<usize>,
    target_code: usize,
    target_display: usize,
    target_system: usize,
    comment: Option<usize>,
}

#[derive(Debug, Clone, Default)]
struct Target {
    code: String,
    display: String,
    system: String,
}

#[derive(Debug, Clone, Default)]
struct Condition {
    antlr: String,
    fhirpath: String,
    narrative: String,
}

#[derive(Debug, Clone)]
struct Row {
    line: u64,
    code: String,
    display: String,
    system: String,
    target: Option<Target>,
    condition: Option<Condition>,
    comment: String,
}

#[derive(Debug)]
struct Map {
    /// `AdministrativeSex`, `AddressType[Use]`.
    name: String,
    file: String,
    ig_id: Option<String>,
    rows: Vec<Row>,
    target_only: Vec<(u64, Target, String)>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(n) => {
            eprintln!(
                "vocabgen: {n} ConceptMaps written to {}",
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vocabgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<usize, String> {
    let ids_path = args
        .ids
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("ig-conceptmap-ids.csv"));
    let ids = read_ids(&ids_path)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.csv_dir)
        .map_err(|e| format!("{}: {e}", args.csv_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "csv")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("HL7 Concept Map_ "))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no ConceptMap CSVs in {}", args.csv_dir.display()));
    }
    let mut applied: BTreeMap<Fixup, usize> = BTreeMap::new();
    let mut maps = Vec::new();
    for f in &files {
        maps.push(read_map(f, &ids, &mut applied)?);
    }
    for fx in Fixup::ALL {
        if !applied.contains_key(&fx) {
            return Err(format!(
                "fixup {fx:?} no longer applies to any CSV: remove it from the generator"
            ));
        }
    }
    let unused: Vec<&String> = ids
        .keys()
        .filter(|k| !maps.iter().any(|m| &m.file == *k))
        .collect();
    if !unused.is_empty() {
        return Err(format!(
            "ig-conceptmap-ids lists CSVs that are absent: {unused:?}"
        ));
    }
    // Unique module names.
    let mut seen = BTreeMap::new();
    for m in &maps {
        if let Some(other) = seen.insert(snake(&m.name), &m.name) {
            return Err(format!("{} and {other} give the same module name", m.name));
        }
    }

    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    for entry in std::fs::read_dir(&args.out).map_err(|e| e.to_string())? {
        let p = entry.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|x| x == "rs") {
            std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    let mut written = Vec::new();
    for m in &maps {
        let p = args.out.join(format!("{}.rs", snake(&m.name)));
        std::fs::write(&p, emit_map(m)).map_err(|e| format!("{}: {e}", p.display()))?;
        written.push(p);
    }
    let p = args.out.join("mod.rs");
    std::fs::write(&p, emit_mod(&maps, &applied)).map_err(|e| format!("{}: {e}", p.display()))?;
    written.push(p);
    rustfmt(&written)?;
    Ok(maps.len())
}

fn read_ids(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut rdr = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{}: {e}", path.display()))?;
        let (Some(file), Some(id)) = (rec.get(0), rec.get(1)) else {
            return Err(format!("{}: a row without two columns", path.display()));
        };
        out.insert(file.to_owned(), id.to_owned());
    }
    Ok(out)
}

fn map_name(file: &str) -> Option<&str> {
    file.strip_prefix("HL7 Concept Map_ ")?
        .strip_suffix(".csv")?
        .rsplit_once(" - ")
        .map(|(name, _sheet)| name.trim())
}

fn read_map(
    path: &Path,
    ids: &BTreeMap<String, String>,
    applied: &mut BTreeMap<Fixup, usize>,
) -> Result<Map, String> {
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: file name is not UTF-8", path.display()))?
        .to_owned();
    let name = map_name(&file)
        .ok_or_else(|| format!("{file}: not named `HL7 Concept Map_ <Name> - <Sheet>.csv`"))?
        .to_owned();
    let bytes = std::fs::read(path).map_err(|e| format!("{file}: {e}"))?;
    // Line numbers from byte offsets. After a CRLF the reader places the next record at the LF
    // (and counts its lines one short), so the line breaks before the record are skipped first.
    let line_at = |byte: u64| {
        let mut end = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
        while end < bytes.len() && matches!(bytes[end], b'\r' | b'\n') {
            end += 1;
        }
        1 + bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let mut records = Vec::new();
    for rec in rdr.records() {
        records.push(rec.map_err(|e| format!("{file}: {e}"))?);
    }
    if records.len() < 2 {
        return Err(format!("{file}: fewer than the two header rows"));
    }
    let cols = columns(&file, &records[0], &records[1])?;
    let mut rows = Vec::new();
    let mut target_only = Vec::new();
    for rec in &records[2..] {
        let line = rec.position().map(|p| line_at(p.byte())).unwrap_or(0);
        let cell = |i: usize| rec.get(i).unwrap_or("").trim().to_owned();
        let opt = |i: Option<usize>| i.map(cell).unwrap_or_default();
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let mut comment = opt(cols.comment);
        let mut target = Target {
            code: cell(cols.target_code),
            display: cell(cols.target_display),
            system: cell(cols.target_system),
        };
        let proposed = opt(cols.proposed);
        if !proposed.is_empty() {
            if !target.code.is_empty() && target.display.is_empty() {
                target.display = proposed;
                *applied.entry(Fixup::DisplayInProposedColumn).or_default() += 1;
            } else {
                push_note(&mut comment, &format!("Proposed: {proposed}"));
            }
        }
        if !target.system.is_empty() && !target.system.contains(':') {
            push_note(&mut comment, &target.system);
            target.system.clear();
            *applied.entry(Fixup::DefinitionInSystemColumn).or_default() += 1;
        }
        let mut system = cell(cols.system);
        if let Some(fixed) = fix_table_name(&system) {
            system = fixed;
            *applied.entry(Fixup::MisspelledTableName).or_default() += 1;
        }
        let condition = Condition {
            antlr: opt(cols.antlr),
            fhirpath: opt(cols.fhirpath),
            narrative: opt(cols.narrative),
        };
        let has_condition = !condition_is_empty(&condition);
        let code = cell(cols.code);
        let has_target = !target.code.is_empty();
        // A row without a v2 code, text or system lists a FHIR code no v2 code maps to. (A row
        // with text but an empty code is the v2 table's own empty-code entry, kept as such.)
        if code.is_empty() && cell(cols.text).is_empty() && system.is_empty() {
            if has_condition {
                return Err(format!(
                    "{file} line {line}: a condition on a row without a v2 code"
                ));
            }
            if has_target || !comment.is_empty() {
                // A proposed FHIR code (in the unnamed column) has an empty code and a comment.
                target_only.push((line, target, comment));
            } else if !(target.display.is_empty() && condition_is_empty(&condition)) {
                return Err(format!(
                    "{file} line {line}: a row with neither a v2 code nor a FHIR code"
                ));
            }
            // Otherwise only a FHIR code system was filled down into an empty row: nothing to keep.
            continue;
        }
        rows.push(Row {
            line,
            code,
            display: cell(cols.text),
            system,
            target: has_target.then_some(target),
            condition: has_condition.then_some(condition),
            comment,
        });
    }
    // Binary-searchable by code; the CSV order is kept among equal codes.
    rows.sort_by(|a, b| a.code.cmp(&b.code).then(a.line.cmp(&b.line)));
    Ok(Map {
        ig_id: ids.get(&file).cloned(),
        name,
        file,
        rows,
        target_only,
    })
}

fn condition_is_empty(c: &Condition) -> bool {
    c.antlr.is_empty() && c.fhirpath.is_empty() && c.narrative.is_empty()
}

fn push_note(comment: &mut String, note: &str) {
    if !comment.is_empty() {
        comment.push_str(" | ");
    }
    comment.push_str(note);
}

/// `HL0207` → `HL70207`, `HL7-0354` → `HL70354`.
fn fix_table_name(system: &str) -> Option<String> {
    let digits = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = system.strip_prefix("HL7-") {
        return digits(rest).then(|| format!("HL7{rest}"));
    }
    if let Some(rest) = system.strip_prefix("HL0") {
        return digits(&format!("0{rest}")).then(|| format!("HL70{rest}"));
    }
    None
}

fn columns(
    file: &str,
    group: &csv::StringRecord,
    head: &csv::StringRecord,
) -> Result<Columns, String> {
    let names: Vec<String> = head.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let all = |n: &str| -> Vec<usize> {
        names
            .iter()
            .enumerate()
            .filter(|(_, h)| h.as_str() == n)
            .map(|(i, _)| i)
            .collect()
    };
    let codes = all("code");
    let systems = all("code system");
    let (&[code, target_code], &[system, target_system]) = (codes.as_slice(), systems.as_slice())
    else {
        return Err(format!(
            "{file}: expected two `Code` and two `Code System` columns in the second header row"
        ));
    };
    let one = |n: &str| all(n).first().copied();
    let text = one("text").ok_or_else(|| format!("{file}: no `Text` column"))?;
    let target_display = one("display").ok_or_else(|| format!("{file}: no `Display` column"))?;
    let antlr = one("computable antlr").or_else(|| one("computable"));
    let fhirpath = one("computable fhirpath");
    let narrative = one("narrative");
    // The unnamed column between the FHIR code and its display ("Proposed Extension" in the IG).
    let proposed = (target_code + 1 < target_display && names[target_code + 1].is_empty())
        .then_some(target_code + 1);
    let comment = group
        .iter()
        .position(|h| h.trim().to_ascii_lowercase().starts_with("comment"));
    Ok(Columns {
        code,
        text,
        system,
        antlr,
        fhirpath,
        narrative,
        proposed,
        target_code,
        target_display,
        target_system,
        comment,
    })
}

/// `AddressType[Use]` → `address_type_use`; `VIPIndicator` → `vip_indicator`.
fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && i > 0 {
                let prev = chars[i - 1];
                let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
                if prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next_lower)
                {
                    out.push('_');
                }
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// Escapes text for rustdoc (square brackets and angle brackets would be read as links/HTML).
fn doc_text(s: &str) -> String {
    s.replace('[', "\\[")
        .replace(']', "\\]")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn emit_map(m: &Map) -> String {
    let konst = snake(&m.name).to_ascii_uppercase();
    // The most frequent v2 code system (ties: first seen) becomes `S`.
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in &m.rows {
        match counts.iter_mut().find(|(s, _)| *s == r.system) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.system.clone(), 1)),
        }
    }
    let source_system = counts
        .iter()
        .fold(None::<&(String, usize)>, |best, c| match best {
            Some(b) if b.1 >= c.1 => Some(b),
            _ => Some(c),
        })
        .map(|(s, _)| s.clone())
        .unwrap_or_default();
    // FHIR systems as T0, T1... in order of first appearance.
    let mut targets: Vec<String> = Vec::new();
    let all_targets = m
        .rows
        .iter()
        .filter_map(|r| r.target.as_ref())
        .chain(m.target_only.iter().map(|(_, t, _)| t));
    for t in all_targets {
        if !targets.contains(&t.system) {
            targets.push(t.system.clone());
        }
    }
    let sys = |s: &str| -> String {
        if s == source_system {
            "S".into()
        } else {
            lit(s)
        }
    };
    let tsys = |s: &str| -> String {
        match targets.iter().position(|t| t == s) {
            Some(i) => format!("T{i}"),
            None => lit(s),
        }
    };
    let concept = |t: &Target| {
        format!(
            "t({}, {}, {})",
            lit(&t.code),
            lit(&t.display),
            tsys(&t.system)
        )
    };

    let mut s = String::new();
    let title = doc_text(&m.name);
    let table = if source_system.is_empty() {
        "(no v2 codes listed)".to_owned()
    } else {
        format!("v2 table {source_system}")
    };
    let _ = writeln!(s, "//! `{title}`: HL7 {table} → FHIR.");
    let _ = writeln!(s, "//!");
    match &m.ig_id {
        Some(id) => {
            let _ = writeln!(
                s,
                "//! IG ConceptMap [`{id}`]({IG_BASE}/ConceptMap-{id}.html)."
            );
        }
        None => {
            let _ = writeln!(
                s,
                "//! Not published as a ConceptMap by IG 1.0.0; only the spreadsheet exists."
            );
        }
    }
    let _ = writeln!(s, "//!");
    let _ = writeln!(
        s,
        "//! Generated by `ehrkit-mapping-vocabgen` from `{}`. Do not edit.",
        doc_text(&m.file)
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "#[allow(unused_imports)]");
    let _ = writeln!(s, "use crate::v2_to_fhir::vocab::{{c, e, t, ConceptMap}};");
    let _ = writeln!(s);
    let _ = writeln!(s, "const S: &str = {};", lit(&source_system));
    for (i, t) in targets.iter().enumerate() {
        let _ = writeln!(s, "const T{i}: &str = {};", lit(t));
    }
    let _ = writeln!(s);
    let mapped = m.rows.iter().filter(|r| r.target.is_some()).count();
    let conditional = m.rows.iter().filter(|r| r.condition.is_some()).count();
    let _ = writeln!(s, "/// `{title}` ({table}).");
    let _ = writeln!(s, "///");
    let _ = writeln!(
        s,
        "/// {} v2 codes ({mapped} with a FHIR code, {conditional} conditional); {} FHIR codes \
         without a v2 source.",
        m.rows.len(),
        m.target_only.len()
    );
    if let Some(id) = &m.ig_id {
        let _ = writeln!(s, "/// IG: <{IG_BASE}/ConceptMap-{id}.html>");
    }
    let _ = writeln!(s, "pub static {konst}: ConceptMap = ConceptMap {{");
    let _ = writeln!(s, "    name: {},", lit(&m.name));
    let _ = writeln!(s, "    csv_file: {},", lit(&m.file));
    match &m.ig_id {
        Some(id) => {
            let _ = writeln!(s, "    ig_id: Some({}),", lit(id));
        }
        None => {
            let _ = writeln!(s, "    ig_id: None,");
        }
    }
    let _ = writeln!(s, "    source_system: S,");
    let _ = writeln!(s, "    entries: &[");
    for r in &m.rows {
        let target = r
            .target
            .as_ref()
            .map_or_else(|| "None".to_owned(), |t| format!("Some({})", concept(t)));
        let condition = r.condition.as_ref().map_or_else(
            || "None".to_owned(),
            |c| {
                format!(
                    "Some(c({}, {}, {}))",
                    lit(&c.antlr),
                    lit(&c.fhirpath),
                    lit(&c.narrative)
                )
            },
        );
        let _ = writeln!(
            s,
            "        e({}, {}, {}, {}, {target}, {condition}, {}),",
            r.line,
            lit(&r.code),
            lit(&r.display),
            sys(&r.system),
            lit(&r.comment)
        );
    }
    let _ = writeln!(s, "    ],");
    let _ = writeln!(s, "    target_only: &[");
    for (line, t, comment) in &m.target_only {
        let _ = writeln!(s, "        ({line}, {}, {}),", concept(t), lit(comment));
    }
    let _ = writeln!(s, "    ],");
    let _ = writeln!(s, "}};");
    s
}

fn emit_mod(maps: &[Map], applied: &BTreeMap<Fixup, usize>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "//! The {} vocabulary ConceptMaps of the HL7 v2-to-FHIR IG 1.0.0, one module per map.",
        maps.len()
    );
    let _ = writeln!(s, "//!");
    let _ = writeln!(
        s,
        "//! Generated by `ehrkit-mapping-vocabgen` from `../shared/v2-to-fhir/codesystems/*.csv`. \
         Do not edit."
    );
    let _ = writeln!(s, "//!");
    let _ = writeln!(s, "//! Spreadsheet repairs applied (rows):");
    for (fx, n) in applied {
        let _ = writeln!(s, "//! - `{fx:?}`: {n}");
    }
    let _ = writeln!(s);
    for m in maps {
        let _ = writeln!(s, "mod {};", snake(&m.name));
    }
    let _ = writeln!(s);
    for m in maps {
        let sn = snake(&m.name);
        let _ = writeln!(s, "pub use {sn}::{};", sn.to_ascii_uppercase());
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "/// Every map, sorted by name.");
    let _ = writeln!(
        s,
        "pub static ALL: &[&crate::v2_to_fhir::vocab::ConceptMap] = &["
    );
    let mut sorted: Vec<&Map> = maps.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for m in sorted {
        let _ = writeln!(s, "    &{},", snake(&m.name).to_ascii_uppercase());
    }
    let _ = writeln!(s, "];");
    s
}

fn rustfmt(files: &[PathBuf]) -> Result<(), String> {
    let status = std::process::Command::new("rustfmt")
        .arg("--edition")
        .arg("2021")
        .args(files)
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        other => Err(format!("rustfmt failed: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_names() {
        assert_eq!(snake("AddressType[Use]"), "address_type_use");
        assert_eq!(snake("VIPIndicator"), "vip_indicator");
        assert_eq!(
            snake("ResultStatus[Non-Queries]"),
            "result_status_non_queries"
        );
        assert_eq!(
            snake("DiagnosticServiceSectionID"),
            "diagnostic_service_section_id"
        );
        assert_eq!(
            snake("AllergySeverity[AllergyIntolerance.criticality-original]"),
            "allergy_severity_allergy_intolerance_criticality_original"
        );
    }

    #[test]
    fn names_from_files() {
        assert_eq!(
            map_name("HL7 Concept Map_ AdministrativeSex - Sheet1.csv"),
            Some("AdministrativeSex")
        );
        assert_eq!(map_name("other.csv"), None);
    }

    fn read_csv(name: &str, text: &str) -> (Result<Map, String>, BTreeMap<Fixup, usize>) {
        let dir = std::env::temp_dir().join(format!("vocabgen-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("HL7 Concept Map_ {name} - Sheet1.csv"));
        std::fs::write(&path, text).unwrap();
        let mut applied = BTreeMap::new();
        let map = read_map(&path, &BTreeMap::new(), &mut applied);
        std::fs::remove_file(&path).unwrap();
        (map, applied)
    }

    #[test]
    fn twelve_column_layout_with_conditions_and_target_only_rows() {
        let (m, applied) = read_csv(
            "Demo[X]",
            "HL7 v2,,,Condition (IF True),,,HL7 FHIR,,,,,Comments\r\n\
             Code,Text,Code System,Computable ANTLR,Computable FHIRPath,Narrative,Code,,Display,Code System,,\r\n\
             B,Bee,HL7-0999,,,,b,,Bee,http://x.test/cs,,\r\n\
             A,\"Ay, with a comma\",HL70999,IF NOT MAPPED ERROR,,,,,,,,needs review\r\n\
             ,,,,,,c,,See,http://x.test/cs,,only in FHIR\r\n\
             ,,,,,,,,,http://x.test/cs,,\r\n",
        );
        let m = m.unwrap();
        assert_eq!(m.name, "Demo[X]");
        let codes: Vec<_> = m.rows.iter().map(|r| (r.code.as_str(), r.line)).collect();
        assert_eq!(codes, [("A", 4), ("B", 3)]);
        assert_eq!(
            m.rows[0].condition.as_ref().unwrap().antlr,
            "IF NOT MAPPED ERROR"
        );
        assert_eq!(m.rows[0].comment, "needs review");
        assert_eq!(m.rows[1].system, "HL70999");
        assert_eq!(m.target_only.len(), 1);
        assert_eq!(m.target_only[0].0, 5);
        assert_eq!(applied.get(&Fixup::MisspelledTableName), Some(&1));
    }

    #[test]
    fn eight_column_layout_and_description_in_system_column() {
        let (m, applied) = read_csv(
            "Demo8",
            "HL7 v2,,,Condition (IF TRUE),,HL7 FHIR,,\n\
             Code,Text,Code System,Computable,Narrative,Code,Display,Code System\n\
             H,Home,HL70406,,,,,\n\
             ,,,,,ins,Insurance,A company that insures.\n",
        );
        let m = m.unwrap();
        assert!(m.rows[0].target.is_none());
        let (_, t, comment) = &m.target_only[0];
        assert_eq!((t.code.as_str(), t.system.as_str()), ("ins", ""));
        assert_eq!(comment, "A company that insures.");
        assert_eq!(applied.get(&Fixup::DefinitionInSystemColumn), Some(&1));
    }

    #[test]
    fn a_file_without_the_columns_is_refused_with_its_name() {
        let (m, _) = read_csv("Broken", "a,b\nc,d\n");
        let e = m.unwrap_err();
        assert!(e.contains("HL7 Concept Map_ Broken - Sheet1.csv"), "{e}");
    }

    #[test]
    fn table_names() {
        assert_eq!(fix_table_name("HL0207").as_deref(), Some("HL70207"));
        assert_eq!(fix_table_name("HL7-0354").as_deref(), Some("HL70354"));
        assert_eq!(fix_table_name("HL70001"), None);
        assert_eq!(fix_table_name("HL0x"), None);
    }
}
