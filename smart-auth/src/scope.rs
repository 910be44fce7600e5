//! SMART scopes: the v1 and v2 grammar, v1⇄v2 mapping, set comparison.
//!
//! ```
//! use ehrkit_smart_auth::{Scope, ScopeSet};
//!
//! let requested: ScopeSet = "launch/patient patient/Observation.rs?category=laboratory openid fhirUser"
//!     .parse().unwrap();
//! let granted: ScopeSet = "launch/patient patient/*.read openid fhirUser".parse().unwrap();
//! // v1 `patient/*.read` means v2 `patient/*.rs`, which covers the narrower laboratory scope.
//! assert!(requested.difference(&granted).not_granted.is_empty());
//! let v1: Scope = "user/Patient.write".parse().unwrap();
//! assert_eq!(v1.to_v2().to_string(), "user/Patient.cud");
//! ```

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// The context prefix of a resource scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    /// `patient/`: data about the patient in context.
    Patient,
    /// `user/`: data the user may see.
    User,
    /// `system/`: backend services.
    System,
}

impl Context {
    fn as_str(self) -> &'static str {
        match self {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        }
    }
}

/// SMART v1 access levels (`.read`, `.write`, `.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum V1Access {
    /// `.read`
    Read,
    /// `.write`
    Write,
    /// `.*`
    All,
}

/// SMART v2 permission letters, as a set (always written in `cruds` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct V2Permissions(u8);

impl V2Permissions {
    /// `c` create.
    pub const CREATE: Self = V2Permissions(1);
    /// `r` read.
    pub const READ: Self = V2Permissions(2);
    /// `u` update.
    pub const UPDATE: Self = V2Permissions(4);
    /// `d` delete.
    pub const DELETE: Self = V2Permissions(8);
    /// `s` search.
    pub const SEARCH: Self = V2Permissions(16);
    /// `cruds`.
    pub const ALL: Self = V2Permissions(31);
    const LETTERS: [(u8, char); 5] = [(1, 'c'), (2, 'r'), (4, 'u'), (8, 'd'), (16, 's')];

    /// Builds from raw bits (only the low five bits are kept).
    pub fn from_bits(bits: u8) -> Self {
        V2Permissions(bits & 31)
    }

    /// Raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Union.
    pub fn union(self, other: Self) -> Self {
        V2Permissions(self.0 | other.0)
    }

    /// True when every permission in `other` is in `self`.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when no letter is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses `cruds`-ordered letters; `None` if not a valid v2 permission string.
    fn parse(s: &str) -> Option<Self> {
        let mut bits = 0u8;
        let mut next = 0usize; // index into LETTERS: letters must come in order, at most once
        for ch in s.chars() {
            let pos = Self::LETTERS[next..].iter().position(|&(_, c)| c == ch)? + next;
            bits |= Self::LETTERS[pos].0;
            next = pos + 1;
        }
        (bits != 0).then_some(V2Permissions(bits))
    }
}

impl fmt::Display for V2Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, ch) in Self::LETTERS {
            if self.0 & bit != 0 {
                write!(f, "{ch}")?;
            }
        }
        Ok(())
    }
}

/// The permission part of a resource scope: v1 or v2 syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permissions {
    /// SMART v1 (`read`, `write`, `*`).
    V1(V1Access),
    /// SMART v2 (`cruds` letters).
    V2(V2Permissions),
}

impl Permissions {
    /// The v2 meaning: `read` = `rs`, `write` = `cud`, `*` = `cruds` (SMART 2.0 §Scopes for
    /// requesting clinical data, "v1 to v2").
    pub fn as_v2(self) -> V2Permissions {
        match self {
            Permissions::V1(V1Access::Read) => V2Permissions::READ.union(V2Permissions::SEARCH),
            Permissions::V1(V1Access::Write) => V2Permissions::CREATE
                .union(V2Permissions::UPDATE)
                .union(V2Permissions::DELETE),
            Permissions::V1(V1Access::All) => V2Permissions::ALL,
            Permissions::V2(p) => p,
        }
    }
}

/// A resource scope such as `patient/Observation.rs?category=laboratory` or `user/*.read`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceScope {
    /// `patient`, `user` or `system`.
    pub context: Context,
    /// Resource type; `None` for `*`.
    pub resource_type: Option<String>,
    /// Permissions.
    pub permissions: Permissions,
    /// v2 query suffix after `?`, as written (e.g. `category=laboratory`).
    pub query: Option<String>,
}

impl ResourceScope {
    /// True if this scope grants everything `other` asks for (v1 and v2 compared by meaning).
    pub fn covers(&self, other: &ResourceScope) -> bool {
        self.context == other.context
            && (self.resource_type.is_none() || self.resource_type == other.resource_type)
            && self.permissions.as_v2().contains(other.permissions.as_v2())
            && match (&self.query, &other.query) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(mine), Some(theirs)) => query_restricts_at_most(mine, theirs),
            }
    }

    /// The v2 form (v2 scopes are returned unchanged).
    pub fn to_v2(&self) -> ResourceScope {
        ResourceScope {
            permissions: Permissions::V2(self.permissions.as_v2()),
            ..self.clone()
        }
    }

    /// The narrowest v1 scope that covers this one, and whether it is exact.
    ///
    /// v1 cannot express queries or single letters, so the result may be broader:
    /// `r` becomes `read` (which also allows search), `rs?category=x` becomes `read`.
    pub fn to_v1(&self) -> (ResourceScope, bool) {
        let p = self.permissions.as_v2();
        let reads = V2Permissions::READ.union(V2Permissions::SEARCH);
        let writes = V2Permissions::CREATE
            .union(V2Permissions::UPDATE)
            .union(V2Permissions::DELETE);
        let has_read = p.bits() & reads.bits() != 0;
        let has_write = p.bits() & writes.bits() != 0;
        let access = match (has_read, has_write) {
            (true, true) => V1Access::All,
            (false, true) => V1Access::Write,
            _ => V1Access::Read,
        };
        let v1 = ResourceScope {
            context: self.context,
            resource_type: self.resource_type.clone(),
            permissions: Permissions::V1(access),
            query: None,
        };
        let exact = self.query.is_none() && Permissions::V1(access).as_v2() == p;
        (v1, exact)
    }
}

/// True when every restriction of the `broader` v2 query also appears in `narrower`, so that
/// `narrower` selects a subset of what `broader` does. Parameters are compared decoded and as
/// a set: `a=1&b=2` and `b=2&a=1` are the same restriction.
fn query_restricts_at_most(broader: &str, narrower: &str) -> bool {
    let params = |q: &str| -> Vec<(String, String)> {
        url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    };
    let theirs = params(narrower);
    params(broader).iter().all(|p| theirs.contains(p))
}

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}.",
            self.context.as_str(),
            self.resource_type.as_deref().unwrap_or("*")
        )?;
        match self.permissions {
            Permissions::V1(V1Access::Read) => f.write_str("read")?,
            Permissions::V1(V1Access::Write) => f.write_str("write")?,
            Permissions::V1(V1Access::All) => f.write_str("*")?,
            Permissions::V2(p) => write!(f, "{p}")?,
        }
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

/// One SMART scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scope {
    /// `openid`
    OpenId,
    /// `fhirUser`
    FhirUser,
    /// `profile` (deprecated by SMART 2, still sent by older apps)
    Profile,
    /// `launch` (EHR launch)
    Launch,
    /// `launch/<context>`, e.g. `launch/patient`, `launch/encounter`
    LaunchContext(String),
    /// `offline_access`
    OfflineAccess,
    /// `online_access`
    OnlineAccess,
    /// A resource scope (v1 or v2).
    Resource(ResourceScope),
    /// Any other scope (vendor-specific), kept verbatim.
    Other(String),
}

impl Scope {
    /// Parses one scope token. Errors carry offset 0 (the caller adds the token's offset).
    pub fn parse(token: &str) -> Result<Scope> {
        parse_token(token, 0)
    }

    /// The v2 form of a resource scope; other scopes unchanged.
    pub fn to_v2(&self) -> Scope {
        match self {
            Scope::Resource(r) => Scope::Resource(r.to_v2()),
            other => other.clone(),
        }
    }

    /// The v1 form of a resource scope (possibly broader, see [`ResourceScope::to_v1`]).
    pub fn to_v1(&self) -> Scope {
        match self {
            Scope::Resource(r) => Scope::Resource(r.to_v1().0),
            other => other.clone(),
        }
    }

    /// True for a resource scope written in v1 syntax.
    pub fn is_v1(&self) -> bool {
        matches!(
            self,
            Scope::Resource(ResourceScope {
                permissions: Permissions::V1(_),
                ..
            })
        )
    }

    /// True if this scope grants everything `other` asks for.
    pub fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Resource(a), Scope::Resource(b)) => a.covers(b),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::OpenId => f.write_str("openid"),
            Scope::FhirUser => f.write_str("fhirUser"),
            Scope::Profile => f.write_str("profile"),
            Scope::Launch => f.write_str("launch"),
            Scope::LaunchContext(c) => write!(f, "launch/{c}"),
            Scope::OfflineAccess => f.write_str("offline_access"),
            Scope::OnlineAccess => f.write_str("online_access"),
            Scope::Resource(r) => r.fmt(f),
            Scope::Other(s) => f.write_str(s),
        }
    }
}

impl FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Scope> {
        Scope::parse(s)
    }
}

fn err(offset: usize, reason: impl Into<String>) -> Error {
    Error::Scope {
        offset,
        reason: reason.into(),
    }
}

/// RFC 6749 scope-token characters: %x21 / %x23-5B / %x5D-7E.
fn is_nqchar(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

fn is_resource_type(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric())
}

fn parse_token(token: &str, offset: usize) -> Result<Scope> {
    if token.is_empty() {
        return Err(err(offset, "empty scope"));
    }
    if let Some(i) = token.bytes().position(|b| !is_nqchar(b)) {
        return Err(err(offset + i, "character not allowed in a scope token"));
    }
    let simple = match token {
        "openid" => Some(Scope::OpenId),
        "fhirUser" => Some(Scope::FhirUser),
        "profile" => Some(Scope::Profile),
        "launch" => Some(Scope::Launch),
        "offline_access" => Some(Scope::OfflineAccess),
        "online_access" => Some(Scope::OnlineAccess),
        _ => None,
    };
    if let Some(s) = simple {
        return Ok(s);
    }
    if let Some(ctx) = token.strip_prefix("launch/") {
        if ctx.is_empty() {
            return Err(err(offset + 7, "empty launch context"));
        }
        return Ok(Scope::LaunchContext(ctx.to_owned()));
    }
    let (context, rest, prefix_len) = if let Some(r) = token.strip_prefix("patient/") {
        (Context::Patient, r, 8)
    } else if let Some(r) = token.strip_prefix("user/") {
        (Context::User, r, 5)
    } else if let Some(r) = token.strip_prefix("system/") {
        (Context::System, r, 7)
    } else {
        return Ok(Scope::Other(token.to_owned()));
    };
    let base = offset + prefix_len;
    let (body, query) = match rest.find('?') {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    let dot = body
        .rfind('.')
        .ok_or_else(|| err(base, "resource scope without '.' and permissions"))?;
    let (rtype, perms) = (&body[..dot], &body[dot + 1..]);
    let resource_type = if rtype == "*" {
        None
    } else if is_resource_type(rtype) {
        Some(rtype.to_owned())
    } else {
        return Err(err(
            base,
            "resource type must be '*' or a FHIR resource name",
        ));
    };
    let perm_off = base + dot + 1;
    let permissions = match perms {
        "read" => Permissions::V1(V1Access::Read),
        "write" => Permissions::V1(V1Access::Write),
        "*" => Permissions::V1(V1Access::All),
        p => Permissions::V2(V2Permissions::parse(p).ok_or_else(|| {
            err(
                perm_off,
                "permissions must be read, write, * or cruds letters in order",
            )
        })?),
    };
    let query = match query {
        Some("") => return Err(err(perm_off + perms.len(), "empty query after '?'")),
        Some(q) => {
            if matches!(permissions, Permissions::V1(_)) {
                return Err(err(perm_off + perms.len(), "v1 scopes take no query"));
            }
            Some(q.to_owned())
        }
        None => None,
    };
    Ok(Scope::Resource(ResourceScope {
        context,
        resource_type,
        permissions,
        query,
    }))
}

/// An ordered set of scopes without duplicates (the `scope` parameter).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct ScopeSet(Vec<Scope>);

/// What a token response granted compared with what was requested.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeDiff {
    /// Requested scopes that no granted scope covers.
    pub not_granted: Vec<Scope>,
    /// Granted scopes that no requested scope covers (servers may add, e.g. `launch`).
    pub extra: Vec<Scope>,
}

impl ScopeDiff {
    /// True when everything requested was granted.
    pub fn all_granted(&self) -> bool {
        self.not_granted.is_empty()
    }
}

impl ScopeSet {
    /// An empty set.
    pub fn new() -> Self {
        ScopeSet(Vec::new())
    }

    /// Parses a space-separated scope string. Runs of whitespace are accepted; an error gives the
    /// byte offset of the bad token.
    pub fn parse(s: &str) -> Result<ScopeSet> {
        let mut set = ScopeSet::new();
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b' ' || bytes[i] == b'\t' || bytes[i] == b'\n' || bytes[i] == b'\r' {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
            }
            set.insert(parse_token(&s[start..i], start)?);
        }
        Ok(set)
    }

    /// Parses a scope string received from a server: like [`ScopeSet::parse`], but a token
    /// outside the SMART grammar is kept verbatim as [`Scope::Other`] instead of failing the
    /// whole set (a server's odd scope must not hide the ones it granted).
    pub fn parse_lenient(s: &str) -> ScopeSet {
        let mut set = ScopeSet::new();
        for token in s.split([' ', '\t', '\n', '\r']) {
            if token.is_empty() {
                continue;
            }
            let scope = parse_token(token, 0).unwrap_or_else(|_| Scope::Other(token.to_owned()));
            set.insert(scope);
        }
        set
    }

    /// Adds a scope unless an identical one is present. Returns true if added.
    pub fn insert(&mut self, scope: Scope) -> bool {
        if self.0.contains(&scope) {
            false
        } else {
            self.0.push(scope);
            true
        }
    }

    /// The scopes in order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if some scope in the set covers `scope`.
    pub fn covers(&self, scope: &Scope) -> bool {
        self.0.iter().any(|s| s.covers(scope))
    }

    /// True if each set covers the other (same meaning, maybe different syntax).
    pub fn equivalent(&self, other: &ScopeSet) -> bool {
        self.0.iter().all(|s| other.covers(s)) && other.0.iter().all(|s| self.covers(s))
    }

    /// Compares `self` (requested) with `granted`.
    pub fn difference(&self, granted: &ScopeSet) -> ScopeDiff {
        ScopeDiff {
            not_granted: self
                .0
                .iter()
                .filter(|s| !granted.covers(s))
                .cloned()
                .collect(),
            extra: granted
                .0
                .iter()
                .filter(|s| !self.covers(s))
                .cloned()
                .collect(),
        }
    }

    /// Every resource scope in v2 syntax.
    pub fn to_v2(&self) -> ScopeSet {
        let mut out = ScopeSet::new();
        for s in &self.0 {
            out.insert(s.to_v2());
        }
        out
    }

    /// Every resource scope in v1 syntax (possibly broader).
    pub fn to_v1(&self) -> ScopeSet {
        let mut out = ScopeSet::new();
        for s in &self.0 {
            out.insert(s.to_v1());
        }
        out
    }

    /// A canonical string (sorted, deduplicated) for use in keys.
    pub fn canonical(&self) -> String {
        let mut v: Vec<String> = self.0.iter().map(|s| s.to_string()).collect();
        v.sort();
        v.dedup();
        v.join(" ")
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            s.fmt(f)?;
        }
        Ok(())
    }
}

impl FromStr for ScopeSet {
    type Err = Error;
    fn from_str(s: &str) -> Result<ScopeSet> {
        ScopeSet::parse(s)
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = ScopeSet::new();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let s: Scope = "patient/Observation.rs?category=laboratory"
            .parse()
            .unwrap();
        let Scope::Resource(r) = &s else { panic!() };
        assert_eq!(r.context, Context::Patient);
        assert_eq!(r.resource_type.as_deref(), Some("Observation"));
        assert_eq!(r.query.as_deref(), Some("category=laboratory"));
        assert_eq!(r.permissions.as_v2().to_string(), "rs");
        assert_eq!(s.to_string(), "patient/Observation.rs?category=laboratory");
        assert_eq!(
            Scope::parse("user/*.cruds").unwrap().to_string(),
            "user/*.cruds"
        );
        assert!(Scope::parse("system/*.read").unwrap().is_v1());
        assert_eq!(
            Scope::parse("user/*.*").unwrap().to_v2().to_string(),
            "user/*.cruds"
        );
        assert_eq!(
            Scope::parse("launch/patient").unwrap(),
            Scope::LaunchContext("patient".into())
        );
        assert_eq!(Scope::parse("fhirUser").unwrap(), Scope::FhirUser);
        assert_eq!(
            Scope::parse("Epic.Custom").unwrap(),
            Scope::Other("Epic.Custom".into())
        );
    }

    #[test]
    fn bad_scopes_have_offsets() {
        for (s, off) in [
            ("openid patient/Observation.sr", 27),
            ("openid patient/Observation.rr", 27),
            ("patient/Obs-x.rs", 8),
            ("user/Patient", 5),
            ("a \"b", 2),
            ("patient/*.read?x=1", 14),
            ("launch/", 7),
        ] {
            match ScopeSet::parse(s) {
                Err(Error::Scope { offset, .. }) => assert_eq!(offset, off, "{s}"),
                other => panic!("{s}: {other:?}"),
            }
        }
    }

    #[test]
    fn v1_v2_mapping() {
        let (v1, exact) = match Scope::parse("patient/Observation.r").unwrap() {
            Scope::Resource(r) => r.to_v1(),
            _ => unreachable!(),
        };
        assert_eq!(v1.to_string(), "patient/Observation.read");
        assert!(!exact);
        let (v1, exact) = match Scope::parse("system/*.cud").unwrap() {
            Scope::Resource(r) => r.to_v1(),
            _ => unreachable!(),
        };
        assert_eq!(v1.to_string(), "system/*.write");
        assert!(exact);
        assert_eq!(
            Scope::parse("system/*.crs").unwrap().to_v1().to_string(),
            "system/*.*"
        );
    }

    #[test]
    fn set_comparison_and_difference() {
        let req = ScopeSet::parse(
            "openid  fhirUser patient/Observation.rs patient/Condition.cruds offline_access",
        )
        .unwrap();
        let granted = ScopeSet::parse("openid fhirUser patient/*.read launch").unwrap();
        let d = req.difference(&granted);
        assert_eq!(
            d.not_granted
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
            ["patient/Condition.cruds", "offline_access"]
        );
        assert_eq!(
            d.extra.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ["patient/*.read", "launch"]
        );
        assert!(ScopeSet::parse("user/*.*")
            .unwrap()
            .equivalent(&ScopeSet::parse("user/*.cruds").unwrap()));
        // A query-restricted grant does not cover the unrestricted request.
        let req = ScopeSet::parse("patient/Observation.rs").unwrap();
        let granted = ScopeSet::parse("patient/Observation.rs?category=vital-signs").unwrap();
        assert_eq!(req.difference(&granted).not_granted.len(), 1);
        assert_eq!(req.canonical(), "patient/Observation.rs");
    }
}
