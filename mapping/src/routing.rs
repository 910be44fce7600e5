//! Automatic profile selection for HL7 v2 feeds (issue 13 item 2): a routing table from the
//! sender (MSH-3 sending application, MSH-4 sending facility) to a profile, with an explicit
//! override.
//!
//! The table is TOML written by the user. Rules are tried in order; the first whose keys all
//! match wins; no match gives `default` (else the generic profile). A rule's `profile` is a
//! built-in name ([`Profile::BUILTIN`]) or a profile file (`.toml` or `.json`, relative to the
//! table's directory), typically a site overlay.
//!
//! ```
//! use ehrkit_hl7v2::Message;
//! use ehrkit_mapping::{Error, Profile, ProfileProblem, Routing, Selected};
//!
//! let routing = Routing::from_toml_with(
//!     r#"
//! default = "generic"
//! [[route]]
//! sending_application = "EPIC"
//! profile = "epic"
//! [[route]]
//! sending_facility = "MILLENNIUM"
//! profile = "oracle_health"
//! "#,
//!     |name| {
//!         Profile::builtin(name).ok_or(Error::InvalidProfile {
//!             field: "profile".into(),
//!             problem: ProfileProblem::UnknownBuiltin,
//!         })
//!     },
//! )
//! .unwrap();
//! let msg = Message::parse(b"MSH|^~\\&|EPIC|GHH|RCV|RF|20260301123000-0500||ADT^A01|1|P|2.5\r").unwrap();
//! let chosen = routing.select(&msg);
//! assert_eq!(chosen.profile.name, "epic");
//! assert_eq!(chosen.by, Selected::Rule(1));
//!
//! // An explicit override wins over the table.
//! let forced = routing.clone().with_override(Profile::generic());
//! assert_eq!(forced.select(&msg).by, Selected::Override);
//! ```

use std::path::Path;

use ehrkit_hl7v2::datatypes::Hd;
use ehrkit_hl7v2::Message;
use serde::Deserialize;

use crate::error::{Error, ProfileProblem};
use crate::v2_to_fhir::datatype::text;
use crate::Profile;

/// A routing table, loaded: rules with their profiles, the default, and an optional override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    rules: Vec<Rule>,
    default: Profile,
    explicit: Option<Profile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    sending_application: Option<String>,
    sending_facility: Option<String>,
    profile: Profile,
}

/// Why a profile was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selected {
    /// The explicit override ([`Routing::with_override`]).
    Override,
    /// The 1-based rule of the table that matched.
    Rule(usize),
    /// No rule matched: the table's default.
    Default,
}

/// The profile chosen for a message, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection<'r> {
    /// The profile to convert with.
    pub profile: &'r Profile,
    /// Why it was chosen.
    pub by: Selected,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    default: Option<String>,
    #[serde(default)]
    route: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    sending_application: Option<String>,
    sending_facility: Option<String>,
    profile: String,
}

impl Routing {
    /// A table without rules: every message gets `default`.
    pub fn new(default: Profile) -> Self {
        Routing {
            rules: Vec::new(),
            default,
            explicit: None,
        }
    }

    /// Adds a rule at the end: messages whose MSH-3 is `sending_application` and MSH-4 is
    /// `sending_facility` (`None`: any) get `profile`.
    pub fn route(
        mut self,
        sending_application: Option<&str>,
        sending_facility: Option<&str>,
        profile: Profile,
    ) -> Self {
        self.rules.push(Rule {
            sending_application: sending_application.map(str::to_owned),
            sending_facility: sending_facility.map(str::to_owned),
            profile,
        });
        self
    }

    /// Reads a routing table; profile names are built-in names or files relative to `dir`
    /// (`.toml` or `.json`, read with [`Profile::from_toml`] / [`Profile::from_json`]).
    pub fn from_toml(text: &str, dir: &Path) -> Result<Self, Error> {
        Self::from_toml_with(text, |spec| load(spec, dir))
    }

    /// Reads a routing table, resolving each profile name with `resolve` (the rule number is
    /// added to its error).
    pub fn from_toml_with(
        text: &str,
        mut resolve: impl FnMut(&str) -> Result<Profile, Error>,
    ) -> Result<Self, Error> {
        let file: TableFile = toml::from_str(text).map_err(|e| Error::ProfileToml(Box::new(e)))?;
        let mut get = |rule: usize, spec: &str| -> Result<Profile, Error> {
            if spec.trim().is_empty() {
                return Err(Error::InvalidRoute {
                    rule,
                    field: if rule == 0 { "default" } else { "profile" }.into(),
                    problem: ProfileProblem::Empty,
                });
            }
            resolve(spec).map_err(|e| match e {
                Error::RouteFile { source, .. } => Error::RouteFile { rule, source },
                e => Error::RouteProfile {
                    rule,
                    source: Box::new(e),
                },
            })
        };
        let default = match &file.default {
            Some(d) => get(0, d)?,
            None => Profile::generic(),
        };
        let mut rules = Vec::with_capacity(file.route.len());
        for (i, r) in file.route.into_iter().enumerate() {
            let n = i + 1;
            let clean = |v: Option<String>, field: &str| -> Result<Option<String>, Error> {
                match v {
                    Some(v) if v.trim().is_empty() => Err(Error::InvalidRoute {
                        rule: n,
                        field: field.into(),
                        problem: ProfileProblem::Empty,
                    }),
                    v => Ok(v.map(|v| v.trim().to_owned())),
                }
            };
            let app = clean(r.sending_application, "sending_application")?;
            let facility = clean(r.sending_facility, "sending_facility")?;
            if app.is_none() && facility.is_none() {
                return Err(Error::InvalidRoute {
                    rule: n,
                    field: "sending_application".into(),
                    problem: ProfileProblem::Empty,
                });
            }
            rules.push(Rule {
                sending_application: app,
                sending_facility: facility,
                profile: get(n, &r.profile)?,
            });
        }
        Ok(Routing {
            rules,
            default,
            explicit: None,
        })
    }

    /// Sets an explicit profile that wins over every rule (a user's `--profile`).
    pub fn with_override(mut self, profile: Profile) -> Self {
        self.explicit = Some(profile);
        self
    }

    /// The profile for a message, from its MSH-3 and MSH-4 (HD namespace or universal id).
    pub fn select(&self, msg: &Message<'_>) -> Selection<'_> {
        let hd = |f: usize| -> (Option<String>, Option<String>) {
            msg.segment("MSH", 1)
                .and_then(|msh| msh.field(f).first::<Hd<'_>>())
                .map(|hd| (text(hd.namespace_id()), text(hd.universal_id())))
                .unwrap_or_default()
        };
        let (app, facility) = (hd(3), hd(4));
        self.select_for(
            [app.0.as_deref(), app.1.as_deref()],
            [facility.0.as_deref(), facility.1.as_deref()],
        )
    }

    /// The profile for a sender given as MSH-3 and MSH-4 values (any of each pair may match a
    /// rule: the HD namespace and universal id).
    pub fn select_for(
        &self,
        application: [Option<&str>; 2],
        facility: [Option<&str>; 2],
    ) -> Selection<'_> {
        if let Some(p) = &self.explicit {
            return Selection {
                profile: p,
                by: Selected::Override,
            };
        }
        let matches = |want: &Option<String>, have: &[Option<&str>; 2]| match want {
            None => true,
            Some(w) => have.iter().flatten().any(|h| h == w),
        };
        for (i, r) in self.rules.iter().enumerate() {
            if matches(&r.sending_application, &application)
                && matches(&r.sending_facility, &facility)
            {
                return Selection {
                    profile: &r.profile,
                    by: Selected::Rule(i + 1),
                };
            }
        }
        Selection {
            profile: &self.default,
            by: Selected::Default,
        }
    }
}

/// A built-in name, or a profile file under `dir`.
fn load(spec: &str, dir: &Path) -> Result<Profile, Error> {
    if let Some(p) = Profile::builtin(spec) {
        return Ok(p);
    }
    let is_json = spec.ends_with(".json");
    if !is_json && !spec.ends_with(".toml") {
        return Err(Error::InvalidProfile {
            field: "profile".into(),
            problem: ProfileProblem::UnknownBuiltin,
        });
    }
    let text = std::fs::read_to_string(dir.join(spec))
        .map_err(|source| Error::RouteFile { rule: 0, source })?;
    if is_json {
        Profile::from_json(&text)
    } else {
        Profile::from_toml(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Routing, Error> {
        Routing::from_toml_with(text, |n| {
            Profile::builtin(n).ok_or(Error::InvalidProfile {
                field: "profile".into(),
                problem: ProfileProblem::UnknownBuiltin,
            })
        })
    }

    const TABLE: &str = r#"
default = "generic"
[[route]]
sending_application = "EPIC"
sending_facility = "GHH"
profile = "epic"
[[route]]
sending_facility = "2.16.840.1.113883.3.72.5.20"
profile = "oracle_health"
[[route]]
sending_application = "EPIC"
profile = "veradigm"
"#;

    #[test]
    fn first_matching_rule_wins_then_default() {
        let r = table(TABLE).unwrap();
        let s = r.select_for([Some("EPIC"), None], [Some("GHH"), None]);
        assert_eq!((s.profile.name.as_str(), s.by), ("epic", Selected::Rule(1)));
        // Facility by universal id (HD-2).
        let s = r.select_for(
            [Some("LAB"), None],
            [Some("X"), Some("2.16.840.1.113883.3.72.5.20")],
        );
        assert_eq!(
            (s.profile.name.as_str(), s.by),
            ("oracle_health", Selected::Rule(2))
        );
        // Application alone, other facility: the third rule.
        let s = r.select_for([Some("EPIC"), None], [Some("OTHER"), None]);
        assert_eq!(s.by, Selected::Rule(3));
        let s = r.select_for([Some("NOBODY"), None], [None, None]);
        assert_eq!(
            (s.profile.name.as_str(), s.by),
            ("generic", Selected::Default)
        );
    }

    #[test]
    fn selects_from_the_message_and_the_override_wins() {
        let r = table(TABLE).unwrap();
        let msg = Message::parse(
            b"MSH|^~\\&|EPIC|GHH|RCV|RF|20260301123000-0500||ADT^A01|1|P|2.5\rPID|1||1^^^X^MR\r",
        )
        .unwrap();
        assert_eq!(r.select(&msg).profile.name, "epic");
        let forced = r.with_override(Profile::builtin("meditech").unwrap());
        let s = forced.select(&msg);
        assert_eq!(
            (s.profile.name.as_str(), s.by),
            ("meditech", Selected::Override)
        );
    }

    #[test]
    fn errors_name_the_rule_and_field() {
        let e = table("[[route]]\nprofile = \"epic\"\n").unwrap_err();
        assert!(
            matches!(e, Error::InvalidRoute { rule: 1, ref field, .. } if field == "sending_application"),
            "{e}"
        );
        let e = table("[[route]]\nsending_application = \"A\"\nprofile = \"nope\"\n").unwrap_err();
        assert!(matches!(e, Error::RouteProfile { rule: 1, .. }), "{e}");
        assert!(e.to_string().contains("rule 1"), "{e}");
        let e = table("default = \"\"\n").unwrap_err();
        assert!(matches!(e, Error::InvalidRoute { rule: 0, .. }), "{e}");
        let e = table("[[route]]\nsending_application = \"A\"\nprofile = \"epic\"\nsurprise = 1\n")
            .unwrap_err();
        let Error::ProfileToml(t) = &e else {
            panic!("{e}")
        };
        assert!(t.span().is_some(), "{e}");
        let e = table("[[route]\n").unwrap_err();
        assert!(matches!(e, Error::ProfileToml(_)), "{e}");
    }

    #[test]
    fn files_relative_to_the_table() {
        let dir = std::env::temp_dir().join(format!("ehrkit-routing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("site.toml"),
            "extends = \"epic\"\nname = \"site-epic\"\nsource_time_zone = \"America/Chicago\"\n",
        )
        .unwrap();
        let r = Routing::from_toml(
            "[[route]]\nsending_application = \"EPIC\"\nprofile = \"site.toml\"\n",
            &dir,
        )
        .unwrap();
        let s = r.select_for([Some("EPIC"), None], [None, None]);
        assert_eq!(s.profile.name, "site-epic");
        assert_eq!(
            s.profile.source_time_zone,
            Some(chrono_tz::America::Chicago)
        );
        let e = Routing::from_toml(
            "[[route]]\nsending_application = \"EPIC\"\nprofile = \"missing.toml\"\n",
            &dir,
        )
        .unwrap_err();
        assert!(matches!(e, Error::RouteFile { rule: 1, .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
