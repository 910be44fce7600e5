//! The normalized demographic record the MPI matches on, and its builder.

use serde::{Deserialize, Serialize};

use super::normalize::{self, DayMonthOrder, PartialDate};

/// Kind of a person name (HL7 v2 table 0200 / FHIR `HumanName.use`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum NameType {
    /// Legal / official name (v2 `L`, FHIR `official`).
    #[default]
    Legal,
    /// Usual name (FHIR `usual`, v2 `D` display).
    Usual,
    /// Maiden or previous family name (v2 `M`, FHIR `maiden`/`old`).
    Maiden,
    /// Alias (v2 `A`, FHIR `anonymous`/`temp`).
    Alias,
    /// Nickname or call-me name (v2 `N`, FHIR `nickname`).
    Nickname,
    /// Any other code, kept as given.
    Other(String),
}

impl NameType {
    /// Maps an HL7 v2 table-0200 code (`L`, `D`, `M`, `A`, `N`, `B`, …).
    pub fn from_v2(code: &str) -> Self {
        match code.trim() {
            "" | "L" => Self::Legal,
            "D" | "U" => Self::Usual,
            "M" | "B" => Self::Maiden,
            "A" | "S" | "T" => Self::Alias,
            "N" => Self::Nickname,
            other => Self::Other(other.to_string()),
        }
    }
}

/// A person name as recorded (the matcher normalizes it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersonName {
    /// Family name(s) / surname.
    pub family: String,
    /// First given name.
    pub given: String,
    /// Middle names or initials.
    pub middle: Vec<String>,
    /// Prefixes (`Dr`, `Mrs`).
    pub prefix: Option<String>,
    /// Suffixes (`Jr`, `III`).
    pub suffix: Option<String>,
    /// Kind of name.
    pub name_type: NameType,
}

impl PersonName {
    /// A legal name with a family and a given name.
    pub fn new(family: impl Into<String>, given: impl Into<String>) -> Self {
        Self {
            family: family.into(),
            given: given.into(),
            ..Self::default()
        }
    }

    /// Sets the kind of name.
    pub fn name_type(mut self, t: NameType) -> Self {
        self.name_type = t;
        self
    }
}

/// Administrative sex (FHIR `AdministrativeGender`, v2 table 0001).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other.
    Other,
    /// Unknown.
    Unknown,
}

impl Sex {
    /// From a v2 (`F`/`M`/`O`/`U`/`A`/`N`) or FHIR (`female`/`male`/…) code; `None` when empty.
    pub fn from_code(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "" => None,
            "f" | "female" => Some(Self::Female),
            "m" | "male" => Some(Self::Male),
            "o" | "a" | "n" | "other" => Some(Self::Other),
            _ => Some(Self::Unknown),
        }
    }
}

/// A postal address as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    /// Street lines; the first usually starts with the house number (`"7 Wallaby Place"`).
    pub lines: Vec<String>,
    /// City / suburb / locality.
    pub city: String,
    /// State / province.
    pub state: String,
    /// Postcode / ZIP.
    pub postcode: String,
    /// Country.
    pub country: String,
    /// Address type code (`H` home, `M` mailing, …), when known.
    pub address_type: Option<String>,
}

/// Social security number, whole or only its last four digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Ssn {
    /// The full number (digits only).
    Full(String),
    /// Only the last four digits.
    LastFour(String),
}

impl Ssn {
    /// From free text: 4 digits = last four, more = full; `None` when fewer than 4 digits.
    pub fn parse(input: &str) -> Option<Self> {
        let d = normalize::digits(input);
        match d.len() {
            0..=3 => None,
            4 => Some(Self::LastFour(d)),
            _ => Some(Self::Full(d)),
        }
    }

    /// The digits as stored.
    pub fn digits(&self) -> &str {
        match self {
            Self::Full(d) | Self::LastFour(d) => d,
        }
    }

    /// The last four digits.
    pub fn last_four(&self) -> &str {
        let d = self.digits();
        &d[d.len().saturating_sub(4)..]
    }
}

/// A business identifier: (assigning authority / system, type code, value).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identifier {
    /// Assigning authority (v2 CX.4) or FHIR `Identifier.system`.
    pub authority: String,
    /// Identifier type (v2 table 0203: `MR`, `SS`, `DL`, …), empty when unknown.
    pub id_type: String,
    /// The value.
    pub value: String,
}

impl Identifier {
    /// A new identifier.
    pub fn new(
        authority: impl Into<String>,
        id_type: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        Self {
            authority: authority.into(),
            id_type: id_type.into(),
            value: value.into(),
        }
    }
}

/// The demographic record of one patient in one source system.
///
/// Fields hold values as recorded; normalization happens when the matcher extracts comparison
/// features. Build one with [`PatientRecord::builder`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PatientRecord {
    /// Caller's key for this record (unique within an index), e.g. `"EPIC|12345"` or `"rec-1-org"`.
    pub key: String,
    /// Names in preference order; the first legal/usual name is the primary one.
    pub names: Vec<PersonName>,
    /// Date of birth.
    pub birth_date: Option<PartialDate>,
    /// Alternative reading of an ambiguous date of birth (day and month swapped).
    pub birth_date_alt: Option<PartialDate>,
    /// Administrative sex.
    pub sex: Option<Sex>,
    /// Addresses, current first.
    pub addresses: Vec<Address>,
    /// Phone numbers as recorded.
    pub phones: Vec<String>,
    /// E-mail addresses as recorded.
    pub emails: Vec<String>,
    /// Social security number or its last four digits.
    pub ssn: Option<Ssn>,
    /// Business identifiers in the order given by the source (PID-3 repetition order).
    pub identifiers: Vec<Identifier>,
}

impl PatientRecord {
    /// Starts a builder for a record with the given key.
    pub fn builder(key: impl Into<String>) -> PatientRecordBuilder {
        PatientRecordBuilder {
            rec: Self {
                key: key.into(),
                ..Self::default()
            },
        }
    }

    /// The primary name: the first legal or usual name, else the first name.
    pub fn primary_name(&self) -> Option<&PersonName> {
        self.names
            .iter()
            .find(|n| matches!(n.name_type, NameType::Legal | NameType::Usual))
            .or_else(|| self.names.first())
    }
}

/// Builder for [`PatientRecord`].
#[derive(Debug, Clone)]
pub struct PatientRecordBuilder {
    rec: PatientRecord,
}

impl PatientRecordBuilder {
    /// Adds a legal name.
    pub fn name(mut self, family: &str, given: &str) -> Self {
        self.rec.names.push(PersonName::new(family, given));
        self
    }

    /// Adds a name of any type.
    pub fn person_name(mut self, name: PersonName) -> Self {
        self.rec.names.push(name);
        self
    }

    /// Sets the date of birth from text (see [`normalize::parse_date`], month-first for slash
    /// dates); an unparseable value leaves it unset, an ambiguous one records the alternative.
    pub fn birth_date_str(self, s: &str) -> Self {
        self.birth_date_str_ordered(s, DayMonthOrder::MonthFirst)
    }

    /// Like [`Self::birth_date_str`] with an explicit day/month order.
    pub fn birth_date_str_ordered(mut self, s: &str, order: DayMonthOrder) -> Self {
        if let Some(p) = normalize::parse_date(s, order) {
            self.rec.birth_date = Some(p.date);
            self.rec.birth_date_alt = p.transposed;
        }
        self
    }

    /// Sets the date of birth.
    pub fn birth_date(mut self, d: PartialDate) -> Self {
        self.rec.birth_date = Some(d);
        self
    }

    /// Sets the administrative sex.
    pub fn sex(mut self, s: Sex) -> Self {
        self.rec.sex = Some(s);
        self
    }

    /// Adds an address.
    pub fn address(mut self, a: Address) -> Self {
        self.rec.addresses.push(a);
        self
    }

    /// Adds a phone number.
    pub fn phone(mut self, p: &str) -> Self {
        self.rec.phones.push(p.to_string());
        self
    }

    /// Adds an e-mail address.
    pub fn email(mut self, e: &str) -> Self {
        self.rec.emails.push(e.to_string());
        self
    }

    /// Sets the SSN (full or last four) from text; fewer than four digits leaves it unset.
    pub fn ssn(mut self, s: &str) -> Self {
        self.rec.ssn = Ssn::parse(s);
        self
    }

    /// Adds an identifier.
    pub fn identifier(mut self, authority: &str, id_type: &str, value: &str) -> Self {
        self.rec
            .identifiers
            .push(Identifier::new(authority, id_type, value));
        self
    }

    /// Finishes the record.
    pub fn build(self) -> PatientRecord {
        self.rec
    }
}
