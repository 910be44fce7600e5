//! Composite datatypes: HD, EI, EIP, CX, XPN (FN), XAD (SAD), XTN, XCN, XON, CWE/CE/CNE, PL, MSG,
//! PT, VID, TS, DR, SN, CQ, MO, ED, CF, CNN, DLD, DLN, NR, PLN, RP, RI, NDL, SPS, TQ, OG, NA.

use super::{DatatypeError, Dtm, FromPart, FromRaw, Level, Parts, Text, View};
use crate::{Charset, Delimiters};

/// Defines a composite view: the struct, its common methods and one accessor per component.
macro_rules! composite {
    (
        $(#[$meta:meta])*
        $name:ident, $code:literal {
            $( $idx:literal $acc:ident : $kind:ident, $doc:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name<'a> {
            parts: Parts<'a>,
        }

        impl<'a> $name<'a> {
            #[doc = concat!("A ", $code, " view of `raw` (one field repetition, still escaped), \
                             components split on the component separator when read.")]
            pub fn parse(raw: &'a [u8], delims: &Delimiters) -> Self {
                Self { parts: Parts::new(raw, *delims, Level::Field) }
            }

            #[doc = concat!("A ", $code, " view of `raw` that sits inside a component of another \
                             type: its parts are split on the subcomponent separator.")]
            pub fn parse_in_component(raw: &'a [u8], delims: &Delimiters) -> Self {
                Self { parts: Parts::new(raw, *delims, Level::Component) }
            }

            /// The whole value as written.
            pub fn raw(&self) -> &'a [u8] {
                self.parts.raw
            }

            /// True for the HL7 null `""` given for the whole value.
            pub fn is_null(&self) -> bool {
                self.parts.raw == b"\"\""
            }

            /// True when nothing is written.
            pub fn is_empty(&self) -> bool {
                self.parts.raw.is_empty()
            }

            /// Number of components written (trailing empty ones included).
            pub fn component_count(&self) -> usize {
                self.parts.count()
            }

            /// Raw component `n` (1-based): `None` when absent, `Some(b"")` when empty.
            pub fn component_raw(&self, n: usize) -> Option<&'a [u8]> {
                self.parts.get(n)
            }

            /// Component `n` (1-based) as text; `None` when absent or empty.
            pub fn component(&self, n: usize) -> Option<Text<'a>> {
                self.parts.child(n)
            }

            $(
                #[doc = concat!($code, ".", stringify!($idx), " ", $doc, ".")]
                pub fn $acc(&self) -> Option<$kind<'a>> {
                    self.parts.child($idx)
                }
            )*
        }

        impl<'a> FromRaw<'a> for $name<'a> {
            /// Never fails: components are read on demand.
            fn from_raw(raw: &'a [u8], delims: &Delimiters) -> Result<Self, DatatypeError> {
                Ok(Self::parse(raw, delims))
            }
            fn from_raw_in(
                raw: &'a [u8],
                delims: &Delimiters,
                charset: Charset,
            ) -> Result<Self, DatatypeError> {
                Ok(<Self as View<'a>>::view(raw, delims, charset))
            }
        }

        impl super::sealed::Sealed for $name<'_> {}

        impl<'a> View<'a> for $name<'a> {
            const CODE: &'static str = $code;
            fn view(raw: &'a [u8], delims: &Delimiters, charset: Charset) -> Self {
                Self { parts: Parts::with_charset(raw, *delims, charset, Level::Field) }
            }
        }

        impl<'a> FromPart<'a> for $name<'a> {
            fn from_part(parts: Parts<'a>) -> Self {
                Self { parts }
            }
        }
    };
}

composite! {
    /// Hierarchic designator (HD): an assigning authority, application or facility.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Hd;
    ///
    /// let hd = Hd::parse(b"LAB^2.16.840.1.113883.3.72^ISO", &Delimiters::default());
    /// assert_eq!(hd.namespace_id().unwrap().raw(), b"LAB");
    /// assert_eq!(hd.universal_id_type().unwrap().raw(), b"ISO");
    /// ```
    Hd, "HD" {
        1 namespace_id: Text, "Namespace ID (IS)";
        2 universal_id: Text, "Universal ID (ST)";
        3 universal_id_type: Text, "Universal ID Type (ID, table 0301)";
    }
}

composite! {
    /// Entity identifier (EI): an identifier and the HD of the authority that assigned it
    /// (components 2–4, see [`Ei::assigning_authority`]).
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Ei;
    ///
    /// let ei = Ei::parse(b"ORD-778^EPIC^1.2.840.114350^ISO", &Delimiters::default());
    /// assert_eq!(ei.entity_identifier().unwrap().raw(), b"ORD-778");
    /// assert_eq!(ei.assigning_authority().unwrap().universal_id().unwrap().raw(), b"1.2.840.114350");
    /// ```
    Ei, "EI" {
        1 entity_identifier: Text, "Entity Identifier (ST)";
        2 namespace_id: Text, "Namespace ID (IS)";
        3 universal_id: Text, "Universal ID (ST)";
        4 universal_id_type: Text, "Universal ID Type (ID)";
    }
}

impl<'a> Ei<'a> {
    /// Components 2–4 (namespace ID, universal ID, universal ID type) as one [`Hd`]; `None`
    /// when none of them is valued.
    pub fn assigning_authority(&self) -> Option<Hd<'a>> {
        self.parts.span(2, 3)
    }
}

composite! {
    /// Extended composite ID with check digit (CX): patient and other identifiers (PID-3, ...).
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Cx;
    ///
    /// let cx = Cx::parse(b"E1234^^^EPIC^MRN^UCH&2.16.840.1.1&ISO", &Delimiters::default());
    /// assert_eq!(cx.id_number().unwrap().raw(), b"E1234");
    /// assert_eq!(cx.assigning_authority().unwrap().namespace_id().unwrap().raw(), b"EPIC");
    /// assert_eq!(cx.identifier_type_code().unwrap().raw(), b"MRN");
    /// assert_eq!(cx.assigning_facility().unwrap().namespace_id().unwrap().raw(), b"UCH");
    /// assert!(cx.identifier_check_digit().is_none());
    /// ```
    Cx, "CX" {
        1 id_number: Text, "ID Number (ST)";
        2 identifier_check_digit: Text, "Identifier Check Digit (ST)";
        3 check_digit_scheme: Text, "Check Digit Scheme (ID, table 0061)";
        4 assigning_authority: Hd, "Assigning Authority (HD, table 0363)";
        5 identifier_type_code: Text, "Identifier Type Code (ID, table 0203: MR, SS, PI, ...)";
        6 assigning_facility: Hd, "Assigning Facility (HD)";
        7 effective_date: Text, "Effective Date (DT; read with `Text::dt`)";
        8 expiration_date: Text, "Expiration Date (DT; read with `Text::dt`)";
        9 assigning_jurisdiction: Cwe, "Assigning Jurisdiction (CWE)";
        10 assigning_agency_or_department: Cwe, "Assigning Agency or Department (CWE)";
        11 security_check: Text, "Security Check (ST, v2.7+)";
        12 security_check_scheme: Text, "Security Check Scheme (ID, v2.7+)";
    }
}

composite! {
    /// Family name (FN), the first component of XPN and second of XCN.
    FamilyName, "FN" {
        1 surname: Text, "Surname (ST)";
        2 own_surname_prefix: Text, "Own Surname Prefix (ST)";
        3 own_surname: Text, "Own Surname (ST)";
        4 surname_prefix_from_partner_spouse: Text, "Surname Prefix from Partner/Spouse (ST)";
        5 surname_from_partner_spouse: Text, "Surname from Partner/Spouse (ST)";
    }
}

composite! {
    /// Extended person name (XPN): PID-5, NK1-2, ...
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Xpn;
    ///
    /// let xpn = Xpn::parse(b"VAN DER BERG&VAN&BERG^ANNA^M^JR^DR^^L", &Delimiters::default());
    /// assert_eq!(xpn.surname().unwrap().raw(), b"VAN DER BERG");
    /// assert_eq!(xpn.family_name().unwrap().own_surname_prefix().unwrap().raw(), b"VAN");
    /// assert_eq!(xpn.given_name().unwrap().raw(), b"ANNA");
    /// assert_eq!(xpn.suffix().unwrap().raw(), b"JR");
    /// assert_eq!(xpn.name_type_code().unwrap().raw(), b"L");
    /// ```
    Xpn, "XPN" {
        1 family_name: FamilyName, "Family Name (FN)";
        2 given_name: Text, "Given Name (ST)";
        3 second_and_further_given_names_or_initials_thereof: Text,
            "Second and Further Given Names or Initials Thereof (ST)";
        4 suffix: Text, "Suffix, e.g. JR or III (ST)";
        5 prefix: Text, "Prefix, e.g. DR (ST)";
        6 degree: Text, "Degree, e.g. MD (IS; deprecated)";
        7 name_type_code: Text, "Name Type Code (ID, table 0200: L legal, D display, M maiden, ...)";
        8 name_representation_code: Text, "Name Representation Code (ID, table 4000)";
        9 name_context: Cwe, "Name Context (CE/CWE)";
        10 name_validity_range: Text, "Name Validity Range (DR; deprecated)";
        11 name_assembly_order: Text, "Name Assembly Order (ID, table 0444)";
        12 effective_date: Ts, "Effective Date (TS/DTM)";
        13 expiration_date: Ts, "Expiration Date (TS/DTM)";
        14 professional_suffix: Text, "Professional Suffix (ST)";
        15 called_by: Text, "Called By (ST, v2.7+)";
    }
}

impl<'a> Xpn<'a> {
    /// XPN.1.1, the surname (the whole first component when it has no subcomponents).
    pub fn surname(&self) -> Option<Text<'a>> {
        self.family_name()?.surname()
    }
}

composite! {
    /// Street address (SAD), the first component of XAD.
    Sad, "SAD" {
        1 street_or_mailing_address: Text, "Street or Mailing Address (ST)";
        2 street_name: Text, "Street Name (ST)";
        3 dwelling_number: Text, "Dwelling Number (ST)";
    }
}

composite! {
    /// Extended address (XAD): PID-11, ...
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Xad;
    ///
    /// let xad = Xad::parse(b"123 MAIN ST^APT 4^MADISON^WI^53703^USA^H", &Delimiters::default());
    /// assert_eq!(xad.street_address().unwrap().street_or_mailing_address().unwrap().raw(), b"123 MAIN ST");
    /// assert_eq!(xad.city().unwrap().raw(), b"MADISON");
    /// assert_eq!(xad.zip_or_postal_code().unwrap().raw(), b"53703");
    /// assert_eq!(xad.address_type().unwrap().raw(), b"H");
    /// ```
    Xad, "XAD" {
        1 street_address: Sad, "Street Address (SAD)";
        2 other_designation: Text, "Other Designation (ST)";
        3 city: Text, "City (ST)";
        4 state_or_province: Text, "State or Province (ST)";
        5 zip_or_postal_code: Text, "Zip or Postal Code (ST)";
        6 country: Text, "Country (ID, table 0399)";
        7 address_type: Text, "Address Type (ID, table 0190: H home, M mailing, ...)";
        8 other_geographic_designation: Text, "Other Geographic Designation (ST)";
        9 county_parish_code: Text, "County/Parish Code (IS; CWE in v2.7+)";
        10 census_tract: Text, "Census Tract (IS; CWE in v2.7+)";
        11 address_representation_code: Text, "Address Representation Code (ID)";
        12 address_validity_range: Text, "Address Validity Range (DR; deprecated)";
        13 effective_date: Ts, "Effective Date (TS/DTM)";
        14 expiration_date: Ts, "Expiration Date (TS/DTM)";
        15 expiration_reason: Cwe, "Expiration Reason (CWE, v2.7+)";
        16 temporary_indicator: Text, "Temporary Indicator (ID, v2.7+)";
        17 bad_address_indicator: Text, "Bad Address Indicator (ID, v2.7+)";
        18 address_usage: Text, "Address Usage (ID, v2.7+)";
        19 addressee: Text, "Addressee (ST, v2.7+)";
        20 comment: Text, "Comment (ST, v2.7+)";
        21 preference_order: Text, "Preference Order (NM, v2.7+)";
        22 protection_code: Cwe, "Protection Code (CWE, v2.7+)";
        23 address_identifier: Ei, "Address Identifier (EI, v2.7+)";
    }
}

composite! {
    /// Extended telecommunication number (XTN): PID-13, ...; both the old form (a formatted number
    /// in XTN.1) and the v2.3+ component form (XTN.5–XTN.9), see [`Xtn::phone`].
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Xtn;
    ///
    /// let d = Delimiters::default();
    /// let old = Xtn::parse(b"(608)555-1212X45", &d).phone().unwrap();
    /// assert_eq!((old.area_code, old.local_number, old.extension), (Some("608"), "555-1212", Some("45")));
    ///
    /// let new = Xtn::parse(b"^PRN^PH^^1^608^5551212", &d).phone().unwrap();
    /// assert_eq!((new.country_code, new.area_code, new.local_number), (Some("1"), Some("608"), "5551212"));
    ///
    /// let mail = Xtn::parse(b"^NET^Internet^jane@example.org", &d);
    /// assert!(mail.phone().is_none());
    /// assert_eq!(mail.communication_address().unwrap().raw(), b"jane@example.org");
    /// ```
    Xtn, "XTN" {
        1 telephone_number: Text, "Telephone Number (ST; the old formatted form, withdrawn in v2.7)";
        2 telecommunication_use_code: Text, "Telecommunication Use Code (ID, table 0201: PRN, WPN, NET, ...)";
        3 telecommunication_equipment_type: Text, "Telecommunication Equipment Type (ID, table 0202: PH, CP, FX, Internet, ...)";
        4 communication_address: Text, "Communication Address (ST; \"Email Address\" before v2.7)";
        5 country_code: Text, "Country Code (SNM)";
        6 area_city_code: Text, "Area/City Code (SNM)";
        7 local_number: Text, "Local Number (SNM)";
        8 extension: Text, "Extension (SNM)";
        9 any_text: Text, "Any Text (ST)";
        10 extension_prefix: Text, "Extension Prefix (ST)";
        11 speed_dial_code: Text, "Speed Dial Code (ST)";
        12 unformatted_telephone_number: Text, "Unformatted Telephone Number (ST)";
        13 effective_start_date: Ts, "Effective Start Date (DTM, v2.7+)";
        14 expiration_date: Ts, "Expiration Date (DTM, v2.7+)";
        15 expiration_reason: Cwe, "Expiration Reason (CWE, v2.7+)";
        16 protection_code: Cwe, "Protection Code (CWE, v2.7+)";
        17 shared_telecommunication_identifier: Ei, "Shared Telecommunication Identifier (EI, v2.7+)";
        18 preference_order: Text, "Preference Order (NM, v2.7+)";
    }
}

/// A telephone number read from an [`Xtn`], from its components or its old formatted form.
/// Values are as written (not unescaped: phone numbers carry no escapes in practice; a value with
/// non-UTF-8 bytes is not read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Phone<'a> {
    /// Country code (`1`).
    pub country_code: Option<&'a str>,
    /// Area or city code (`608`).
    pub area_code: Option<&'a str>,
    /// Local number as written (`555-1212` or `5551212`).
    pub local_number: &'a str,
    /// Extension.
    pub extension: Option<&'a str>,
    /// Beeper number (`B` part of the old form).
    pub beeper: Option<&'a str>,
    /// Free text (XTN.9, or the `C` part of the old form).
    pub any_text: Option<&'a str>,
}

impl Phone<'_> {
    /// The digits of country code, area code and local number, e.g. `16085551212`.
    pub fn digits(&self) -> String {
        [self.country_code, self.area_code, Some(self.local_number)]
            .into_iter()
            .flatten()
            .flat_map(str::chars)
            .filter(char::is_ascii_digit)
            .collect()
    }
}

fn as_str(t: Option<Text<'_>>) -> Option<&str> {
    t.filter(|t| !t.is_null())
        .and_then(|t| std::str::from_utf8(t.raw()).ok())
}

/// Parse the old XTN.1 form `[NN] [(999)]999-9999[X99999][B99999][C any text]`.
fn parse_old_phone(s: &str) -> Option<Phone<'_>> {
    let s = s.trim();
    let (main, comment) = match s.find('C') {
        Some(i) => (&s[..i], Some(s[i + 1..].trim()).filter(|c| !c.is_empty())),
        None => (s, None),
    };
    let (main, beeper) = match main.find('B') {
        Some(i) => (&main[..i], Some(main[i + 1..].trim())),
        None => (main, None),
    };
    let (main, extension) = match main.find(['X', 'x']) {
        Some(i) => (&main[..i], Some(main[i + 1..].trim())),
        None => (main, None),
    };
    let main = main.trim();
    let (country_code, rest) = match main.find('(') {
        Some(i) => (Some(main[..i].trim()).filter(|c| !c.is_empty()), &main[i..]),
        None => (None, main),
    };
    let (area_code, local) = match rest.strip_prefix('(') {
        Some(r) => {
            let close = r.find(')')?;
            (Some(r[..close].trim()), r[close + 1..].trim())
        }
        None => (None, rest),
    };
    let phone_chars = |t: &str| {
        t.chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ' ' || c == '.')
    };
    let digits_only = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let ok = !local.is_empty()
        && local.chars().any(|c| c.is_ascii_digit())
        && phone_chars(local)
        && area_code.is_none_or(digits_only)
        && country_code.is_none_or(|c| digits_only(c.trim_start_matches('+')))
        && extension.is_none_or(digits_only)
        && beeper.is_none_or(digits_only);
    ok.then_some(Phone {
        country_code,
        area_code: area_code.filter(|a| !a.is_empty()),
        local_number: local,
        extension: extension.filter(|e| !e.is_empty()),
        beeper: beeper.filter(|b| !b.is_empty()),
        any_text: comment,
    })
}

impl<'a> Xtn<'a> {
    /// The telephone number: from the components (XTN.5–XTN.9) when XTN.7 (local number) is
    /// valued, otherwise from the old formatted form in XTN.1, otherwise from XTN.12 (unformatted).
    /// `None` for e-mail and other addresses without a number.
    pub fn phone(&self) -> Option<Phone<'a>> {
        if let Some(local) = as_str(self.local_number()) {
            return Some(Phone {
                country_code: as_str(self.country_code()),
                area_code: as_str(self.area_city_code()),
                local_number: local,
                extension: as_str(self.extension()),
                beeper: None,
                any_text: as_str(self.any_text()),
            });
        }
        if let Some(p) = as_str(self.telephone_number()).and_then(parse_old_phone) {
            return Some(p);
        }
        as_str(self.unformatted_telephone_number()).map(|u| Phone {
            country_code: None,
            area_code: None,
            local_number: u,
            extension: None,
            beeper: None,
            any_text: None,
        })
    }

    /// The e-mail (or other network) address: XTN.4, or XTN.1 when the equipment type is
    /// `Internet` or `X.400` and XTN.4 is empty (a common pre-v2.3 habit).
    pub fn email(&self) -> Option<Text<'a>> {
        if let Some(a) = self.communication_address() {
            return Some(a);
        }
        let kind = self.telecommunication_equipment_type()?;
        if kind.raw().eq_ignore_ascii_case(b"Internet") || kind.raw() == b"X.400" {
            return self.telephone_number();
        }
        None
    }
}

composite! {
    /// Extended composite ID number and name for persons (XCN): providers (PV1-7, OBR-16, ...).
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Xcn;
    ///
    /// let xcn = Xcn::parse(b"1234567890^WELBY^MARCUS^J^^DR^MD^^NPI&2.16.840.1.113883.4.6&ISO^L^^^NPI", &Delimiters::default());
    /// assert_eq!(xcn.id_number().unwrap().raw(), b"1234567890");
    /// assert_eq!(xcn.surname().unwrap().raw(), b"WELBY");
    /// assert_eq!(xcn.assigning_authority().unwrap().universal_id().unwrap().raw(), b"2.16.840.1.113883.4.6");
    /// assert_eq!(xcn.identifier_type_code().unwrap().raw(), b"NPI");
    /// ```
    Xcn, "XCN" {
        1 id_number: Text, "ID Number (ST)";
        2 family_name: FamilyName, "Family Name (FN)";
        3 given_name: Text, "Given Name (ST)";
        4 second_and_further_given_names_or_initials_thereof: Text,
            "Second and Further Given Names or Initials Thereof (ST)";
        5 suffix: Text, "Suffix (ST)";
        6 prefix: Text, "Prefix (ST)";
        7 degree: Text, "Degree (IS; deprecated)";
        8 source_table: Text, "Source Table (IS)";
        9 assigning_authority: Hd, "Assigning Authority (HD)";
        10 name_type_code: Text, "Name Type Code (ID, table 0200)";
        11 identifier_check_digit: Text, "Identifier Check Digit (ST)";
        12 check_digit_scheme: Text, "Check Digit Scheme (ID)";
        13 identifier_type_code: Text, "Identifier Type Code (ID, table 0203)";
        14 assigning_facility: Hd, "Assigning Facility (HD)";
        15 name_representation_code: Text, "Name Representation Code (ID)";
        16 name_context: Cwe, "Name Context (CE/CWE)";
        17 name_validity_range: Text, "Name Validity Range (DR; deprecated)";
        18 name_assembly_order: Text, "Name Assembly Order (ID)";
        19 effective_date: Ts, "Effective Date (TS/DTM)";
        20 expiration_date: Ts, "Expiration Date (TS/DTM)";
        21 professional_suffix: Text, "Professional Suffix (ST)";
        22 assigning_jurisdiction: Cwe, "Assigning Jurisdiction (CWE)";
        23 assigning_agency_or_department: Cwe, "Assigning Agency or Department (CWE)";
        24 security_check: Text, "Security Check (ST, v2.7+)";
        25 security_check_scheme: Text, "Security Check Scheme (ID, v2.7+)";
    }
}

impl<'a> Xcn<'a> {
    /// XCN.2.1, the surname.
    pub fn surname(&self) -> Option<Text<'a>> {
        self.family_name()?.surname()
    }
}

composite! {
    /// Coded with exceptions (CWE; also CE and CNE, see [`Ce`](super::Ce), [`Cne`](super::Cne)):
    /// a code, its text and coding system, an alternate triplet and (v2.7+) a second alternate.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Cwe;
    ///
    /// let cwe = Cwe::parse(b"2345-7^Glucose SerPl-mCnc^LN^GLU^GLUCOSE^99LAB", &Delimiters::default());
    /// let codings: Vec<_> = cwe.codings().collect();
    /// assert_eq!(codings.len(), 2);
    /// assert_eq!(codings[0].identifier.unwrap().raw(), b"2345-7");
    /// assert_eq!(codings[0].coding_system.unwrap().raw(), b"LN");
    /// assert_eq!(codings[1].text.unwrap().raw(), b"GLUCOSE");
    /// ```
    Cwe, "CWE" {
        1 identifier: Text, "Identifier (ST)";
        2 text: Text, "Text (ST)";
        3 name_of_coding_system: Text, "Name of Coding System (ID, table 0396)";
        4 alternate_identifier: Text, "Alternate Identifier (ST)";
        5 alternate_text: Text, "Alternate Text (ST)";
        6 name_of_alternate_coding_system: Text, "Name of Alternate Coding System (ID)";
        7 coding_system_version_id: Text, "Coding System Version ID (ST)";
        8 alternate_coding_system_version_id: Text, "Alternate Coding System Version ID (ST)";
        9 original_text: Text, "Original Text (ST)";
        10 second_alternate_identifier: Text, "Second Alternate Identifier (ST, v2.7+)";
        11 second_alternate_text: Text, "Second Alternate Text (ST, v2.7+)";
        12 name_of_second_alternate_coding_system: Text, "Name of Second Alternate Coding System (ID, v2.7+)";
        13 second_alternate_coding_system_version_id: Text, "Second Alternate Coding System Version ID (ST, v2.7+)";
        14 coding_system_oid: Text, "Coding System OID (ST, v2.7+)";
        15 value_set_oid: Text, "Value Set OID (ST, v2.7+)";
        16 value_set_version_id: Text, "Value Set Version ID (DTM, v2.7+)";
        17 alternate_coding_system_oid: Text, "Alternate Coding System OID (ST, v2.7+)";
        18 alternate_value_set_oid: Text, "Alternate Value Set OID (ST, v2.7+)";
        19 alternate_value_set_version_id: Text, "Alternate Value Set Version ID (DTM, v2.7+)";
        20 second_alternate_coding_system_oid: Text, "Second Alternate Coding System OID (ST, v2.7+)";
        21 second_alternate_value_set_oid: Text, "Second Alternate Value Set OID (ST, v2.7+)";
        22 second_alternate_value_set_version_id: Text, "Second Alternate Value Set Version ID (DTM, v2.7+)";
    }
}

/// One coding triplet of a [`Cwe`]: identifier, text, coding system and its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Coding<'a> {
    /// The code.
    pub identifier: Option<Text<'a>>,
    /// Its display text.
    pub text: Option<Text<'a>>,
    /// The coding system (`LN`, `SCT`, `I10`, `99xxx` local, ...).
    pub coding_system: Option<Text<'a>>,
    /// The coding system version.
    pub coding_system_version_id: Option<Text<'a>>,
    /// The coding system OID (v2.7+).
    pub coding_system_oid: Option<Text<'a>>,
}

impl Coding<'_> {
    fn valued(&self) -> bool {
        self.identifier.is_some() || self.text.is_some()
    }
}

impl<'a> Cwe<'a> {
    /// The coding whose code, text, system and version are the components `parts` and whose
    /// OID is component `N` (1-based), from one scan of the value instead of one per component.
    fn coding<const N: usize>(&self, parts: [usize; 4]) -> Option<Coding<'a>> {
        let p = self.parts.first_parts::<N>();
        let [code, text, system, version] = parts.map(|n| self.parts.child_of(p[n - 1]));
        let c = Coding {
            identifier: code,
            text,
            coding_system: system,
            coding_system_version_id: version,
            coding_system_oid: self.parts.child_of(p[N - 1]),
        };
        c.valued().then_some(c)
    }

    /// The primary triplet (CWE.1, .2, .3, .7, .14), when a code or text is valued.
    pub fn primary(&self) -> Option<Coding<'a>> {
        self.coding::<14>([1, 2, 3, 7])
    }

    /// The alternate triplet (CWE.4, .5, .6, .8, .17), when a code or text is valued.
    pub fn alternate(&self) -> Option<Coding<'a>> {
        self.coding::<17>([4, 5, 6, 8])
    }

    /// The second alternate triplet (CWE.10–13, .20; v2.7+), when a code or text is valued.
    pub fn second_alternate(&self) -> Option<Coding<'a>> {
        self.coding::<20>([10, 11, 12, 13])
    }

    /// The valued triplets in order: primary, alternate, second alternate.
    pub fn codings(&self) -> impl Iterator<Item = Coding<'a>> {
        [self.primary(), self.alternate(), self.second_alternate()]
            .into_iter()
            .flatten()
    }
}

composite! {
    /// Person location (PL): PV1-3 and other locations. In v2.7+ the point of care, room, bed,
    /// building and floor are HD; read in older messages, their namespace ID is the whole value.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Pl;
    ///
    /// let pl = Pl::parse(b"4WEST^412^B^UWHOSP&1.2.3&ISO^^N^MAIN^4", &Delimiters::default());
    /// assert_eq!(pl.point_of_care().unwrap().namespace_id().unwrap().raw(), b"4WEST");
    /// assert_eq!(pl.room().unwrap().namespace_id().unwrap().raw(), b"412");
    /// assert_eq!(pl.facility().unwrap().universal_id().unwrap().raw(), b"1.2.3");
    /// assert_eq!(pl.person_location_type().unwrap().raw(), b"N");
    /// ```
    Pl, "PL" {
        1 point_of_care: Hd, "Point of Care (IS; HD in v2.7+)";
        2 room: Hd, "Room (IS; HD in v2.7+)";
        3 bed: Hd, "Bed (IS; HD in v2.7+)";
        4 facility: Hd, "Facility (HD)";
        5 location_status: Text, "Location Status (IS)";
        6 person_location_type: Text, "Person Location Type (IS, table 0305)";
        7 building: Hd, "Building (IS; HD in v2.7+)";
        8 floor: Hd, "Floor (IS; HD in v2.7+)";
        9 location_description: Text, "Location Description (ST)";
        10 comprehensive_location_identifier: Ei, "Comprehensive Location Identifier (EI)";
        11 assigning_authority_for_location: Hd, "Assigning Authority for Location (HD)";
    }
}

composite! {
    /// Message type (MSG): MSH-9.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Msg;
    ///
    /// let msg = Msg::parse(b"ORU^R01^ORU_R01", &Delimiters::default());
    /// assert_eq!(msg.message_code().unwrap().raw(), b"ORU");
    /// assert_eq!(msg.trigger_event().unwrap().raw(), b"R01");
    /// assert_eq!(msg.message_structure().unwrap().raw(), b"ORU_R01");
    /// ```
    Msg, "MSG" {
        1 message_code: Text, "Message Code (ID, table 0076)";
        2 trigger_event: Text, "Trigger Event (ID, table 0003)";
        3 message_structure: Text, "Message Structure (ID, table 0354)";
    }
}

composite! {
    /// Processing type (PT): MSH-11.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Pt;
    ///
    /// let pt = Pt::parse(b"P^T", &Delimiters::default());
    /// assert_eq!(pt.processing_id().unwrap().raw(), b"P");
    /// assert_eq!(pt.processing_mode().unwrap().raw(), b"T");
    /// ```
    Pt, "PT" {
        1 processing_id: Text, "Processing ID (ID, table 0103: P, T, D)";
        2 processing_mode: Text, "Processing Mode (ID, table 0207)";
    }
}

composite! {
    /// Version identifier (VID): MSH-12.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Vid;
    ///
    /// let vid = Vid::parse(b"2.5.1^USA&United States&ISO3166", &Delimiters::default());
    /// assert_eq!(vid.version_id().unwrap().raw(), b"2.5.1");
    /// assert_eq!(vid.internationalization_code().unwrap().text().unwrap().raw(), b"United States");
    /// ```
    Vid, "VID" {
        1 version_id: Text, "Version ID (ID, table 0104)";
        2 internationalization_code: Cwe, "Internationalization Code (CE/CWE)";
        3 international_version_id: Cwe, "International Version ID (CE/CWE)";
    }
}

composite! {
    /// Time stamp (TS): a DTM and (before v2.6) a degree of precision. Also reads a plain DTM.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::{Precision, Ts};
    ///
    /// let ts = Ts::parse(b"20240315083000-0600^M", &Delimiters::default());
    /// let t = ts.dtm().unwrap().unwrap();
    /// assert_eq!(t.precision(), Precision::Second);
    /// assert_eq!(ts.degree_of_precision().unwrap().raw(), b"M");
    /// ```
    Ts, "TS" {
        1 time: Text, "Time (DTM)";
        2 degree_of_precision: Text, "Degree of Precision (ID; deprecated)";
    }
}

impl Ts<'_> {
    /// The time read as a [`Dtm`]: `Ok(None)` when TS.1 is absent or empty, an error when it is
    /// the HL7 null or malformed.
    pub fn dtm(&self) -> Result<Option<Dtm>, DatatypeError> {
        self.time().map(|t| t.dtm()).transpose()
    }
}

impl<'a> Cx<'a> {
    /// CX.1, the identifier itself (short for [`Cx::id_number`]).
    pub fn id(&self) -> Option<Text<'a>> {
        self.id_number()
    }
}

composite! {
    /// Extended composite name and identification number for organizations (XON): PD1-3, IN1-4,
    /// ORC-21, ...
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Xon;
    ///
    /// let xon = Xon::parse(b"GOOD HEALTH HOSPITAL^L^^^^NPI&2.16.840.1.113883.4.6&ISO^XX^^^1234567893", &Delimiters::default());
    /// assert_eq!(xon.organization_name().unwrap().value().as_deref(), Some("GOOD HEALTH HOSPITAL"));
    /// assert_eq!(xon.assigning_authority().unwrap().namespace_id().unwrap().raw(), b"NPI");
    /// assert_eq!(xon.identifier().unwrap().raw(), b"1234567893");
    /// ```
    Xon, "XON" {
        1 organization_name: Text, "Organization Name (ST)";
        2 organization_name_type_code: Text, "Organization Name Type Code (IS, table 0204)";
        3 id_number: Text, "ID Number (NM; deprecated, see XON.10)";
        4 identifier_check_digit: Text, "Identifier Check Digit (NM)";
        5 check_digit_scheme: Text, "Check Digit Scheme (ID)";
        6 assigning_authority: Hd, "Assigning Authority (HD)";
        7 identifier_type_code: Text, "Identifier Type Code (ID, table 0203)";
        8 assigning_facility: Hd, "Assigning Facility (HD)";
        9 name_representation_code: Text, "Name Representation Code (ID)";
        10 organization_identifier: Text, "Organization Identifier (ST, v2.5+)";
    }
}

impl<'a> Xon<'a> {
    /// The organization's identifier: XON.10, or the older XON.3 when XON.10 is not valued.
    pub fn identifier(&self) -> Option<Text<'a>> {
        self.organization_identifier().or_else(|| self.id_number())
    }
}

composite! {
    /// Structured numeric (SN): `<comparator>^<num1>^<separator/suffix>^<num2>`, e.g. `>^100`,
    /// `^1^:^128` (a ratio), `^2^-^5` (a range), `^3^+` (categorical).
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Sn;
    ///
    /// let sn = Sn::parse(b"<^0.5", &Delimiters::default());
    /// assert_eq!(sn.comparator().unwrap().raw(), b"<");
    /// assert_eq!(sn.num1().unwrap().nm().unwrap().as_f64(), 0.5);
    /// let ratio = Sn::parse(b"^1^:^128", &Delimiters::default());
    /// assert_eq!(ratio.separator_suffix().unwrap().raw(), b":");
    /// assert_eq!(ratio.num2().unwrap().raw(), b"128");
    /// ```
    Sn, "SN" {
        1 comparator: Text, "Comparator (ST: >, <, >=, <=, =, <>)";
        2 num1: Text, "Num1 (NM)";
        3 separator_suffix: Text, "Separator/Suffix (ST: -, +, /, ., :)";
        4 num2: Text, "Num2 (NM)";
    }
}

composite! {
    /// Composite quantity with units (CQ): `<quantity>^<units (CWE)>`.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Cq;
    ///
    /// let cq = Cq::parse(b"250^mg&milligram&UCUM", &Delimiters::default());
    /// assert_eq!(cq.quantity().unwrap().nm().unwrap().as_f64(), 250.0);
    /// assert_eq!(cq.units().unwrap().identifier().unwrap().raw(), b"mg");
    /// assert_eq!(cq.units().unwrap().name_of_coding_system().unwrap().raw(), b"UCUM");
    /// ```
    Cq, "CQ" {
        1 quantity: Text, "Quantity (NM)";
        2 units: Cwe, "Units (CWE)";
    }
}

composite! {
    /// Money (MO): `<quantity>^<denomination>` (ISO 4217 currency).
    Mo, "MO" {
        1 quantity: Text, "Quantity (NM)";
        2 denomination: Text, "Denomination (ID, ISO 4217)";
    }
}

composite! {
    /// Encapsulated data (ED): OBX-5 of type ED, e.g. a base64 PDF.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Ed;
    ///
    /// let ed = Ed::parse(b"LAB^AP^PDF^Base64^JVBERi0xLjQK", &Delimiters::default());
    /// assert_eq!(ed.source_application().unwrap().namespace_id().unwrap().raw(), b"LAB");
    /// assert_eq!(ed.type_of_data().unwrap().raw(), b"AP");
    /// assert_eq!(ed.data_subtype().unwrap().raw(), b"PDF");
    /// assert_eq!(ed.encoding().unwrap().raw(), b"Base64");
    /// assert_eq!(ed.data().unwrap().raw(), b"JVBERi0xLjQK");
    /// ```
    Ed, "ED" {
        1 source_application: Hd, "Source Application (HD)";
        2 type_of_data: Text, "Type of Data (ID, table 0191)";
        3 data_subtype: Text, "Data Subtype (ID, table 0291)";
        4 encoding: Text, "Encoding (ID, table 0299: A, Hex, Base64)";
        5 data: Text, "Data (TX)";
    }
}

composite! {
    /// Date/time range (DR): `<range start>^<range end>`, each a DTM (a TS before v2.6).
    Dr, "DR" {
        1 range_start_date_time: Ts, "Range Start Date/Time (DTM)";
        2 range_end_date_time: Ts, "Range End Date/Time (DTM)";
    }
}

composite! {
    /// Entity identifier pair (EIP): placer and filler identifiers (ORC-8, OBR-29, ...), each an
    /// [`Ei`] written in subcomponents.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Eip;
    ///
    /// let eip = Eip::parse(b"P-1&EPIC^F-9&LAB", &Delimiters::default());
    /// assert_eq!(eip.placer_assigned_identifier().unwrap().entity_identifier().unwrap().raw(), b"P-1");
    /// assert_eq!(eip.filler_assigned_identifier().unwrap().namespace_id().unwrap().raw(), b"LAB");
    /// ```
    Eip, "EIP" {
        1 placer_assigned_identifier: Ei, "Placer Assigned Identifier (EI)";
        2 filler_assigned_identifier: Ei, "Filler Assigned Identifier (EI)";
    }
}

composite! {
    /// Coded element with formatted values (CF): like CWE, with formatted text (FT) in CF.2/5/11.
    Cf, "CF" {
        1 identifier: Text, "Identifier (ST)";
        2 formatted_text: Text, "Formatted Text (FT)";
        3 name_of_coding_system: Text, "Name of Coding System (ID)";
        4 alternate_identifier: Text, "Alternate Identifier (ST)";
        5 alternate_formatted_text: Text, "Alternate Formatted Text (FT)";
        6 name_of_alternate_coding_system: Text, "Name of Alternate Coding System (ID)";
        7 coding_system_version_id: Text, "Coding System Version ID (ST)";
        8 alternate_coding_system_version_id: Text, "Alternate Coding System Version ID (ST)";
        9 original_text: Text, "Original Text (ST)";
        10 second_alternate_identifier: Text, "Second Alternate Identifier (ST)";
        11 second_alternate_formatted_text: Text, "Second Alternate Formatted Text (FT)";
        12 name_of_second_alternate_coding_system: Text, "Name of Second Alternate Coding System (ID)";
        13 second_alternate_coding_system_version_id: Text, "Second Alternate Coding System Version ID (ST)";
        14 coding_system_oid: Text, "Coding System OID (ST)";
        15 value_set_oid: Text, "Value Set OID (ST)";
        16 value_set_version_id: Text, "Value Set Version ID (DTM)";
        17 alternate_coding_system_oid: Text, "Alternate Coding System OID (ST)";
        18 alternate_value_set_oid: Text, "Alternate Value Set OID (ST)";
        19 alternate_value_set_version_id: Text, "Alternate Value Set Version ID (DTM)";
        20 second_alternate_coding_system_oid: Text, "Second Alternate Coding System OID (ST)";
        21 second_alternate_value_set_oid: Text, "Second Alternate Value Set OID (ST)";
        22 second_alternate_value_set_version_id: Text, "Second Alternate Value Set Version ID (DTM)";
    }
}

composite! {
    /// Composite ID number and name simplified (CNN): a person in a component (NDL.1, OBR-32 ...);
    /// its authority is spread over CNN.9–11 (see [`Cnn::assigning_authority`]).
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Cnn;
    ///
    /// let cnn = Cnn::parse(b"1234^WELBY^MARCUS^J^^DR^^^NPI^2.16.840.1.113883.4.6^ISO", &Delimiters::default());
    /// assert_eq!(cnn.family_name().unwrap().raw(), b"WELBY");
    /// assert_eq!(cnn.assigning_authority().unwrap().universal_id().unwrap().raw(), b"2.16.840.1.113883.4.6");
    /// ```
    Cnn, "CNN" {
        1 id_number: Text, "ID Number (ST)";
        2 family_name: Text, "Family Name (ST)";
        3 given_name: Text, "Given Name (ST)";
        4 second_and_further_given_names_or_initials_thereof: Text,
            "Second and Further Given Names or Initials Thereof (ST)";
        5 suffix: Text, "Suffix (ST)";
        6 prefix: Text, "Prefix (ST)";
        7 degree: Text, "Degree (IS)";
        8 source_table: Text, "Source Table (IS)";
        9 assigning_authority_namespace_id: Text, "Assigning Authority - Namespace ID (IS)";
        10 assigning_authority_universal_id: Text, "Assigning Authority - Universal ID (ST)";
        11 assigning_authority_universal_id_type: Text, "Assigning Authority - Universal ID Type (ID)";
    }
}

impl<'a> Cnn<'a> {
    /// CNN.9–11 as one [`Hd`]; `None` when none of them is valued.
    pub fn assigning_authority(&self) -> Option<Hd<'a>> {
        self.parts.span(9, 3)
    }
}

composite! {
    /// Location with discharge description (DLD): PV1-37.
    Dld, "DLD" {
        1 discharge_to_location: Cwe, "Discharge to Location (CWE)";
        2 effective_date: Ts, "Effective Date (DTM)";
    }
}

composite! {
    /// Driver's license number (DLN): PID-20.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Dln;
    ///
    /// let dln = Dln::parse(b"S1234567^WI^20300101", &Delimiters::default());
    /// assert_eq!(dln.license_number().unwrap().raw(), b"S1234567");
    /// assert_eq!(dln.issuing_state_province_country().unwrap().identifier().unwrap().raw(), b"WI");
    /// assert_eq!(dln.expiration_date().unwrap().dt().unwrap().year(), 2030);
    /// ```
    Dln, "DLN" {
        1 license_number: Text, "License Number (ST)";
        2 issuing_state_province_country: Cwe, "Issuing State, Province, Country (CWE)";
        3 expiration_date: Text, "Expiration Date (DT; read with `Text::dt`)";
    }
}

composite! {
    /// Numeric range (NR): reference ranges, `low^high`.
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Nr;
    ///
    /// let nr = Nr::parse(b"70^99", &Delimiters::default());
    /// assert_eq!(nr.low_value().unwrap().nm().unwrap().as_f64(), 70.0);
    /// assert_eq!(nr.high_value().unwrap().nm().unwrap().as_f64(), 99.0);
    /// ```
    Nr, "NR" {
        1 low_value: Text, "Low Value (NM)";
        2 high_value: Text, "High Value (NM)";
    }
}

composite! {
    /// Practitioner license or other ID number (PLN): PRA-6, STF-...
    Pln, "PLN" {
        1 id_number: Text, "ID Number (ST)";
        2 type_of_id_number: Cwe, "Type of ID Number (CWE)";
        3 state_other_qualifying_information: Text, "State/Other Qualifying Information (ST)";
        4 expiration_date: Text, "Expiration Date (DT; read with `Text::dt`)";
    }
}

composite! {
    /// Reference pointer (RP): a pointer to data held elsewhere (OBX-5 of type RP).
    Rp, "RP" {
        1 pointer: Text, "Pointer (ST)";
        2 application_id: Hd, "Application ID (HD)";
        3 type_of_data: Text, "Type of Data (ID, table 0834)";
        4 subtype: Text, "Subtype (ID)";
    }
}

composite! {
    /// Repeat interval (RI): TQ.2, TQ1-3.
    Ri, "RI" {
        1 repeat_pattern: Cwe, "Repeat Pattern (CWE, table 0335)";
        2 explicit_time_interval: Text, "Explicit Time Interval (ST)";
    }
}

composite! {
    /// Name with date and location (NDL): OBR-32 to OBR-35.
    Ndl, "NDL" {
        1 name: Cnn, "Name (CNN)";
        2 start_date_time: Ts, "Start Date/Time (DTM)";
        3 end_date_time: Ts, "End Date/Time (DTM)";
        4 point_of_care: Hd, "Point of Care (IS; HD in v2.7+)";
        5 room: Hd, "Room (IS; HD in v2.7+)";
        6 bed: Hd, "Bed (IS; HD in v2.7+)";
        7 facility: Hd, "Facility (HD)";
        8 location_status: Text, "Location Status (IS)";
        9 patient_location_type: Text, "Patient Location Type (IS)";
        10 building: Hd, "Building (IS; HD in v2.7+)";
        11 floor: Hd, "Floor (IS; HD in v2.7+)";
    }
}

composite! {
    /// Specimen source (SPS): OBR-15 (before v2.7).
    Sps, "SPS" {
        1 specimen_source_name_or_code: Cwe, "Specimen Source Name or Code (CWE)";
        2 additives: Cwe, "Additives (CWE)";
        3 specimen_collection_method: Text, "Specimen Collection Method (TX)";
        4 body_site: Cwe, "Body Site (CWE)";
        5 site_modifier: Cwe, "Site Modifier (CWE)";
        6 collection_method_modifier_code: Cwe, "Collection Method Modifier Code (CWE)";
        7 specimen_role: Cwe, "Specimen Role (CWE)";
    }
}

composite! {
    /// Timing quantity (TQ): ORC-7, OBR-27 (withdrawn in v2.7; TQ1/TQ2 replace it).
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Tq;
    ///
    /// let tq = Tq::parse(b"1^Q6H^^20240101080000^^R", &Delimiters::default());
    /// assert_eq!(tq.quantity().unwrap().quantity().unwrap().raw(), b"1");
    /// assert_eq!(tq.interval().unwrap().repeat_pattern().unwrap().identifier().unwrap().raw(), b"Q6H");
    /// assert_eq!(tq.start_date_time().unwrap().dtm().unwrap().unwrap().year(), 2024);
    /// assert_eq!(tq.priority().unwrap().raw(), b"R");
    /// ```
    Tq, "TQ" {
        1 quantity: Cq, "Quantity (CQ)";
        2 interval: Ri, "Interval (RI)";
        3 duration: Text, "Duration (ST)";
        4 start_date_time: Ts, "Start Date/Time (DTM)";
        5 end_date_time: Ts, "End Date/Time (DTM)";
        6 priority: Text, "Priority (ST)";
        7 condition: Text, "Condition (ST)";
        8 text: Text, "Text (TX)";
        9 conjunction: Text, "Conjunction (ID)";
        10 order_sequencing: Text, "Order Sequencing (OSD)";
        11 occurrence_duration: Cwe, "Occurrence Duration (CWE)";
        12 total_occurrences: Text, "Total Occurrences (NM)";
    }
}

composite! {
    /// Observation grouper (OG): OBX-4 in v2.8.2+.
    Og, "OG" {
        1 original_sub_identifier: Text, "Original Sub-Identifier (ST)";
        2 group: Text, "Group (NM)";
        3 sequence: Text, "Sequence (NM)";
        4 identifier: Text, "Identifier (ST)";
    }
}

composite! {
    /// Numeric array (NA): OBX-5 of type NA, any number of NM components (see [`Na::values`]).
    ///
    /// ```
    /// use ehrkit_hl7v2::Delimiters;
    /// use ehrkit_hl7v2::datatypes::Na;
    ///
    /// let na = Na::parse(b"1.5^2^^4", &Delimiters::default());
    /// let v: Vec<Option<f64>> = na.values().map(|t| t.and_then(|t| t.nm().ok()).map(|n| n.as_f64())).collect();
    /// assert_eq!(v, [Some(1.5), Some(2.0), None, Some(4.0)]);
    /// ```
    Na, "NA" {
        1 value1: Text, "Value1 (NM)";
        2 value2: Text, "Value2 (NM)";
        3 value3: Text, "Value3 (NM)";
        4 value4: Text, "Value4 (NM)";
    }
}

impl<'a> Na<'a> {
    /// Every component in order (`None` for an empty one), however many there are.
    pub fn values(&self) -> impl Iterator<Item = Option<Text<'a>>> + 'a {
        let parts = self.parts;
        (1..=parts.count()).map(move |n| parts.child(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Delimiters {
        Delimiters::default()
    }

    #[test]
    fn absent_empty_null_components() {
        let cx = Cx::parse(b"123^^\"\"^^", &d());
        assert_eq!(cx.component_count(), 5);
        assert_eq!(cx.component_raw(2), Some(&b""[..]));
        assert_eq!(cx.component_raw(6), None);
        assert!(cx.identifier_check_digit().is_none());
        assert!(cx.check_digit_scheme().unwrap().is_null());
        assert!(cx.assigning_authority().is_none());
        let null = Cx::parse(b"\"\"", &d());
        assert!(null.is_null());
        assert!(null.id_number().unwrap().is_null());
        let empty = Cx::parse(b"", &d());
        assert!(empty.is_empty());
        assert_eq!(empty.component_count(), 0);
        assert!(empty.id_number().is_none());
    }

    #[test]
    fn nested_levels() {
        // An HD inside a component is split on '&'; inside a subcomponent it is not split.
        let pl = Pl::parse(b"ICU^^^HOSP&1.2&ISO^^^^^^ROOM-A&NS&9.9&ISO", &d());
        let ei = pl.comprehensive_location_identifier().unwrap();
        assert_eq!(ei.entity_identifier().unwrap().raw(), b"ROOM-A");
        let hd = ei.assigning_authority().unwrap();
        assert_eq!(hd.raw(), b"NS&9.9&ISO");
        assert_eq!(hd.universal_id().unwrap().raw(), b"9.9");
        let cx = Cx::parse_in_component(b"1&2&3&AUTH", &d());
        let hd = cx.assigning_authority().unwrap();
        assert_eq!(hd.namespace_id().unwrap().raw(), b"AUTH");
        assert!(hd.universal_id().is_none());
    }

    #[test]
    fn old_phone_forms() {
        let p = parse_old_phone("1(608)555-1212X123B777CAfter 5pm").unwrap();
        assert_eq!(p.country_code, Some("1"));
        assert_eq!(p.area_code, Some("608"));
        assert_eq!(p.local_number, "555-1212");
        assert_eq!(p.extension, Some("123"));
        assert_eq!(p.beeper, Some("777"));
        assert_eq!(p.any_text, Some("After 5pm"));
        assert_eq!(p.digits(), "16085551212");
        let p = parse_old_phone("555-1212").unwrap();
        assert_eq!((p.area_code, p.local_number), (None, "555-1212"));
        assert!(parse_old_phone("jane@example.org").is_none());
        assert!(parse_old_phone("(608").is_none());
        assert!(parse_old_phone("").is_none());
    }

    #[test]
    fn xtn_prefers_components_and_falls_back() {
        let x = Xtn::parse(b"(608)555-0000^PRN^PH^^1^608^5551212^9", &d());
        let p = x.phone().unwrap();
        assert_eq!((p.local_number, p.extension), ("5551212", Some("9")));
        let x = Xtn::parse(b"^PRN^PH^^^^^^^^^6085551212", &d());
        assert_eq!(x.phone().unwrap().local_number, "6085551212");
        let x = Xtn::parse(b"jane@example.org^NET^Internet", &d());
        assert_eq!(x.email().unwrap().raw(), b"jane@example.org");
        assert!(x.phone().is_none());
    }

    #[test]
    fn cwe_triplets() {
        let c = Cwe::parse(b"^^^L1^Local one^99X^^^orig^S1^Second^SCT", &d());
        assert!(c.primary().is_none());
        let all: Vec<_> = c.codings().collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].identifier.unwrap().raw(), b"L1");
        assert_eq!(all[1].coding_system.unwrap().raw(), b"SCT");
        assert_eq!(c.original_text().unwrap().raw(), b"orig");
    }
}
