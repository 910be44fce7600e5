//! Runs the `smart_launch` example as a program: its `--help`, its usage errors, and a launch
//! whose token endpoint holds `'$(...)'` and other shell syntax. In the sans-IO build (without
//! the `reqwest` feature, e.g. plain `cargo test`) the `curl` line it prints must run nothing but
//! curl when pasted into a POSIX shell; with `reqwest` (`--all-features`) it exchanges the code
//! with a loopback token endpoint and prints the tokens redacted.
#![cfg(feature = "smart-auth")]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ehrkit_testkit::examples::text;

/// Whether this test build (and so the example next to it) has the `reqwest` feature: with it
/// the example exchanges the code itself, without it it prints the token request as `curl`.
const REQWEST: bool = cfg!(feature = "reqwest");

/// The example binary: built by `cargo test` next to the test binaries
/// (`target/<profile>/examples/`), or built here when this test runs alone
/// (`--test example_smart_launch`) and it is missing, older than its source, or of the other
/// flavour (with or without `reqwest`) than this test.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("smart_launch{}", std::env::consts::EXE_SUFFIX));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/smart_launch.rs");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = modified(&bin).is_none_or(|b| modified(&source).is_some_and(|s| s > b));
    if stale || has_reqwest(&bin) != REQWEST {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--example", "smart_launch"]);
        if REQWEST {
            cmd.args(["--features", "reqwest"]);
        } else {
            cmd.args(["--no-default-features", "--features", "smart-auth"]);
        }
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build --example smart_launch failed"
        );
    }
    bin
}

/// The sans-IO build refuses to discover without metadata; the reqwest build tries the network
/// (a closed loopback port here, so it fails at once too).
fn has_reqwest(bin: &Path) -> bool {
    let out = Command::new(bin)
        .args(["--fhir-base", "http://127.0.0.1:9/fhir", "--client-id", "a"])
        .args(["--redirect-uri", "http://localhost/cb"])
        .output();
    out.is_ok_and(|o| !text(&o.stderr).contains("without the reqwest feature"))
}

fn run(args: &[&OsStr]) -> Output {
    Command::new(example())
        .args(args)
        .output()
        .expect("run smart_launch")
}

#[test]
fn answers_help() {
    let out = run(&["--help".as_ref()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    assert!(help.contains("Usage: smart_launch"), "{help}");
    for option in [
        "--fhir-base <URL>",
        "--client-id <ID>",
        "--redirect-uri <URI>",
        "--smart-config <FILE>",
        "--authorize-endpoint <URL>",
        "--token-endpoint <URL>",
        "--vendor <VENDOR>",
        "--allow-insecure-http",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let required = [
        "--fhir-base",
        "https://ehr.example/fhir",
        "--client-id",
        "app",
        "--redirect-uri",
        "http://localhost:8080/cb",
    ];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        required.iter().chain(extra).copied().collect()
    };
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        // --redirect-uri missing.
        required[..4].to_vec(),
        // One endpoint without the other.
        with(&["--authorize-endpoint", "https://ehr.example/a"]),
        // A file and endpoints at once.
        with(&[
            "--smart-config",
            "c.json",
            "--authorize-endpoint",
            "https://ehr.example/a",
            "--token-endpoint",
            "https://ehr.example/t",
        ]),
        with(&["--vendor", "nobody"]),
        with(&["--no-such-flag"]),
    ];
    for args in &cases {
        let args: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
        let out = run(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
}

/// Drives a launch with the endpoint flags: reads the authorize URL from stdout, checks it
/// starts with `authorize`, pastes a callback with its `state` and code `c0de`, and returns the
/// rest of stdout and stderr once the program has succeeded.
fn launch(fhir_base: &str, authorize: &str, token_endpoint: &str) -> (String, String) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;

    let mut child = Command::new(example())
        .args(["--fhir-base", fhir_base, "--client-id", "app"])
        .args(["--redirect-uri", "http://localhost:8080/cb"])
        .args(["--authorize-endpoint", authorize])
        .args(["--token-endpoint", token_endpoint])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn smart_launch");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut authorize_url = String::new();
    stdout.read_line(&mut authorize_url).expect("authorize URL");
    assert!(
        authorize_url.starts_with(&format!("{authorize}?")),
        "{authorize_url}"
    );
    let state = authorize_url
        .trim_end()
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("state="))
        .unwrap_or_else(|| panic!("no state in {authorize_url}"))
        .to_owned();
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "http://localhost:8080/cb?code=c0de&state={state}").expect("paste");
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("stdout");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{rest}\n{stderr}");
    (rest, stderr)
}

/// The hostile part of the token endpoints below: quotes, command substitutions, shell
/// operators, a variable.
const HOSTILE: &str = "'$(touch${IFS}pwned)'$(id)`id`;id|id&&id\"$HOME\"";

/// The printed line, given to `sh` with `curl` replaced by `printf '%s\n'`: each argument comes
/// back on its own line exactly as built (nothing expanded, nothing split), and no command in
/// the endpoint ran.
#[cfg(all(unix, not(feature = "reqwest")))]
#[test]
fn curl_line_is_quoted_for_the_shell() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let endpoint = format!("https://ehr.example/token{HOSTILE}");
    let (stdout, stderr) = launch(
        "https://ehr.example/fhir",
        "https://ehr.example/authorize",
        &endpoint,
    );
    assert!(
        stderr.contains("contains the one-time code and PKCE verifier"),
        "{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let args = lines[0]
        .strip_prefix("curl ")
        .unwrap_or_else(|| panic!("not a curl line: {}", lines[0]));

    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\n' {args}"))
        .current_dir(dir.path())
        .env("HOME", "/expanded-home")
        .output()
        .expect("run sh");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert!(
        std::fs::read_dir(dir.path()).expect("tmp").next().is_none(),
        "a command in the endpoint ran"
    );
    let words = text(&out.stdout);
    let words: Vec<&str> = words.lines().collect();
    assert_eq!(words[..3], ["-sS", "-X", "POST"], "{words:?}");
    // The endpoint as the HTTP request holds it (characters a URL may not hold
    // percent-encoded), every shell metacharacter literal.
    let url = words[3];
    assert!(url.starts_with("https://ehr.example/token'$("), "{url}");
    for literal in ["'$(", "$(id)", "%60id%60", ";id|id&&id", "$HOME"] {
        assert!(url.contains(literal), "{literal} not literal in {url}");
    }
    assert!(
        !url.contains("expanded-home") && !url.contains("uid="),
        "{url}"
    );
    let body = words.last().expect("body");
    assert_eq!(words[words.len() - 2], "--data-raw", "{words:?}");
    for pair in [
        "grant_type=authorization_code",
        "code=c0de",
        "client_id=app",
    ] {
        assert!(body.split('&').any(|p| p == pair), "{pair} in {body}");
    }
    assert!(body.contains("code_verifier="), "{body}");
    assert!(
        words
            .iter()
            .any(|w| w.eq_ignore_ascii_case("content-type: application/x-www-form-urlencoded")),
        "{words:?}"
    );
}

/// With `reqwest` the example exchanges the code itself: against a loopback token endpoint
/// whose path holds the hostile characters, the request reaches that path with the code and
/// PKCE verifier, and the token response is printed with its tokens redacted.
#[cfg(feature = "reqwest")]
#[test]
fn exchanges_the_code_and_prints_the_tokens_redacted() {
    use ehrkit_testkit::http::{MockServer, Response};

    let server = MockServer::start();
    server.respond(
        "POST",
        "/token*",
        Response::new(200).json(&serde_json::json!({
            "access_token": "secret-access-token",
            "refresh_token": "secret-refresh-token",
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "launch/patient openid fhirUser patient/*.rs",
            "patient": "p-123",
        })),
    );
    let (stdout, stderr) = launch(
        &server.url("/fhir"),
        &server.url("/authorize"),
        &server.url(&format!("/token{HOSTILE}")),
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "only the token request: {requests:?}");
    let token = &requests[0];
    assert_eq!(token.method, "POST");
    let path = token.path();
    assert!(path.starts_with("/token'$("), "{path}");
    for literal in ["$(id)", "%60id%60", ";id|id&&id", "$HOME"] {
        assert!(path.contains(literal), "{literal} not literal in {path}");
    }
    let form = token.form_map();
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("authorization_code")
    );
    assert_eq!(form.get("code").map(String::as_str), Some("c0de"));
    assert!(form.contains_key("code_verifier"), "{form:?}");

    let printed: serde_json::Value = serde_json::from_str(&stdout).expect("token JSON on stdout");
    assert_eq!(printed["access_token"], "[redacted]");
    assert_eq!(printed["refresh_token"], "[redacted]");
    assert_eq!(printed["patient"], "p-123");
    assert!(!stdout.contains("secret-"), "{stdout}");
    assert!(!stderr.contains("secret-"), "{stderr}");
    // offline_access was asked for and not granted.
    assert!(stderr.contains("not granted: offline_access"), "{stderr}");
}
