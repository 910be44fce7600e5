//! Choosing the profile for a message: a routing table on MSH-3 / MSH-4 (HL7 v2) or on the
//! source name (FHIR feeds, files), read from TOML.
//!
//! ```toml
//! # routing.toml
//! [[route]]
//! sending_application = "EPIC"     # MSH-3 (HD.1), compared case-insensitively
//! sending_facility = "UCHEALTH"    # MSH-4 (HD.1); absent: any facility
//! source = "epic-adt"              # the name messages are kept under (default: MSH-3/MSH-4)
//! profile = "epic"                 # a Profile::BUILTIN name, or a profile TOML file
//!
//! [[route]]
//! endpoint = "athena-export"       # a FHIR feed or file source name
//! profile = "generic"
//!
//! [default]                        # absent: unknown senders are refused (NAK)
//! profile = "generic"
//! ```

use std::path::Path;
use std::sync::Arc;

use ehrkit_mapping::v2_to_fhir::{Converter, Options};
use ehrkit_mapping::Profile;
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Stage, StageError};

/// Who sent a message, as routing sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    /// MSH-3 first component (HD.1), empty for non-v2 input.
    pub application: String,
    /// MSH-4 first component (HD.1), empty for non-v2 input.
    pub facility: String,
    /// The source (listener, feed or file source) the message came through.
    pub endpoint: String,
}

/// The profile chosen for a message, with its converter.
#[derive(Debug, Clone)]
pub struct Route {
    /// The name messages of this route are kept under (inbox `source`, lineage).
    pub source: String,
    /// The profile (name and version are stored with every resource).
    pub profile: Arc<Profile>,
    /// A converter built with that profile.
    pub converter: Arc<Converter>,
}

impl Route {
    /// A route applying `profile`, kept under `source`.
    pub fn new(source: impl Into<String>, profile: Profile) -> Self {
        let converter = Converter::new(profile.clone(), Options::default());
        Route {
            source: source.into(),
            profile: Arc::new(profile),
            converter: Arc::new(converter),
        }
    }
}

/// The "choose profile" stage: replace it to route on anything else.
pub trait Router: Send + Sync + 'static {
    /// The route of a message from `sender`, or a [`Stage::Route`] error
    /// ([`ErrorKind::UnknownSender`]) when it has none.
    fn route(&self, sender: &Sender) -> Result<Route, StageError>;
}

/// A profile by name: one of `ehrkit-mapping`'s built-in vendor profiles
/// ([`Profile::BUILTIN`]: `generic`, `epic`, `oracle_health`, `veradigm`, `athenahealth`, ...),
/// else the generic profile renamed (so the name stored with resources is the one asked for).
pub fn builtin_profile(name: &str) -> Profile {
    Profile::builtin(name).unwrap_or_else(|| Profile::generic().named(name))
}

/// A [`Router`] over `ehrkit-mapping`'s routing table (MSH-3 / MSH-4 rules, a default, an
/// override): every sender gets a profile (the table's default when no rule matches), kept
/// under `MSH-3/MSH-4`.
impl Router for ehrkit_mapping::Routing {
    fn route(&self, sender: &Sender) -> Result<Route, StageError> {
        let chosen = self.select_for(
            [Some(sender.application.as_str()), None],
            [Some(sender.facility.as_str()), None],
        );
        Ok(Route::new(
            default_source_name(sender),
            chosen.profile.clone(),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[serde(default)]
    route: Vec<EntryFile>,
    default: Option<DefaultFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    sending_application: Option<String>,
    sending_facility: Option<String>,
    endpoint: Option<String>,
    source: Option<String>,
    profile: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultFile {
    profile: String,
}

/// One routing entry.
#[derive(Debug, Clone)]
struct Entry {
    application: Option<String>,
    facility: Option<String>,
    endpoint: Option<String>,
    source: Option<String>,
    route_profile: Profile,
}

/// The default [`Router`]: entries matched in order on MSH-3 / MSH-4 / endpoint, then an
/// optional default profile; without one an unknown sender is refused.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    entries: Vec<Entry>,
    default: Option<Profile>,
}

impl RoutingTable {
    /// An empty table: every sender is unknown until entries or a default are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table that routes every sender to `profile`.
    pub fn accept_all(profile: Profile) -> Self {
        Self {
            entries: Vec::new(),
            default: Some(profile),
        }
    }

    /// Routes messages whose MSH-3 is `application` (and MSH-4 `facility` when given) to
    /// `profile`, kept under `source`.
    pub fn sender(
        mut self,
        application: &str,
        facility: Option<&str>,
        source: &str,
        profile: Profile,
    ) -> Self {
        self.entries.push(Entry {
            application: Some(application.to_owned()),
            facility: facility.map(str::to_owned),
            endpoint: None,
            source: Some(source.to_owned()),
            route_profile: profile,
        });
        self
    }

    /// Routes everything arriving through the source `endpoint` (a FHIR feed, a file source)
    /// to `profile`.
    pub fn endpoint(mut self, endpoint: &str, profile: Profile) -> Self {
        self.entries.push(Entry {
            application: None,
            facility: None,
            endpoint: Some(endpoint.to_owned()),
            source: Some(endpoint.to_owned()),
            route_profile: profile,
        });
        self
    }

    /// Sets the profile for senders no entry matches.
    pub fn default_profile(mut self, profile: Profile) -> Self {
        self.default = Some(profile);
        self
    }

    /// Reads a table from TOML (format in the module docs). Profile names are
    /// [`Profile::BUILTIN`] names; a name ending in `.toml` is a profile file, relative to
    /// `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, Error> {
        let file: TableFile =
            toml::from_str(text).map_err(|e| Error::Routing(e.message().to_owned()))?;
        let load = |name: &str| -> Result<Profile, Error> {
            if name.ends_with(".toml") {
                let path = base.join(name);
                let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                    what: path.display().to_string(),
                    source,
                })?;
                Profile::from_toml(&text).map_err(|e| Error::Routing(format!("{name}: {e}")))
            } else {
                Profile::builtin(name).ok_or_else(|| {
                    Error::Routing(format!(
                        "unknown profile {name:?} (built in: {})",
                        Profile::BUILTIN.join(", ")
                    ))
                })
            }
        };
        let mut table = RoutingTable::new();
        for (i, e) in file.route.into_iter().enumerate() {
            if e.sending_application.is_none() && e.endpoint.is_none() {
                return Err(Error::Routing(format!(
                    "route {}: needs sending_application or endpoint",
                    i + 1
                )));
            }
            table.entries.push(Entry {
                application: e.sending_application,
                facility: e.sending_facility,
                endpoint: e.endpoint,
                source: e.source,
                route_profile: load(&e.profile)?,
            });
        }
        if let Some(d) = file.default {
            table.default = Some(load(&d.profile)?);
        }
        Ok(table)
    }

    /// Reads a table from a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            what: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }
}

fn same(a: &Option<String>, b: &str) -> bool {
    a.as_deref().is_none_or(|a| a.eq_ignore_ascii_case(b))
}

/// The default source name of a sender: `MSH-3/MSH-4`, or the endpoint for non-v2 input.
pub fn default_source_name(sender: &Sender) -> String {
    if sender.application.is_empty() && sender.facility.is_empty() {
        sender.endpoint.clone()
    } else {
        format!("{}/{}", sender.application, sender.facility)
    }
}

impl Router for RoutingTable {
    fn route(&self, sender: &Sender) -> Result<Route, StageError> {
        for e in &self.entries {
            let hit = match (&e.application, &e.endpoint) {
                (Some(_), _) => {
                    same(&e.application, &sender.application) && same(&e.facility, &sender.facility)
                }
                (None, Some(ep)) => ep == &sender.endpoint,
                (None, None) => false,
            };
            if hit {
                let source = e
                    .source
                    .clone()
                    .unwrap_or_else(|| default_source_name(sender));
                return Ok(Route::new(source, e.route_profile.clone()));
            }
        }
        match &self.default {
            Some(p) => Ok(Route::new(default_source_name(sender), p.clone())),
            None => Err(StageError::new(
                Stage::Route,
                ErrorKind::UnknownSender,
                "sender has no routing entry and the table has no default",
            )
            .at(if sender.application.is_empty() {
                "source".to_owned()
            } else {
                "MSH-3/MSH-4".to_owned()
            })),
        }
    }
}

/// A [`Router`] that caches one [`Route`] per sender (converters are built once).
pub(crate) struct CachedRouter {
    inner: Arc<dyn Router>,
    cache: std::sync::RwLock<std::collections::HashMap<(String, String, String), Route>>,
}

impl CachedRouter {
    pub(crate) fn new(inner: Arc<dyn Router>) -> Self {
        Self {
            inner,
            cache: Default::default(),
        }
    }

    pub(crate) fn route(&self, s: &Sender) -> Result<Route, StageError> {
        let k = (
            s.application.clone(),
            s.facility.clone(),
            s.endpoint.clone(),
        );
        if let Some(r) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(&k) {
            return Ok(r.clone());
        }
        let r = self.inner.route(s)?;
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(k, r.clone());
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(app: &str, fac: &str) -> Sender {
        Sender {
            application: app.into(),
            facility: fac.into(),
            endpoint: "mllp".into(),
        }
    }

    #[test]
    fn table_from_toml_routes_and_refuses_unknown() {
        let t = RoutingTable::from_toml(
            "[[route]]\nsending_application = \"EPIC\"\nsource = \"epic-adt\"\nprofile = \"epic\"\n\
             [[route]]\nendpoint = \"athena\"\nprofile = \"generic\"\n",
            Path::new("."),
        )
        .unwrap();
        let r = t.route(&sender("epic", "ANY")).unwrap();
        assert_eq!(
            (r.source.as_str(), r.profile.name.as_str()),
            ("epic-adt", "epic")
        );
        let e = t.route(&sender("HNAM", "SMHC")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownSender);
        let fhir = Sender {
            endpoint: "athena".into(),
            ..Sender::default()
        };
        assert_eq!(t.route(&fhir).unwrap().source, "athena");
    }

    #[test]
    fn bad_toml_is_a_routing_error() {
        assert!(matches!(
            RoutingTable::from_toml("[[route]]\nprofile = \"x\"\n", Path::new(".")),
            Err(Error::Routing(_))
        ));
        assert!(matches!(
            RoutingTable::from_toml("nonsense = [", Path::new(".")),
            Err(Error::Routing(_))
        ));
        assert!(matches!(
            RoutingTable::from_toml("[default]\nprofile = \"no-such-vendor\"\n", Path::new(".")),
            Err(Error::Routing(_))
        ));
    }
}
