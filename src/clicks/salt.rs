//! The visitor-hash salt: random per UTC day, the same on every replica,
//! forgotten once its day is over (SPEC section 10).
//!
//! The redirect never waits for agreement: [`Salts::salt_for`] answers from
//! memory, proposing a fresh random salt for a day it does not know yet.
//! The flusher agrees on today's and tomorrow's salts ahead of time (the
//! first proposal stored wins: `ON CONFLICT DO NOTHING` in the database, or
//! under an exclusive lock in `CLICK_SALT_FILE`), so replicas cross midnight
//! with the same salt already in hand, and deletes yesterday's.

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::history::{History, HistoryError};

#[derive(Clone, Copy)]
struct Entry {
    salt: [u8; 32],
    /// Agreed with the other replicas (stored), not only proposed here.
    agreed: bool,
}

pub(super) struct Salts {
    file: Option<PathBuf>,
    known: Mutex<BTreeMap<i64, Entry>>,
}

fn random_salt() -> [u8; 32] {
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).expect("the operating system's random source");
    salt
}

fn to_hex(salt: &[u8; 32]) -> String {
    salt.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut salt = [0u8; 32];
    for (i, byte) in salt.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(salt)
}

impl Salts {
    pub(super) fn new(file: Option<PathBuf>) -> Self {
        Self {
            file,
            known: Mutex::new(BTreeMap::new()),
        }
    }

    /// The salt of `day`: the agreed one, or this replica's proposal.
    pub(super) fn salt_for(&self, day: i64) -> [u8; 32] {
        let mut known = self.known.lock().expect("salts poisoned");
        known
            .entry(day)
            .or_insert_with(|| Entry {
                salt: random_salt(),
                agreed: false,
            })
            .salt
    }

    /// Whether today's and tomorrow's salts are agreed.
    pub(super) fn is_settled(&self, today: i64) -> bool {
        let known = self.known.lock().expect("salts poisoned");
        [today, today + 1]
            .iter()
            .all(|day| known.get(day).is_some_and(|e| e.agreed))
    }

    /// Agrees on today's and tomorrow's salts and forgets older days.
    pub(super) async fn agree(&self, history: &History, today: i64) -> Result<(), HistoryError> {
        let proposals: Vec<(i64, [u8; 32])> = [today, today + 1]
            .into_iter()
            .map(|day| (day, self.salt_for(day)))
            .collect();
        let agreed: Vec<(i64, [u8; 32])> = match &self.file {
            Some(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || agree_in_file(&path, today, &proposals))
                    .await?
                    .map_err(|e| HistoryError::Database(sqlx::Error::Io(e)))?
            }
            None => {
                let pool = history.database().await?;
                let mut agreed = Vec::with_capacity(2);
                for (day, proposal) in proposals {
                    let stored = super::store::agree_salt(&pool, day, &to_hex(&proposal)).await?;
                    agreed.push((day, from_hex(&stored).unwrap_or(proposal)));
                }
                super::store::forget_salts(&pool, today).await?;
                agreed
            }
        };
        let mut known = self.known.lock().expect("salts poisoned");
        known.retain(|&day, _| day >= today);
        for (day, salt) in agreed {
            known.insert(day, Entry { salt, agreed: true });
        }
        Ok(())
    }
}

/// `CLICK_SALT_FILE`: lines of `DAY HEX`, read and rewritten under an
/// exclusive `flock`, so replicas on one host agree; days before `today` are
/// dropped from the file.
fn agree_in_file(
    path: &std::path::Path,
    today: i64,
    proposals: &[(i64, [u8; 32])],
) -> std::io::Result<Vec<(i64, [u8; 32])>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    let _lock = FileLock::exclusive(&file)?;
    let mut handle = &file;
    let mut text = String::new();
    handle.read_to_string(&mut text)?;
    let mut days: BTreeMap<i64, [u8; 32]> = text
        .lines()
        .filter_map(|line| {
            let (day, hex) = line.split_once(' ')?;
            Some((day.parse().ok()?, from_hex(hex)?))
        })
        .filter(|(day, _)| *day >= today)
        .collect();
    let agreed = proposals
        .iter()
        .map(|(day, proposal)| (*day, *days.entry(*day).or_insert(*proposal)))
        .collect();
    let mut out = String::new();
    for (day, salt) in &days {
        out.push_str(&format!("{day} {}\n", to_hex(salt)));
    }
    if out != text {
        file.set_len(0)?;
        handle.rewind()?;
        handle.write_all(out.as_bytes())?;
        file.sync_all()?;
    }
    Ok(agreed)
}

/// An exclusive advisory lock on a file, released on drop.
struct FileLock<'a>(&'a std::fs::File);

impl<'a> FileLock<'a> {
    fn exclusive(file: &'a std::fs::File) -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor this `File` owns for the lock's life.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(Self(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: as above; unlocking a lock this value took.
            unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_sharing_a_salt_file_agree_and_older_days_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("salt");
        let first = agree_in_file(&path, 100, &[(100, [1; 32]), (101, [2; 32])]).unwrap();
        let second = agree_in_file(&path, 100, &[(100, [3; 32]), (101, [4; 32])]).unwrap();
        assert_eq!(first, second, "the first proposal stored wins");
        assert_eq!(first, vec![(100, [1; 32]), (101, [2; 32])]);
        let next_day = agree_in_file(&path, 101, &[(101, [5; 32]), (102, [6; 32])]).unwrap();
        assert_eq!(next_day, vec![(101, [2; 32]), (102, [6; 32])]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&to_hex(&[1; 32])),
            "day 100's salt is forgotten"
        );
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn a_day_without_agreement_still_has_one_salt() {
        let salts = Salts::new(None);
        assert_eq!(salts.salt_for(5), salts.salt_for(5));
        assert_ne!(salts.salt_for(5), salts.salt_for(6));
        assert!(!salts.is_settled(5));
    }
}
