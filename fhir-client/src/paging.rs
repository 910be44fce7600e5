//! Paging through search results: <https://hl7.org/fhir/R4/http.html#paging>.
//!
//! [`Pager`] is fed each page's Bundle and says what to fetch next. `next` links are followed
//! exactly as the server gave them (Oracle Health's opaque `pageContext` must not be rebuilt).
//! It survives broken servers: a `next` that repeats a URL already fetched ends the search
//! (reported as [`StopReason::RepeatedNext`]), and caps on pages and resources bound the work.

use std::collections::HashSet;

use ehrkit_fhir_model::{Bundle, BundleEntry, Resource};

/// Limits on one search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// Pages fetched at most (the first included).
    pub max_pages: usize,
    /// Resources returned at most (matches and includes).
    pub max_resources: usize,
}

impl Default for PageLimits {
    /// 1,000 pages, 1,000,000 resources.
    fn default() -> Self {
        PageLimits {
            max_pages: 1_000,
            max_resources: 1_000_000,
        }
    }
}

impl PageLimits {
    /// Sets the page cap.
    pub fn max_pages(mut self, n: usize) -> Self {
        self.max_pages = n;
        self
    }
    /// Sets the resource cap.
    pub fn max_resources(mut self, n: usize) -> Self {
        self.max_resources = n;
        self
    }
}

/// Why a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The last page had no `next` link: everything was read.
    Complete,
    /// The page cap was reached while a `next` link remained.
    PageCap,
    /// The resource cap was reached.
    ResourceCap,
    /// The server's `next` link repeated a URL already fetched.
    RepeatedNext,
}

impl StopReason {
    /// Whether results may be missing.
    pub fn truncated(self) -> bool {
        self != StopReason::Complete
    }
}

/// `search.mode` of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryMode {
    /// A match of the search.
    Match,
    /// Added by `_include` / `_revinclude`.
    Include,
    /// An OperationOutcome about the search.
    Outcome,
}

/// One resource of a search page.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The resource (types whose feature is off are [`Resource::Other`]).
    pub resource: Resource,
    /// Why it is in the page.
    pub mode: EntryMode,
    /// `fullUrl`.
    pub full_url: Option<String>,
}

/// What to do after a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Fetch this link (as given by the server).
    Fetch(String),
    /// Done.
    Stop(StopReason),
}

/// A page, digested.
#[derive(Debug)]
pub struct Page {
    /// Its resources (within the resource cap).
    pub entries: Vec<Entry>,
    /// `Bundle.total`, when the server gives it.
    pub total: Option<u32>,
    /// What comes next.
    pub next: Next,
}

/// The paging state machine of one search.
#[derive(Debug, Clone)]
pub struct Pager {
    limits: PageLimits,
    fetched: HashSet<String>,
    pages: usize,
    resources: usize,
    stopped: Option<StopReason>,
}

impl Pager {
    /// A pager for a search whose first request goes to `first_url`.
    pub fn new(first_url: &str, limits: PageLimits) -> Self {
        let mut fetched = HashSet::new();
        fetched.insert(first_url.to_owned());
        Pager {
            limits,
            fetched,
            pages: 0,
            resources: 0,
            stopped: None,
        }
    }

    /// Pages digested so far.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Resources returned so far.
    pub fn resources(&self) -> usize {
        self.resources
    }

    /// Why the search stopped, once it did.
    pub fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }

    /// Digests a page: its entries (up to the resource cap) and the next step. Call it with the
    /// Bundle of the URL returned by the previous [`Next::Fetch`].
    pub fn on_page(&mut self, bundle: Bundle) -> Page {
        self.pages += 1;
        let total = bundle.total.as_ref().and_then(|t| t.value);
        let next_link = bundle
            .link
            .iter()
            .find(|l| l.relation.as_ref().and_then(|r| r.value.as_deref()) == Some("next"))
            .and_then(|l| l.url.as_ref().and_then(|u| u.value.clone()))
            .filter(|u| !u.is_empty());
        let room = self.limits.max_resources.saturating_sub(self.resources);
        let mut entries: Vec<Entry> = bundle.entry.into_iter().filter_map(entry).collect();
        let capped = entries.len() >= room && (entries.len() > room || next_link.is_some());
        entries.truncate(room);
        self.resources += entries.len();
        let next = if capped {
            Next::Stop(StopReason::ResourceCap)
        } else {
            match next_link {
                None => Next::Stop(StopReason::Complete),
                Some(_) if self.pages >= self.limits.max_pages => Next::Stop(StopReason::PageCap),
                Some(link) => {
                    if self.fetched.insert(link.clone()) {
                        Next::Fetch(link)
                    } else {
                        tracing::warn!(
                            page = self.pages,
                            "FHIR server repeated a next link; search ended"
                        );
                        Next::Stop(StopReason::RepeatedNext)
                    }
                }
            }
        };
        if let Next::Stop(r) = next {
            self.stopped = Some(r);
        }
        Page {
            entries,
            total,
            next,
        }
    }
}

fn entry(e: BundleEntry) -> Option<Entry> {
    let mode = match e
        .search
        .as_ref()
        .and_then(|s| s.mode.as_ref())
        .and_then(|m| m.value.as_ref())
        .map(|m| m.as_code())
    {
        Some("include") => EntryMode::Include,
        Some("outcome") => EntryMode::Outcome,
        _ => EntryMode::Match,
    };
    let resource = *e.resource?;
    let mode = if mode == EntryMode::Match && resource.resource_type() == "OperationOutcome" {
        EntryMode::Outcome
    } else {
        mode
    };
    Some(Entry {
        resource,
        mode,
        full_url: e.full_url.and_then(|u| u.value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_json(ids: &[&str], next: Option<&str>) -> Bundle {
        let entries: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"resource":{{"resourceType":"Observation","id":"{id}"}},"search":{{"mode":"match"}}}}"#))
            .collect();
        let link = next
            .map(|n| {
                format!(
                    r#","link":[{{"relation":"self","url":"x"}},{{"relation":"next","url":"{n}"}}]"#
                )
            })
            .unwrap_or_default();
        let json = format!(
            r#"{{"resourceType":"Bundle","type":"searchset","total":9{link},"entry":[{}]}}"#,
            entries.join(",")
        );
        ehrkit_fhir_model::from_slice(json.as_bytes()).unwrap()
    }

    #[test]
    fn follows_next_until_absent() {
        let mut p = Pager::new("u0", PageLimits::default());
        let a = p.on_page(page_json(&["1", "2"], Some("u1?pageContext=x")));
        assert_eq!(a.next, Next::Fetch("u1?pageContext=x".into()));
        assert_eq!(a.total, Some(9));
        assert_eq!(a.entries.len(), 2);
        let b = p.on_page(page_json(&["3"], None));
        assert_eq!(b.next, Next::Stop(StopReason::Complete));
        assert_eq!((p.pages(), p.resources()), (2, 3));
        assert!(!StopReason::Complete.truncated());
    }

    #[test]
    fn repeated_next_stops() {
        let mut p = Pager::new("u0", PageLimits::default());
        assert!(matches!(
            p.on_page(page_json(&["1"], Some("u1"))).next,
            Next::Fetch(_)
        ));
        assert_eq!(
            p.on_page(page_json(&["2"], Some("u1"))).next,
            Next::Stop(StopReason::RepeatedNext)
        );
        // A next pointing back at the first URL is a repeat too.
        let mut p = Pager::new("u0", PageLimits::default());
        assert_eq!(
            p.on_page(page_json(&["1"], Some("u0"))).next,
            Next::Stop(StopReason::RepeatedNext)
        );
    }

    #[test]
    fn page_and_resource_caps() {
        let mut p = Pager::new("u0", PageLimits::default().max_pages(2));
        assert!(matches!(
            p.on_page(page_json(&["1"], Some("u1"))).next,
            Next::Fetch(_)
        ));
        assert_eq!(
            p.on_page(page_json(&["2"], Some("u2"))).next,
            Next::Stop(StopReason::PageCap)
        );

        let mut p = Pager::new("u0", PageLimits::default().max_resources(3));
        assert_eq!(
            p.on_page(page_json(&["1", "2"], Some("u1"))).entries.len(),
            2
        );
        let last = p.on_page(page_json(&["3", "4"], Some("u2")));
        assert_eq!(last.entries.len(), 1);
        assert_eq!(last.next, Next::Stop(StopReason::ResourceCap));
        // Exactly at the cap with nothing more: complete, not truncated.
        let mut p = Pager::new("u0", PageLimits::default().max_resources(2));
        assert_eq!(
            p.on_page(page_json(&["1", "2"], None)).next,
            Next::Stop(StopReason::Complete)
        );
    }

    #[test]
    fn include_and_outcome_modes() {
        let json = r#"{"resourceType":"Bundle","type":"searchset","entry":[
          {"resource":{"resourceType":"Patient","id":"p"},"search":{"mode":"include"}},
          {"resource":{"resourceType":"OperationOutcome","issue":[]}},
          {"fullUrl":"urn:x"}]}"#;
        let mut p = Pager::new("u0", PageLimits::default());
        let page = p.on_page(ehrkit_fhir_model::from_slice(json.as_bytes()).unwrap());
        let modes: Vec<EntryMode> = page.entries.iter().map(|e| e.mode).collect();
        assert_eq!(modes, [EntryMode::Include, EntryMode::Outcome]);
    }
}
