//! Many EHRs at once: a registry of named endpoints (base URL + vendor profile + tokens, one
//! [`FhirClient`] each) and fan-out calls whose results are tagged with their source, ready
//! for the `mapping` normalizer and the MPI.

use std::collections::BTreeMap;

use ehrkit_fhir_model::Resource;

use crate::client::FhirClient;
use crate::error::Result;
use crate::search::SearchParams;

/// A value tagged with the endpoint it came from.
#[derive(Debug)]
pub struct Tagged<T> {
    /// The endpoint's name in the registry.
    pub source: String,
    /// What it returned.
    pub value: T,
}

/// Named endpoints. Each keeps its own rate limiter, retries and counters.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    clients: BTreeMap<String, FhirClient>,
}

impl Endpoints {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) an endpoint.
    pub fn insert(&mut self, name: impl Into<String>, client: FhirClient) -> Option<FhirClient> {
        self.clients.insert(name.into(), client)
    }

    /// Builder form of [`insert`](Self::insert).
    pub fn with(mut self, name: impl Into<String>, client: FhirClient) -> Self {
        self.insert(name, client);
        self
    }

    /// The endpoint of this name.
    pub fn get(&self, name: &str) -> Option<&FhirClient> {
        self.clients.get(name)
    }

    /// Names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.clients.keys().map(String::as_str)
    }

    /// Runs one search on every endpoint concurrently (each with its vendor's plan) and
    /// returns each endpoint's resources or error, in name order. One endpoint failing does
    /// not hide the others' results.
    pub async fn search_all(
        &self,
        resource_type: &str,
        params: &SearchParams,
    ) -> Vec<Tagged<Result<Vec<Resource>>>> {
        let calls = self.clients.iter().map(|(name, c)| async move {
            Tagged {
                source: name.clone(),
                value: c.search_all(resource_type, params).await,
            }
        });
        futures_util::future::join_all(calls).await
    }

    /// Reads the same resource type and id on every endpoint concurrently (e.g. after the MPI
    /// linked ids: use [`FhirClient::read_resource`] per endpoint for different ids).
    pub async fn read_all(&self, resource_type: &str, id: &str) -> Vec<Tagged<Result<Resource>>> {
        let none = SearchParams::new();
        let calls = self.clients.iter().map(|(name, c)| {
            let none = &none;
            async move {
                Tagged {
                    source: name.clone(),
                    value: c.read_resource(resource_type, id, none).await,
                }
            }
        });
        futures_util::future::join_all(calls).await
    }
}
