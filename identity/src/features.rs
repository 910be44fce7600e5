//! Per-record comparison features, computed once per record: normalized bytes, hashes, phonetic
//! keys, nickname groups, character masks, dates as numbers. The scoring loop only reads these.

use serde::{Deserialize, Serialize};

use super::compare::char_mask;
use super::normalize;
use super::record::{NameType, PatientRecord};

/// A demographic field the matcher can compare or block on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Field {
    /// First given name (normalized, words joined).
    GivenName,
    /// Family name (particles dropped); maiden/previous names are alternates.
    FamilyName,
    /// Middle names joined.
    MiddleName,
    /// Date of birth (`YYYYMMDD` digits); an ambiguous transposed reading is an alternate.
    BirthDate,
    /// Administrative sex.
    Sex,
    /// SSN digits (full); last-four-only records compare on the last four.
    Ssn,
    /// House number: leading number of the first address line.
    StreetNumber,
    /// Rest of the first address line.
    StreetName,
    /// Second address line (building, locality).
    AddressLine2,
    /// City / suburb.
    City,
    /// State / province.
    State,
    /// Postcode.
    Postcode,
    /// Phone, canonical digits; further phones are alternates.
    Phone,
    /// E-mail, lower-cased; further e-mails are alternates.
    Email,
}

impl Field {
    /// All fields, in declaration order.
    pub const ALL: [Field; 14] = [
        Field::GivenName,
        Field::FamilyName,
        Field::MiddleName,
        Field::BirthDate,
        Field::Sex,
        Field::Ssn,
        Field::StreetNumber,
        Field::StreetName,
        Field::AddressLine2,
        Field::City,
        Field::State,
        Field::Postcode,
        Field::Phone,
        Field::Email,
    ];

    /// Short lower-case name used in explanations.
    pub fn name(self) -> &'static str {
        match self {
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::MiddleName => "middle_name",
            Field::BirthDate => "birth_date",
            Field::Sex => "sex",
            Field::Ssn => "ssn",
            Field::StreetNumber => "street_number",
            Field::StreetName => "street_name",
            Field::AddressLine2 => "address_line2",
            Field::City => "city",
            Field::State => "state",
            Field::Postcode => "postcode",
            Field::Phone => "phone",
            Field::Email => "email",
        }
    }
}

/// Comparison features of one value. `Copy`, 56 bytes; text lives in the store's arena.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cell {
    pub off: u32,
    pub len: u16,
    pub null: bool,
    /// Number of alternate cells (in `FeatureStore::alts`, starting at `alt_start`).
    pub alt_len: u8,
    pub alt_start: u32,
    pub hash: u64,
    pub mask: u64,
    pub ph1: u32,
    pub ph2: u32,
    /// Packed date `YYYYMMDD` or small number; 0 when none.
    pub num: u32,
    /// Day number for full dates, else `i32::MIN`.
    pub days: i32,
    /// Nickname groups, `u16::MAX` = none.
    pub nick: [u16; 3],
    /// Term frequency of the value (0 = unknown).
    pub tf: f32,
}

/// FNV-1a 64-bit hash; never returns 0 for non-empty input (0 means "no key").
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h | 1
}

fn hash32(s: &str) -> u32 {
    if s.is_empty() {
        0
    } else {
        (hash_bytes(s.as_bytes()) >> 32) as u32 | 1
    }
}

/// Normalized values of one record for one field: primary first, then alternates.
pub(crate) fn field_values(rec: &PatientRecord, field: Field) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    match field {
        Field::GivenName => {
            if let Some(n) = rec.primary_name() {
                push(normalize::given_name(&n.given));
            }
            for n in &rec.names {
                if matches!(
                    n.name_type,
                    NameType::Nickname | NameType::Usual | NameType::Alias
                ) {
                    push(normalize::given_name(&n.given));
                }
            }
        }
        Field::FamilyName => {
            if let Some(n) = rec.primary_name() {
                push(normalize::family_name(&n.family));
            }
            for n in &rec.names {
                push(normalize::family_name(&n.family));
            }
        }
        Field::MiddleName => {
            if let Some(n) = rec.primary_name() {
                let m: String = n.middle.iter().map(|m| normalize::given_name(m)).collect();
                push(m);
            }
        }
        Field::BirthDate => {
            if let Some(d) = rec.birth_date {
                push(format!("{:08}", d.packed()));
            }
            if let Some(d) = rec.birth_date_alt {
                push(format!("{:08}", d.packed()));
            }
        }
        Field::Sex => {
            if let Some(s) = rec.sex {
                push(format!("{s:?}").to_ascii_lowercase());
            }
        }
        Field::Ssn => {
            if let Some(s) = &rec.ssn {
                push(s.digits().to_string());
            }
        }
        Field::StreetNumber | Field::StreetName => {
            for a in &rec.addresses {
                let line = a
                    .lines
                    .first()
                    .map(|l| normalize::fold(l))
                    .unwrap_or_default();
                let (num, rest) = split_house_number(&line);
                push(if field == Field::StreetNumber {
                    num
                } else {
                    rest
                });
            }
        }
        Field::AddressLine2 => {
            for a in &rec.addresses {
                push(
                    a.lines
                        .get(1)
                        .map(|l| normalize::fold(l))
                        .unwrap_or_default(),
                );
            }
        }
        Field::City => {
            for a in &rec.addresses {
                push(normalize::fold(&a.city));
            }
        }
        Field::State => {
            for a in &rec.addresses {
                push(normalize::fold(&a.state));
            }
        }
        Field::Postcode => {
            for a in &rec.addresses {
                push(
                    normalize::postcode(&a.postcode)
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                );
            }
        }
        Field::Phone => {
            for p in &rec.phones {
                push(normalize::phone(p).unwrap_or_default());
            }
        }
        Field::Email => {
            for e in &rec.emails {
                push(normalize::email(e).unwrap_or_default());
            }
        }
    }
    out
}

/// Splits `"12a wallaby place"` into `("12a", "wallaby place")`; no leading number → `("", line)`.
fn split_house_number(line: &str) -> (String, String) {
    let mut words = line.splitn(2, ' ');
    let first = words.next().unwrap_or("");
    if first.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        (first.to_string(), words.next().unwrap_or("").to_string())
    } else {
        (String::new(), line.to_string())
    }
}

/// Identifier features of a record: (authority hash, type hash, value hash), sorted.
pub(crate) type IdKey = (u64, u64, u64);

/// Columnar comparison features of a set of records (one row per record, one cell per field).
#[derive(Debug, Clone, Default)]
pub struct FeatureStore {
    pub(crate) fields: Vec<Field>,
    pub(crate) cells: Vec<Cell>,
    pub(crate) alts: Vec<Cell>,
    pub(crate) arena: Vec<u8>,
    pub(crate) ids: Vec<IdKey>,
    /// Per record: range in `ids`.
    pub(crate) id_spans: Vec<(u32, u16)>,
    rows: usize,
}

impl FeatureStore {
    /// An empty store for these fields.
    pub fn new(fields: Vec<Field>) -> Self {
        Self {
            fields,
            ..Self::default()
        }
    }

    /// Builds the features of all records.
    pub fn from_records(fields: Vec<Field>, records: &[PatientRecord]) -> Self {
        let mut s = Self::new(fields);
        s.cells.reserve(records.len() * s.fields.len());
        for r in records {
            s.push(r);
        }
        s
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no record was added.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The fields, in column order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Appends one record's features; returns its row.
    pub fn push(&mut self, rec: &PatientRecord) -> usize {
        for fi in 0..self.fields.len() {
            let values = field_values(rec, self.fields[fi]);
            let mut cell = self.make_cell(values.first().map(String::as_str), self.fields[fi]);
            if values.len() > 1 {
                cell.alt_start = u32::try_from(self.alts.len()).unwrap_or(u32::MAX);
                let n = (values.len() - 1).min(8);
                cell.alt_len = n as u8;
                for v in &values[1..=n] {
                    let c = self.make_cell(Some(v), self.fields[fi]);
                    self.alts.push(c);
                }
            }
            self.cells.push(cell);
        }
        let start = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        let mut ids: Vec<IdKey> = rec
            .identifiers
            .iter()
            .filter(|i| !i.value.trim().is_empty())
            .map(|i| {
                (
                    hash_bytes(normalize::fold(&i.authority).as_bytes()),
                    hash_bytes(normalize::fold(&i.id_type).as_bytes()),
                    hash_bytes(i.value.trim().as_bytes()),
                )
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let n = u16::try_from(ids.len()).unwrap_or(u16::MAX);
        self.ids.extend(ids.into_iter().take(usize::from(n)));
        self.id_spans.push((start, n));
        self.rows += 1;
        self.rows - 1
    }

    fn make_cell(&mut self, value: Option<&str>, field: Field) -> Cell {
        let Some(v) = value.filter(|v| !v.is_empty()) else {
            return Cell {
                null: true,
                days: i32::MIN,
                nick: [u16::MAX; 3],
                ..Cell::default()
            };
        };
        let bytes = v.as_bytes();
        let len = bytes.len().min(usize::from(u16::MAX));
        let off = u32::try_from(self.arena.len()).unwrap_or(u32::MAX);
        self.arena.extend_from_slice(&bytes[..len]);
        let mut cell = Cell {
            off,
            len: len as u16,
            null: false,
            hash: hash_bytes(&bytes[..len]),
            mask: char_mask(bytes),
            days: i32::MIN,
            nick: [u16::MAX; 3],
            ..Cell::default()
        };
        match field {
            Field::GivenName
            | Field::FamilyName
            | Field::MiddleName
            | Field::City
            | Field::StreetName => {
                let (p, a) = normalize::double_metaphone(v);
                cell.ph1 = hash32(&p);
                cell.ph2 = hash32(&a);
                if field == Field::GivenName {
                    for (slot, g) in cell.nick.iter_mut().zip(normalize::nickname_groups(v)) {
                        *slot = *g;
                    }
                }
            }
            Field::BirthDate => {
                if let Ok(n) = v.parse::<u32>() {
                    cell.num = n;
                    if let Some(days) = normalize::PartialDate::from_packed(n)
                        .and_then(|d| d.days_from_common_era())
                    {
                        cell.days = days;
                    }
                }
            }
            _ => {}
        }
        cell
    }

    #[inline]
    pub(crate) fn cell(&self, row: usize, col: usize) -> &Cell {
        &self.cells[row * self.fields.len() + col]
    }

    #[inline]
    pub(crate) fn text(&self, c: &Cell) -> &[u8] {
        &self.arena[c.off as usize..c.off as usize + usize::from(c.len)]
    }

    pub(crate) fn alts_of(&self, c: &Cell) -> &[Cell] {
        &self.alts[c.alt_start as usize..c.alt_start as usize + usize::from(c.alt_len)]
    }

    pub(crate) fn ids_of(&self, row: usize) -> &[IdKey] {
        let (s, n) = self.id_spans[row];
        &self.ids[s as usize..s as usize + usize::from(n)]
    }

    /// Normalized primary value of a field for a record (for explanations and debugging).
    pub fn value(&self, row: usize, field: Field) -> Option<&str> {
        let col = self.fields.iter().position(|f| *f == field)?;
        let c = self.cell(row, col);
        if c.null {
            None
        } else {
            std::str::from_utf8(self.text(c)).ok()
        }
    }

    /// Sets the term frequency of every primary cell of column `col` from `freq` (keyed by hash).
    pub(crate) fn apply_tf(
        &mut self,
        col: usize,
        freq: &std::collections::HashMap<u64, f32>,
        floor: f32,
        first_row: usize,
    ) {
        let nf = self.fields.len();
        for row in first_row..self.rows {
            let c = &mut self.cells[row * nf + col];
            if !c.null {
                c.tf = freq.get(&c.hash).copied().unwrap_or(floor);
            }
        }
    }
}
