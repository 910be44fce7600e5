//! Per-vendor query planning, as data: each deviation is a named [`Rule`] in a
//! [`VendorProfile`] that users build, extend and override (DESIGN principle 4).
//!
//! | profile | rules |
//! |---|---|
//! | `epic` | `epic-observation-category-split`: `Observation?patient=X` without `category`/`code` is refused by Epic (400, `required`): split per category and merged |
//! | `oracle_health` | `oracle-encounter-required`: Encounter needs one of `_id`, `patient`, `subject`, `account`, `identifier`; `oracle-count-*`: `_count` defaults and maxima (Observation 50/200, DocumentReference and DiagnosticReport 10/100, Patient 20) |
//! | `athenahealth` | `athena-practice`: `ah-practice=Organization/a-1.Practice-{id}` on every request |
//! | `veradigm` | `veradigm-probe`: the CapabilityStatement lists only US Core minimums; probe instead of trusting it |
//! | `generic` | none |

use std::time::Duration;

use crate::error::{Error, Result};
use crate::retry::{RetryPolicy, ThrottleClassifier};
use crate::search::SearchParams;

/// One named vendor deviation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// Searches of `resource` that have none of `unless_any_of` are split into one search per
    /// value of `param`; the results are merged (duplicates by type and id dropped).
    SplitBy {
        /// Rule name.
        name: String,
        /// Resource type.
        resource: String,
        /// Parameter added (`category`).
        param: String,
        /// One search per value.
        values: Vec<String>,
        /// Parameters that make the split unnecessary (`category`, `code`, `_id`).
        unless_any_of: Vec<String>,
    },
    /// Searches of `resource` must carry one of `params`; refused before sending otherwise.
    RequireOneOf {
        /// Rule name.
        name: String,
        /// Resource type.
        resource: String,
        /// Accepted parameters.
        params: Vec<String>,
    },
    /// `_count` for searches of `resource`: `default` when absent, lowered to `max`.
    Count {
        /// Rule name.
        name: String,
        /// Resource type.
        resource: String,
        /// Set when the search has no `_count`.
        default: Option<u32>,
        /// Upper bound.
        max: Option<u32>,
    },
    /// A parameter added to every request (reads, searches, next pages) unless present.
    EveryRequest {
        /// Rule name.
        name: String,
        /// Parameter name.
        param: String,
        /// Value.
        value: String,
    },
    /// A parameter the caller gives in one query is carried over to every later request of
    /// the client (reads, searches, next pages), e.g. athenahealth's `ah-practice` when the
    /// profile was built without a practice id.
    Sticky {
        /// Rule name.
        name: String,
        /// Parameter name.
        param: String,
    },
    /// The server's CapabilityStatement is not to be trusted: probe support with a
    /// `_count=1` search (see `FhirClient::supports`).
    Probe {
        /// Rule name.
        name: String,
    },
}

impl Rule {
    /// The rule's name.
    pub fn name(&self) -> &str {
        match self {
            Rule::SplitBy { name, .. }
            | Rule::RequireOneOf { name, .. }
            | Rule::Count { name, .. }
            | Rule::EveryRequest { name, .. }
            | Rule::Sticky { name, .. }
            | Rule::Probe { name } => name,
        }
    }
}

/// A vendor's rules, throttle classifier and retry policy.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorProfile {
    /// Profile name (`epic`, `oracle_health`, `athenahealth`, `veradigm`, `generic`, or yours).
    pub name: String,
    /// Query rules, applied in order.
    pub rules: Vec<Rule>,
    /// How throttling is signalled.
    pub throttle: ThrottleClassifier,
    /// Retries.
    pub retry: RetryPolicy,
    /// Requests per second sent to one endpoint (`None`: unlimited).
    pub requests_per_second: Option<f64>,
    /// Requests in flight to one endpoint at most.
    pub max_concurrency: usize,
}

/// The searches to run for one logical search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// One or more searches; several are merged (duplicates dropped).
    pub searches: Vec<SearchParams>,
    /// Rules that changed the query (names).
    pub applied: Vec<String>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Epic's Observation categories searched when a patient's Observations are asked for without
/// a category or code (the US Core categories plus Epic's own).
pub const EPIC_OBSERVATION_CATEGORIES: &[&str] = &[
    "laboratory",
    "vital-signs",
    "social-history",
    "survey",
    "exam",
    "imaging",
    "procedure",
    "activity",
    "therapy",
    "core-characteristics",
    "functional-mental-status",
    "obstetrics-gynecology",
    "genomics",
    "smartdata",
    "LDA",
];

impl VendorProfile {
    /// No rules; default throttling and retries.
    pub fn generic() -> Self {
        VendorProfile {
            name: "generic".into(),
            rules: Vec::new(),
            throttle: ThrottleClassifier::default(),
            retry: RetryPolicy::default(),
            requests_per_second: None,
            max_concurrency: 8,
        }
    }

    /// Epic: Observation split per category.
    pub fn epic() -> Self {
        VendorProfile {
            name: "epic".into(),
            rules: vec![Rule::SplitBy {
                name: "epic-observation-category-split".into(),
                resource: "Observation".into(),
                param: "category".into(),
                values: strings(EPIC_OBSERVATION_CATEGORIES),
                unless_any_of: strings(&["category", "code", "_id"]),
            }],
            ..Self::generic()
        }
    }

    /// Oracle Health (Cerner Millennium): Encounter's required parameters, `_count` limits.
    pub fn oracle_health() -> Self {
        let count = |name: &str, resource: &str, default: u32, max: Option<u32>| Rule::Count {
            name: name.into(),
            resource: resource.into(),
            default: Some(default),
            max,
        };
        VendorProfile {
            name: "oracle_health".into(),
            rules: vec![
                Rule::RequireOneOf {
                    name: "oracle-encounter-required".into(),
                    resource: "Encounter".into(),
                    params: strings(&["_id", "patient", "subject", "account", "identifier"]),
                },
                count("oracle-count-observation", "Observation", 50, Some(200)),
                count(
                    "oracle-count-document-reference",
                    "DocumentReference",
                    10,
                    Some(100),
                ),
                count(
                    "oracle-count-diagnostic-report",
                    "DiagnosticReport",
                    10,
                    Some(100),
                ),
                count("oracle-count-patient", "Patient", 20, None),
            ],
            ..Self::generic()
        }
    }

    /// athenahealth: `ah-practice=Organization/a-1.Practice-{practice_id}` on every request.
    /// Without a practice id (`None`) the rule is absent; the client then carries an
    /// `ah-practice` given in a query over to every later request.
    pub fn athenahealth(practice_id: Option<&str>) -> Self {
        let mut rules = vec![Rule::Sticky {
            name: "athena-practice-sticky".into(),
            param: "ah-practice".into(),
        }];
        if let Some(id) = practice_id {
            rules.push(Rule::EveryRequest {
                name: "athena-practice".into(),
                param: "ah-practice".into(),
                value: format!("Organization/a-1.Practice-{id}"),
            });
        }
        VendorProfile {
            name: "athenahealth".into(),
            rules,
            // athenahealth throttles hard (free text in diagnostics); go gently.
            retry: RetryPolicy::default().max_server_wait(Duration::from_secs(300)),
            ..Self::generic()
        }
    }

    /// Veradigm: read-only, probe support instead of trusting the CapabilityStatement.
    pub fn veradigm() -> Self {
        VendorProfile {
            name: "veradigm".into(),
            rules: vec![Rule::Probe {
                name: "veradigm-probe".into(),
            }],
            ..Self::generic()
        }
    }

    /// The profile of a name as in `mapping` (`epic`, `oracle_health`, `athenahealth`,
    /// `veradigm`, `generic`; also `cerner`, `oracle`, `athena`, `allscripts`).
    pub fn by_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().replace('-', "_").as_str() {
            "generic" => Self::generic(),
            "epic" => Self::epic(),
            "oracle_health" | "oracle" | "cerner" => Self::oracle_health(),
            "athenahealth" | "athena" => Self::athenahealth(None),
            "veradigm" | "allscripts" => Self::veradigm(),
            _ => return None,
        })
    }

    /// Adds a rule (a site overlay).
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Removes the rule of this name.
    pub fn without_rule(mut self, name: &str) -> Self {
        self.rules.retain(|r| r.name() != name);
        self
    }

    /// Sets requests per second (`None`, zero, negative or not finite: no rate limit; below
    /// one a day: one a day).
    pub fn requests_per_second(mut self, rps: Option<f64>) -> Self {
        self.requests_per_second = rps.filter(|r| r.is_finite() && *r > 0.0);
        self
    }

    /// Sets the concurrency limit (at least 1).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Whether a `Probe` rule is present.
    pub fn probes(&self) -> bool {
        self.rules.iter().any(|r| matches!(r, Rule::Probe { .. }))
    }

    /// Names of [`Rule::Sticky`] parameters.
    pub fn sticky_params(&self) -> Vec<&str> {
        self.rules
            .iter()
            .filter_map(|r| match r {
                Rule::Sticky { param, .. } => Some(param.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Parameters added to every request.
    pub fn every_request(&self) -> SearchParams {
        let mut p = SearchParams::new();
        for r in &self.rules {
            if let Rule::EveryRequest { param, value, .. } = r {
                p = p.param(param.clone(), value.clone());
            }
        }
        p
    }

    /// Plans a search: checks required parameters, sets `_count`, adds per-request
    /// parameters and splits where the vendor needs it.
    pub fn plan(&self, resource: &str, params: &SearchParams) -> Result<Plan> {
        let mut base = params.clone();
        let mut applied = Vec::new();
        let mut split: Option<(&str, &[String])> = None;
        for rule in &self.rules {
            match rule {
                Rule::RequireOneOf {
                    name,
                    resource: r,
                    params: need,
                } if r == resource && !need.iter().any(|p| base.has(p)) => {
                    return Err(Error::VendorRule {
                        rule: name.clone(),
                        resource: resource.to_owned(),
                        detail: format!("needs one of {}", need.join(", ")),
                    });
                }
                Rule::Count {
                    name,
                    resource: r,
                    default,
                    max,
                } if r == resource => {
                    let current = base.get("_count").and_then(|c| c.parse::<u32>().ok());
                    let new = match (current, default, max) {
                        (None, Some(d), _) => Some(*d),
                        (Some(c), _, Some(m)) if c > *m => Some(*m),
                        _ => None,
                    };
                    if let Some(n) = new {
                        base.set("_count", n.to_string());
                        applied.push(name.clone());
                    }
                }
                Rule::EveryRequest { name, param, value } if base.get(param).is_none() => {
                    base = base.param(param.clone(), value.clone());
                    applied.push(name.clone());
                }
                Rule::SplitBy {
                    name,
                    resource: r,
                    param,
                    values,
                    unless_any_of,
                } if r == resource
                    && !unless_any_of.iter().any(|p| base.has(p))
                    && !values.is_empty() =>
                {
                    split = Some((param, values));
                    applied.push(name.clone());
                }
                _ => {}
            }
        }
        let searches = match split {
            None => vec![base],
            Some((param, values)) => values
                .iter()
                .map(|v| base.clone().param(param, v.clone()))
                .collect(),
        };
        Ok(Plan { searches, applied })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epic_splits_unqualified_observation_searches() {
        let p = VendorProfile::epic();
        let plan = p
            .plan("Observation", &SearchParams::new().patient("X"))
            .unwrap();
        assert_eq!(plan.searches.len(), EPIC_OBSERVATION_CATEGORIES.len());
        assert_eq!(plan.searches[0].to_query(), "patient=X&category=laboratory");
        assert_eq!(
            plan.searches[1].to_query(),
            "patient=X&category=vital-signs"
        );
        assert_eq!(plan.applied, ["epic-observation-category-split"]);
        for q in [
            "patient=X&category=laboratory",
            "patient=X&code=http://loinc.org%7C1-1",
            "_id=5",
        ] {
            let plan = p.plan("Observation", &SearchParams::parse(q)).unwrap();
            assert_eq!(plan.searches.len(), 1, "{q}");
        }
        assert_eq!(
            p.plan("Condition", &SearchParams::new().patient("X"))
                .unwrap()
                .searches
                .len(),
            1
        );
        let off = p.without_rule("epic-observation-category-split");
        assert_eq!(
            off.plan("Observation", &SearchParams::new().patient("X"))
                .unwrap()
                .searches
                .len(),
            1
        );
    }

    #[test]
    fn oracle_requires_encounter_params_and_caps_count() {
        let p = VendorProfile::oracle_health();
        let err = p
            .plan("Encounter", &SearchParams::new().param("date", "ge2024"))
            .unwrap_err();
        assert!(
            matches!(err, Error::VendorRule { ref rule, .. } if rule == "oracle-encounter-required")
        );
        for ok in [
            "patient=1",
            "subject=Patient/1",
            "_id=3",
            "account=4",
            "identifier=a%7Cb",
        ] {
            assert!(
                p.plan("Encounter", &SearchParams::parse(ok)).is_ok(),
                "{ok}"
            );
        }
        let q = |t: &str, s: &str| {
            p.plan(t, &SearchParams::parse(s)).unwrap().searches[0]
                .get("_count")
                .map(str::to_owned)
        };
        assert_eq!(q("Observation", "patient=1").as_deref(), Some("50"));
        assert_eq!(
            q("Observation", "patient=1&_count=1000").as_deref(),
            Some("200")
        );
        assert_eq!(q("Observation", "patient=1&_count=7").as_deref(), Some("7"));
        assert_eq!(q("DocumentReference", "patient=1").as_deref(), Some("10"));
        assert_eq!(
            q("DiagnosticReport", "patient=1&_count=500").as_deref(),
            Some("100")
        );
        assert_eq!(q("Patient", "name=x").as_deref(), Some("20"));
        assert_eq!(q("Condition", "patient=1"), None);
    }

    #[test]
    fn athena_practice_on_every_request() {
        let p = VendorProfile::athenahealth(Some("195900"));
        let plan = p
            .plan("Patient", &SearchParams::new().id("a-1.E-1"))
            .unwrap();
        assert_eq!(
            plan.searches[0].get("ah-practice"),
            Some("Organization/a-1.Practice-195900")
        );
        assert_eq!(p.every_request().pairs().len(), 1);
        assert_eq!(p.sticky_params(), ["ah-practice"]);
        // Given by the caller: kept, not doubled.
        let given = SearchParams::new().param("ah-practice", "Organization/a-1.Practice-1");
        let plan = p.plan("Patient", &given).unwrap();
        assert_eq!(plan.searches[0], given);
    }

    #[test]
    fn names() {
        for n in [
            "generic",
            "epic",
            "oracle_health",
            "athenahealth",
            "veradigm",
            "Cerner",
            "oracle-health",
        ] {
            assert!(VendorProfile::by_name(n).is_some(), "{n}");
        }
        assert!(VendorProfile::by_name("meditechx").is_none());
        assert!(VendorProfile::veradigm().probes());
    }
}
