//! The last good catalog on disk, so a restart is ready before upstream answers.
//!
//! The file is the upstream feed shape plus `updatedAt`, rendered without any
//! referral code and never holding the key. It is written atomically: a temp
//! file in the same directory, fsync, rename over the old file, fsync the
//! directory. A crash at any point leaves either the old or the new file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::Catalog;
use crate::upstream::wire::WireFeed;

const TEMP_MARKER: &str = ".tmp-";

/// Writes `catalog` to `path` atomically.
pub fn write(path: &Path, catalog: &Catalog) -> io::Result<()> {
    let updated_at =
        serde_json::to_string(&humantime::format_rfc3339_seconds(catalog.updated_at()).to_string())
            .expect("a string serialises");
    let mut body = Vec::with_capacity(catalog.len() * 400 + 256);
    let version = catalog.version().to_string();
    catalog.write_feed(
        &mut body,
        None,
        &[("updatedAt", &updated_at), ("version", &version)],
    );

    write_durably(path, &body)
}

/// Writes `bytes` to `path` so that a crash at any point leaves the old file
/// or the new one: a temp file beside it (which [`remove_leftovers`] finds),
/// fsync, rename over `path`, fsync the directory.
pub fn write_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_path(path);
    let result = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        sync_dir(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Why a snapshot could not be loaded; the cause is kept for the log.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read the snapshot")]
    Read(#[source] io::Error),
    #[error("the snapshot is not valid JSON")]
    Json(#[source] serde_json::Error),
    #[error("the snapshot is not a catalog")]
    Feed(#[source] super::FeedError),
}

/// Loads a snapshot; `Ok(None)` when there is none (or it holds no plans).
pub fn load(path: &Path) -> Result<Option<Catalog>, SnapshotError> {
    let body = match fs::read(path) {
        Ok(body) => body,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SnapshotError::Read(e)),
    };
    let feed = WireFeed::parse(&body).map_err(SnapshotError::Json)?;
    let updated_at = feed
        .updated_at
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .or_else(|| fs::metadata(path).and_then(|m| m.modified()).ok())
        .unwrap_or_else(SystemTime::now);
    let version = feed.version.unwrap_or(0);
    let catalog = Catalog::from_wire(feed, body.len(), updated_at).map_err(SnapshotError::Feed)?;
    // Shown until the history database confirms it (see `Recorder`).
    catalog.set_provisional(version);
    Ok((!catalog.is_empty()).then_some(catalog))
}

/// Removes temp files a crash left beside `path`.
pub fn remove_leftovers(path: &Path) {
    let (Some(dir), Some(name)) = (parent(path), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}{TEMP_MARKER}", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Checks at start-up that the snapshot's directory exists and is writable.
pub fn check_writable(path: &Path) -> io::Result<()> {
    let probe = temp_path(path);
    fs::File::create(&probe)?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".into());
    let dir = parent(path).unwrap_or_else(|| PathBuf::from("."));
    dir.join(format!(".{name}{TEMP_MARKER}{}", std::process::id()))
}

fn parent(path: &Path) -> Option<PathBuf> {
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Some(PathBuf::from(".")),
        Some(p) => Some(p.to_path_buf()),
        None => None,
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(dir) = parent(path) {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::synthetic;

    #[test]
    fn a_written_snapshot_loads_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.json");
        let at = humantime::parse_rfc3339("2026-01-02T03:04:05Z").unwrap();
        let catalog = Catalog::from_plans("demo", synthetic::plans(50, 7), at);
        catalog.set_version(7);
        write(&path, &catalog).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.content_hash(), catalog.content_hash());
        assert_eq!(loaded.updated_at(), at);
        assert_eq!(loaded.version(), 7, "the snapshot carries its version");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the snapshot itself remains");
    }

    #[test]
    fn missing_and_corrupt_snapshots_are_not_catalogs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.json");
        assert!(load(&path).unwrap().is_none());
        fs::write(&path, b"{\"success\":true,\"plans\":[{\"trunc").unwrap();
        let error = load(&path).unwrap_err();
        assert!(matches!(error, SnapshotError::Json(_)), "{error:?}");
        assert!(crate::telemetry::cause_chain(&error).contains("not valid JSON: "));
    }

    #[test]
    fn leftover_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.json");
        fs::write(dir.path().join(".catalog.json.tmp-123"), b"partial").unwrap();
        fs::write(dir.path().join("other.json"), b"keep").unwrap();
        remove_leftovers(&path);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["other.json"]);
    }
}
