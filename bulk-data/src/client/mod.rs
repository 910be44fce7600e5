//! HTTP driver for `$export` over reqwest (feature `reqwest`).
//!
//! It runs the crate's sans-IO machine ([`ExportRequest`], [`ExportJob`]): kick-off, polling with
//! tokio sleeps, manifest paging, cancel, and streamed downloads with
//! transparent gzip/deflate decoding. Redirects are followed by this module,
//! never by reqwest (its redirect policy is off), so the bearer token goes
//! only to the origin of the file URL named in the manifest.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::{StreamExt, TryStreamExt};
use http::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, LOCATION};
use url::Url;

use crate::error::{Error, Location, NdjsonErrorKind, Result};
use crate::files::{FileCheck, FileKind};
use crate::manifest::{Manifest, OutputFile};
use crate::ndjson::{PushReader, RawRecord, ReaderOptions};
use crate::origin::{bearer_value, may_send_token, redirect_target, same_origin};
use crate::outcome::{is_transient_outcome, server_error};
use crate::poll::{
    on_cancel_response, on_kickoff_response, ExportJob, Kickoff, PollConfig, PollStep, Progress,
};
use crate::request::ExportRequest;
use crate::scan::is_valid_type_name;
use crate::OperationOutcome;

mod decode;
use decode::Decoder;

/// Source of bearer tokens. `ehrkit-smart-auth`'s token store plugs in here;
/// [`StaticToken`] and [`NoAuth`] cover tests and open servers.
pub trait TokenProvider: Send + Sync {
    /// The current access token (fetching or renewing it if it is about to
    /// expire), or `None` when the server needs no authorisation.
    fn token(&self) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Called after a `401` to the request that carried `rejected` (`None`: it carried no
    /// token): a token newer than `rejected`. A provider shared by concurrent requests should
    /// renew only when its current token is the rejected one (a late 401 for an older token
    /// must not replace the token other requests are using).
    fn refresh(
        &self,
        rejected: Option<&str>,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
}

/// A fixed token (refresh returns the same one).
#[derive(Clone)]
pub struct StaticToken(String);

impl StaticToken {
    /// A provider that always returns `token`.
    pub fn new(token: impl Into<String>) -> Self {
        StaticToken(token.into())
    }
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

impl TokenProvider for StaticToken {
    async fn token(&self) -> Result<Option<String>> {
        Ok(Some(self.0.clone()))
    }
    async fn refresh(&self, _rejected: Option<&str>) -> Result<Option<String>> {
        Ok(Some(self.0.clone()))
    }
}

/// No authorisation at all (open test servers).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuth;

impl TokenProvider for NoAuth {
    async fn token(&self) -> Result<Option<String>> {
        Ok(None)
    }
    async fn refresh(&self, _rejected: Option<&str>) -> Result<Option<String>> {
        Ok(None)
    }
}

impl<T: TokenProvider> TokenProvider for Arc<T> {
    fn token(&self) -> impl Future<Output = Result<Option<String>>> + Send {
        (**self).token()
    }
    fn refresh(
        &self,
        rejected: Option<&str>,
    ) -> impl Future<Output = Result<Option<String>>> + Send {
        (**self).refresh(rejected)
    }
}

/// Client settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Polling policy (clamp range, backoff, deadline).
    pub poll: PollConfig,
    /// Files downloaded at the same time (default 4).
    pub parallel_downloads: usize,
    /// Redirects followed per download (default 5).
    pub max_redirects: u32,
    /// NDJSON reader options for downloads (maximum line length).
    pub reader: ReaderOptions,
    /// Check each file's record count against the manifest (default true).
    pub check_counts: bool,
    /// Largest decoded (inflated) size of one downloaded file, in bytes
    /// (default `None`: no limit). Exceeding it stops the download with
    /// [`Error::FileTooLarge`]. Memory does not depend on it: decoding is
    /// streamed whatever the compression ratio.
    pub max_file_size: Option<u64>,
    /// Send the bearer token to a status URL or manifest `link` page on an
    /// origin other than the FHIR base's (default false: such requests go
    /// without `Authorization`). Turn on only for a deployment whose status
    /// or manifest server is a separate origin that needs the token.
    pub token_to_other_origins: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            poll: PollConfig::default(),
            parallel_downloads: 4,
            max_redirects: 5,
            reader: ReaderOptions::default(),
            check_counts: true,
            max_file_size: None,
            token_to_other_origins: false,
        }
    }
}

impl ClientConfig {
    /// Sets the polling policy.
    pub fn poll(mut self, p: PollConfig) -> Self {
        self.poll = p;
        self
    }
    /// Sets the number of parallel downloads (at least 1).
    pub fn parallel_downloads(mut self, n: usize) -> Self {
        self.parallel_downloads = n.max(1);
        self
    }
    /// Sets the maximum NDJSON line length for downloads.
    pub fn max_line_len(mut self, n: usize) -> Self {
        self.reader.max_line_len = n;
        self
    }
    /// Sets (or removes) the per-file limit on the decoded size.
    pub fn max_file_size(mut self, bytes: Option<u64>) -> Self {
        self.max_file_size = bytes;
        self
    }
    /// Allows (or forbids, the default) the bearer token on status and
    /// manifest-page requests to an origin other than the FHIR base's.
    pub fn token_to_other_origins(mut self, on: bool) -> Self {
        self.token_to_other_origins = on;
        self
    }
    /// Turns the per-file count check on or off.
    pub fn check_counts(mut self, on: bool) -> Self {
        self.check_counts = on;
        self
    }
}

/// A file written by [`BulkClient::download_all`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DownloadedFile {
    /// Which manifest array it came from.
    pub kind: FileKind,
    /// The entry's `type`.
    pub resource_type: String,
    /// Where it was written (decoded NDJSON).
    pub path: PathBuf,
    /// Records in it.
    pub records: u64,
}

/// The `$export` HTTP client.
#[derive(Debug, Clone)]
pub struct BulkClient<P> {
    http: reqwest::Client,
    base: Url,
    tokens: P,
    config: ClientConfig,
}

/// Records of one file given to the caller so far, and a fingerprint of them, so a
/// download asked for again can read past exactly those and tell whether they changed.
#[derive(Default)]
struct Given {
    records: u64,
    hasher: std::collections::hash_map::DefaultHasher,
}

impl Given {
    fn add(&mut self, rec: &RawRecord<'_>) {
        use std::hash::Hasher;
        self.records += 1;
        self.hasher.write(rec.json().as_bytes());
        self.hasher.write_u8(b'\n');
    }

    fn digest(&self) -> u64 {
        std::hash::Hasher::finish(&self.hasher)
    }
}

/// Decoded bytes of one download: counted against
/// [`ClientConfig::max_file_size`] and fed to the NDJSON push reader as they
/// come out of the decoder.
struct RecordSink<F> {
    reader: PushReader,
    on_record: F,
    decoded: u64,
    limit: Option<u64>,
    url_path: String,
    /// Why the last write failed (the decoder only passes on an `io::Error`).
    error: Option<Error>,
}

impl<F: FnMut(RawRecord<'_>) -> Result<()>> Write for RecordSink<F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.decoded += buf.len() as u64;
        if let Some(limit) = self.limit.filter(|l| self.decoded > *l) {
            self.error = Some(Error::FileTooLarge {
                url_path: self.url_path.clone(),
                limit,
            });
            return Err(std::io::Error::other("decoded size limit exceeded"));
        }
        if let Err(e) = self.reader.feed(buf, &mut self.on_record) {
            self.error = Some(e);
            return Err(std::io::Error::other("NDJSON reader stopped"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The error behind a failed decoder write: the sink's own (limit, bad
/// record, callback) or else the decompression error.
fn sink_error<F: FnMut(RawRecord<'_>) -> Result<()>>(
    decoder: &mut Decoder<RecordSink<F>>,
    e: std::io::Error,
) -> Error {
    decoder
        .sink_mut()
        .and_then(|s| s.error.take())
        .unwrap_or_else(|| Error::Protocol(format!("download body does not decompress: {e}")))
}

impl<P: TokenProvider> BulkClient<P> {
    /// A client for the FHIR server at `fhir_base`, with default settings.
    pub fn new(fhir_base: Url, tokens: P) -> Result<Self> {
        Self::with_config(fhir_base, tokens, ClientConfig::default())
    }

    /// A client with explicit settings.
    pub fn with_config(fhir_base: Url, tokens: P, config: ClientConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            // Redirects are handled here, so the token never crosses origins.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::HttpClient(e.without_url()))?;
        Ok(BulkClient {
            http,
            base: fhir_base,
            tokens,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sends a request with the current token (one retry with a refreshed
    /// token after a 401) and reads the whole (small) response.
    ///
    /// The token goes only to the FHIR base's origin (or anywhere with
    /// [`ClientConfig::token_to_other_origins`]).
    async fn fetch(
        &self,
        stage: &'static str,
        req: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>> {
        let url = Url::parse(&req.uri().to_string())?;
        let may_send_token = self.config.token_to_other_origins || same_origin(&self.base, &url);
        if !may_send_token {
            tracing::debug!(stage, "request to another origin: sent without the token");
        }
        let mut refreshed = false;
        let mut sent: Option<String> = None;
        loop {
            let mut rb = self
                .http
                .request(req.method().clone(), url.clone())
                .headers(req.headers().clone());
            if !req.body().is_empty() {
                rb = rb.body(req.body().clone());
            }
            let token = if !may_send_token {
                None
            } else if refreshed {
                self.tokens.refresh(sent.as_deref()).await?
            } else {
                self.tokens.token().await?
            };
            let authed = token.is_some();
            if let Some(t) = token {
                rb = rb.header(AUTHORIZATION, bearer_value(&t)?);
                sent = Some(t);
            }
            let resp = rb.send().await.map_err(|e| Error::http(stage, &url, e))?;
            let status = resp.status();
            if status == http::StatusCode::UNAUTHORIZED && authed && !refreshed {
                tracing::info!("401 from the FHIR server: refreshing the token once");
                refreshed = true;
                continue;
            }
            let headers = resp.headers().clone();
            let body = resp
                .bytes()
                .await
                .map_err(|e| Error::http(stage, &url, e))?
                .to_vec();
            let mut out = http::Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            return Ok(out);
        }
    }

    /// Sends the kick-off and returns the running job. A 429/503 answer is
    /// waited out (clamped `Retry-After`) and the kick-off resent.
    pub async fn kick_off(&self, request: &ExportRequest) -> Result<ExportJob> {
        let http = request.to_http(&self.base)?;
        let mut tries = 0u32;
        loop {
            let resp = self.fetch("kick-off", &http).await?;
            let url = Url::parse(&http.uri().to_string())?;
            match on_kickoff_response(&resp, &url, &self.config.poll, SystemTime::now())? {
                Kickoff::Accepted(url) => {
                    tracing::info!("export accepted");
                    return Ok(ExportJob::new(
                        url,
                        self.config.poll.clone(),
                        SystemTime::now(),
                    ));
                }
                Kickoff::RetryAfter(wait) => {
                    tries += 1;
                    if tries > self.config.poll.max_transient_errors {
                        return Err(Error::TooManyRetries {
                            attempts: tries,
                            last_status: Some(resp.status().as_u16()),
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// A job for a status URL saved earlier (e.g. before a restart).
    pub fn resume(&self, status_url: Url) -> ExportJob {
        ExportJob::resume(status_url, self.config.poll.clone(), SystemTime::now())
    }

    /// Polls until the export completes, calling `on_progress` before each
    /// wait; follows manifest `link` paging and returns the whole manifest.
    pub async fn wait<F: FnMut(&Progress)>(
        &self,
        job: &mut ExportJob,
        mut on_progress: F,
    ) -> Result<Manifest> {
        loop {
            let step = match self.fetch("status", &job.poll_request()).await {
                Ok(resp) => job.on_status_response(&resp, SystemTime::now())?,
                Err(e @ Error::Http { .. }) => {
                    tracing::warn!(error = %e, "network error while polling");
                    PollStep::Wait(job.on_transport_error(SystemTime::now())?)
                }
                Err(e) => return Err(e),
            };
            match step {
                PollStep::Wait(p) => {
                    on_progress(&p);
                    tokio::time::sleep(p.next_poll_in).await;
                }
                PollStep::Complete(m) => {
                    let mut m = *m;
                    self.follow_pages(&mut m).await?;
                    return Ok(m);
                }
            }
        }
    }

    async fn follow_pages(&self, m: &mut Manifest) -> Result<()> {
        let mut pages = 0u32;
        while let Some(next) = m.next_page() {
            pages += 1;
            if pages > 100_000 {
                return Err(Error::Protocol("manifest paging does not end".into()));
            }
            let page_url = Url::parse(next)?;
            let req = crate::request::finish(
                http::Request::get("/").header(ACCEPT, "application/json"),
                &page_url,
                Vec::new(),
            )?;
            let resp = self.fetch("manifest page", &req).await?;
            if resp.status() != http::StatusCode::OK {
                return Err(server_error(
                    resp.status().as_u16(),
                    "manifest page",
                    resp.body(),
                ));
            }
            let mut page = Manifest::from_json(resp.body())?;
            page.resolve_urls(&page_url);
            m.merge_page(page);
        }
        Ok(())
    }

    /// Cancels a running export (`DELETE` on its status URL).
    pub async fn cancel(&self, job: &ExportJob) -> Result<()> {
        let resp = self.fetch("cancel", &job.cancel_request()).await?;
        on_cancel_response(&resp)
    }

    /// Streams one file of the manifest, decoding gzip/deflate, checking each
    /// record's type (and the count at the end), and calling `on_record` for
    /// each record. Returns the number of records.
    ///
    /// A network failure before or during the body (refused or reset connection, a body cut
    /// off mid-way) is retried up to [`PollConfig::max_transient_errors`] times with the
    /// poll backoff. Output files are fixed once the export is complete, so the file is asked
    /// for again from its start and the records already given to `on_record` are read past,
    /// not given again: `on_record` sees every record exactly once, in order. If the records
    /// read past differ from those given before (the server changed the file), the download
    /// stops with [`Error::Protocol`] instead of mixing two versions.
    pub async fn download<F>(
        &self,
        manifest: &Manifest,
        entry: &OutputFile,
        kind: FileKind,
        mut on_record: F,
    ) -> Result<u64>
    where
        F: FnMut(RawRecord<'_>) -> Result<()>,
    {
        let file_url = Url::parse(&entry.url)?;
        let mut check = FileCheck::new(entry, kind);
        let mut given = Given::default();
        let mut failures = 0u32;
        let mut backoff = self.config.poll.initial_backoff;
        loop {
            let attempt = match self.open_file(manifest, &file_url).await {
                Ok((resp, url)) => {
                    self.stream_file(
                        resp,
                        &url,
                        &file_url,
                        &mut check,
                        &mut given,
                        &mut on_record,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            match attempt {
                Ok(()) => break,
                Err(e @ Error::Http { .. }) if failures < self.config.poll.max_transient_errors => {
                    failures += 1;
                    let wait = self.config.poll.busy_wait(
                        &http::HeaderMap::new(),
                        &mut backoff,
                        SystemTime::now(),
                    );
                    tracing::warn!(
                        error = %e,
                        attempt = failures,
                        records_given = given.records,
                        wait_ms = wait.as_millis() as u64,
                        "download failed in transport; asking for the file again"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
        if self.config.check_counts {
            check.finish()
        } else {
            Ok(given.records)
        }
    }

    /// Requests one file: the token where it may go (refreshed once after a 401),
    /// redirects followed up to [`ClientConfig::max_redirects`], busy answers waited out.
    /// Returns the successful response and the URL that gave it.
    async fn open_file(
        &self,
        manifest: &Manifest,
        file_url: &Url,
    ) -> Result<(reqwest::Response, Url)> {
        let mut url = file_url.clone();
        let mut hops = 0u32;
        let mut refreshed = false;
        // Set by a 401, cleared by the one refresh it asks for: later hops (redirects, busy
        // answers) carry the refreshed token without refreshing again.
        let mut refresh_now = false;
        let mut sent: Option<String> = None;
        // Busy answers (429, transient 5xx) before the body: waited out like a status poll's.
        let mut busy = 0u32;
        let mut backoff = self.config.poll.initial_backoff;
        let resp = loop {
            let mut rb = self
                .http
                .get(url.clone())
                .header(ACCEPT, "application/fhir+ndjson")
                .header(ACCEPT_ENCODING, "gzip, deflate");
            let mut authed = false;
            if may_send_token(manifest.requires_access_token, file_url, &url) {
                let token = if std::mem::take(&mut refresh_now) {
                    self.tokens.refresh(sent.as_deref()).await?
                } else {
                    self.tokens.token().await?
                };
                if let Some(t) = token {
                    rb = rb.header(AUTHORIZATION, bearer_value(&t)?);
                    authed = true;
                    sent = Some(t);
                }
            }
            let resp = rb
                .send()
                .await
                .map_err(|e| Error::http("download", &url, e))?;
            let status = resp.status().as_u16();
            if status == 401 && authed && !refreshed {
                refreshed = true;
                refresh_now = true;
                continue;
            }
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if let Some(next) = redirect_target(&url, status, location.as_deref())? {
                hops += 1;
                if hops > self.config.max_redirects {
                    return Err(Error::Protocol("too many redirects on a download".into()));
                }
                tracing::debug!(
                    cross_origin = !same_origin(file_url, &next),
                    "following a download redirect"
                );
                url = next;
                continue;
            }
            if !(200..300).contains(&status) {
                let headers = resp.headers().clone();
                let body = resp.bytes().await.unwrap_or_default();
                let busy_status = matches!(status, 429 | 500 | 502 | 503 | 504)
                    // A 5xx whose OperationOutcome is not `transient` means the file is gone.
                    && (status == 429 || is_transient_outcome(&body) != Some(false));
                if busy_status && busy < self.config.poll.max_transient_errors {
                    busy += 1;
                    let wait =
                        self.config
                            .poll
                            .busy_wait(&headers, &mut backoff, SystemTime::now());
                    tracing::info!(
                        status,
                        attempt = busy,
                        wait_ms = wait.as_millis() as u64,
                        "file server busy; asking again"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(server_error(status, "download", &body));
            }
            break resp;
        };
        Ok((resp, url))
    }

    /// Decodes one response body into records. Records up to `given.records` were given to
    /// `on_record` by an earlier attempt: they are read past (and compared with what was
    /// given); the others are checked and given.
    async fn stream_file<F>(
        &self,
        resp: reqwest::Response,
        url: &Url,
        file_url: &Url,
        check: &mut FileCheck,
        given: &mut Given,
        on_record: &mut F,
    ) -> Result<()>
    where
        F: FnMut(RawRecord<'_>) -> Result<()>,
    {
        let encoding = resp
            .headers()
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let url_path = file_url.path().to_owned();
        let mut replay = Given::default();
        let again = given.records;
        let name = url_path.clone();
        let sink = RecordSink {
            reader: PushReader::new(self.config.reader.clone().name(url_path.clone())),
            on_record: |rec: RawRecord<'_>| -> Result<()> {
                if replay.records < again {
                    replay.add(&rec);
                    if replay.records == again && replay.digest() != given.digest() {
                        return Err(Error::Protocol(format!(
                            "{name} line {}: the file changed between two download attempts \
                             (its first {again} records differ); nothing after them was read",
                            rec.line()
                        )));
                    }
                    return Ok(());
                }
                check.record(&rec)?;
                on_record(rec.clone())?;
                given.add(&rec);
                Ok(())
            },
            decoded: 0,
            limit: self.config.max_file_size,
            url_path,
            error: None,
        };
        let mut decoder = Decoder::new(encoding.as_deref(), sink)?;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::http("download", url, e))?;
            if let Err(e) = decoder.push(&chunk) {
                return Err(sink_error(&mut decoder, e));
            }
        }
        if let Err(e) = decoder.finish() {
            return Err(sink_error(&mut decoder, e));
        }
        let sink = decoder
            .sink_mut()
            .expect("the decoder holds its sink once started");
        sink.reader.finish(&mut sink.on_record)?;
        drop(decoder);
        if replay.records < again {
            return Err(Error::Protocol(format!(
                "{}: the file changed between two download attempts (it now has {} records, \
                 {again} were read before)",
                url.path(),
                replay.records
            )));
        }
        Ok(())
    }

    /// Downloads one file into `path` as decoded NDJSON.
    pub async fn download_to_file(
        &self,
        manifest: &Manifest,
        entry: &OutputFile,
        kind: FileKind,
        path: &Path,
    ) -> Result<u64> {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::fs::File::create(path)?);
        let n = self
            .download(manifest, entry, kind, |rec| {
                out.write_all(rec.json().as_bytes())?;
                out.write_all(b"\n")?;
                Ok(())
            })
            .await?;
        out.flush()?;
        Ok(n)
    }

    /// Downloads every `output`, `error` and `deleted` file into `dir`, at
    /// most [`ClientConfig::parallel_downloads`] at a time. Files are named
    /// `<Type>.<n>.ndjson`, `error.<n>.ndjson` and `deleted.<n>.ndjson`.
    pub async fn download_all(
        &self,
        manifest: &Manifest,
        dir: &Path,
    ) -> Result<Vec<DownloadedFile>> {
        self.download_all_with(manifest, dir, |_| {}).await
    }

    /// [`download_all`](Self::download_all), calling `on_file` as each file
    /// is complete (for progress displays).
    pub async fn download_all_with<F>(
        &self,
        manifest: &Manifest,
        dir: &Path,
        on_file: F,
    ) -> Result<Vec<DownloadedFile>>
    where
        F: Fn(&DownloadedFile) + Sync,
    {
        std::fs::create_dir_all(dir)?;
        let on_file = &on_file;
        let mut jobs = Vec::new();
        for (i, e) in manifest.output.iter().enumerate() {
            let t = if is_valid_type_name(&e.resource_type) {
                e.resource_type.as_str()
            } else {
                "unknown"
            };
            jobs.push((FileKind::Output, e, dir.join(format!("{t}.{i:04}.ndjson"))));
        }
        for (i, e) in manifest.error.iter().enumerate() {
            jobs.push((FileKind::Error, e, dir.join(format!("error.{i:04}.ndjson"))));
        }
        for (i, e) in manifest.deleted.iter().enumerate() {
            jobs.push((
                FileKind::Deleted,
                e,
                dir.join(format!("deleted.{i:04}.ndjson")),
            ));
        }
        futures_util::stream::iter(jobs.into_iter().map(|(kind, e, path)| async move {
            let records = self.download_to_file(manifest, e, kind, &path).await?;
            let file = DownloadedFile {
                kind,
                resource_type: e.resource_type.clone(),
                path,
                records,
            };
            on_file(&file);
            Ok::<_, Error>(file)
        }))
        .buffer_unordered(self.config.parallel_downloads.max(1))
        .try_collect()
        .await
    }

    /// Downloads the `error` files and parses their OperationOutcomes.
    pub async fn error_outcomes(&self, manifest: &Manifest) -> Result<Vec<OperationOutcome>> {
        let mut all = Vec::new();
        for entry in &manifest.error {
            let name = Url::parse(&entry.url).ok().map(|u| u.path().to_owned());
            self.download(manifest, entry, FileKind::Error, |rec| {
                let oo = ehrkit_fhir_model::from_slice::<OperationOutcome>(rec.json().as_bytes())
                    .map_err(|e| Error::Ndjson {
                    location: Location {
                        name: name.clone(),
                        line: rec.line(),
                        offset: rec.offset(),
                    },
                    kind: NdjsonErrorKind::Fhir(e),
                })?;
                all.push(oo);
                Ok(())
            })
            .await?;
        }
        Ok(all)
    }
}
