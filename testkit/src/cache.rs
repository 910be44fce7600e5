//! Where downloaded or unpacked test inputs are kept: `target/tmp/` of the cargo target
//! directory (the folder `CARGO_TARGET_TMPDIR` names for integration tests), filled once and
//! atomically so that concurrent tests and test binaries never see half an unpacked package.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// `target/tmp`: the cargo target directory of the running test (found from the test
/// executable, marked by cargo's `CACHEDIR.TAG`), else `$CARGO_TARGET_DIR`, else
/// `<workspace>/target`.
pub(crate) fn target_tmp() -> PathBuf {
    target_dir().join("tmp")
}

fn target_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(t) = exe.ancestors().find(|a| a.join("CACHEDIR.TAG").is_file()) {
            return t.to_path_buf();
        }
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => crate::shared::workspace_root().join(d),
        _ => crate::shared::workspace_root().join("target"),
    }
}

static FILLING: Mutex<()> = Mutex::new(());

/// Makes sure `dest` exists: when it does not, `fill` populates a fresh staging folder beside
/// it, which is then renamed to `dest` (so `dest` is either absent or complete).
pub(crate) fn unpack_once(
    dest: &Path,
    fill: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    // One filler per process; other processes are handled by the atomic rename.
    let _guard = FILLING.lock().unwrap_or_else(|e| e.into_inner());
    if dest.is_dir() {
        return Ok(());
    }
    let parent = dest.parent().ok_or("no parent folder")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("x");
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| format!("create staging folder: {e}"))?;
    let filled = fill(&staging);
    let result = filled.and_then(|()| match std::fs::rename(&staging, dest) {
        Ok(()) => Ok(()),
        // Another process won the race: its copy is complete.
        Err(_) if dest.is_dir() => Ok(()),
        Err(e) => Err(format!("rename into {}: {e}", dest.display())),
    });
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// `tar xzf <tgz>` in `dir`.
pub(crate) fn untar(tgz: &Path, dir: &Path) -> Result<(), String> {
    let status = Command::new("tar")
        .arg("xzf")
        .arg(tgz)
        .current_dir(dir)
        .status()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("tar xzf failed ({status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_tmp_is_inside_the_cargo_target_dir() {
        let t = target_tmp();
        assert!(t.ends_with("tmp"));
        assert!(
            t.parent().unwrap().join("CACHEDIR.TAG").is_file(),
            "{}",
            t.display()
        );
    }

    #[test]
    fn unpack_once_fills_once_and_never_leaves_half_a_folder() {
        let dest = target_tmp().join(format!("testkit-once-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dest);
        let failed = unpack_once(&dest, |d| {
            std::fs::write(d.join("half"), b"x").unwrap();
            Err("network down".into())
        });
        assert_eq!(failed, Err("network down".into()));
        assert!(!dest.exists(), "a failed fill leaves nothing behind");
        unpack_once(&dest, |d| {
            std::fs::write(d.join("f"), b"1").map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"1");
        let mut called = false;
        unpack_once(&dest, |_| {
            called = true;
            Ok(())
        })
        .unwrap();
        assert!(!called, "an existing folder is reused");
        std::fs::remove_dir_all(&dest).unwrap();
    }
}
