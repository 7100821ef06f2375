//! The run folder is the unit: a reader sees exactly one complete run, or none.
//!
//! A run is written into a hidden staging folder beside the target
//! (`.NAME.relaysim-staging-XXXX`), marked with `.relaysim-run`, and swapped in whole
//! at the end: the old folder (if any) is renamed aside, the staging folder renamed to
//! the target, and only then is the old one removed. Killed at any point, the target
//! holds the old complete run or nothing (between the two renames), never a mix; the
//! hidden leftovers are removed by the next run beside them.
//!
//! relaysim replaces only folders it made (they hold `.relaysim-run`) or empty ones;
//! any other existing folder is refused unless the caller allows it (`--overwrite`).

use std::io;
use std::path::{Path, PathBuf};

/// The file that marks a folder as a relaysim run folder.
pub const MARKER: &str = ".relaysim-run";

/// A run folder being built; [`StagedFolder::publish`] swaps it into place.
pub struct StagedFolder {
    target: PathBuf,
    staging: tempfile::TempDir,
}

/// Why a run folder cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error(
        "{} exists and is not a relaysim results folder (it has no {MARKER} file); relaysim will not replace it",
        .0.display()
    )]
    NotOurs(PathBuf),
    #[error("{} is a file, not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl FolderError {
    /// What the user can do about it.
    pub fn help(&self) -> &'static str {
        match self {
            FolderError::NotOurs(_) => {
                "choose another folder with --out DIR, or pass --overwrite to replace this one"
            }
            FolderError::NotAFolder(_) => "choose a folder path with --out DIR",
            FolderError::Io(_) => {
                "check that the folder and its parent are writable, or choose another with --out DIR"
            }
        }
    }
}

impl StagedFolder {
    /// Starts a run folder for `target`: checks that it may be replaced (`overwrite`
    /// allows any folder), removes a killed run's leftovers beside it, and creates
    /// the staging folder.
    pub fn begin(target: &Path, overwrite: bool) -> Result<StagedFolder, FolderError> {
        if target.is_file() {
            return Err(FolderError::NotAFolder(target.to_path_buf()));
        }
        if target.is_dir()
            && !overwrite
            && !target.join(MARKER).is_file()
            && std::fs::read_dir(target)?.next().is_some()
        {
            return Err(FolderError::NotOurs(target.to_path_buf()));
        }
        let parent = parent_of(target);
        std::fs::create_dir_all(&parent)?;
        remove_leftovers(target)?;
        let staging = tempfile::Builder::new()
            .prefix(&hidden_name(target, "staging"))
            .tempdir_in(&parent)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(StagedFolder {
            target: target.to_path_buf(),
            staging,
        })
    }

    /// Where the run's files are written until `publish`.
    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// Marks the folder as a relaysim run and swaps it into place, the old folder
    /// removed only after.
    pub fn publish(self) -> io::Result<()> {
        std::fs::write(self.staging.path().join(MARKER), b"relaysim run folder\n")?;
        let staging = self.staging.keep();
        let old = if self.target.exists() {
            let aside = tempfile::Builder::new()
                .prefix(&hidden_name(&self.target, "old"))
                .tempdir_in(parent_of(&self.target))?
                .keep();
            // The empty placeholder is replaced by the old folder.
            std::fs::remove_dir(&aside)?;
            std::fs::rename(&self.target, &aside)?;
            Some(aside)
        } else {
            None
        };
        std::fs::rename(&staging, &self.target)?;
        if let Some(old) = old {
            std::fs::remove_dir_all(old)?;
        }
        Ok(())
    }
}

fn parent_of(target: &Path) -> PathBuf {
    target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `.NAME.relaysim-KIND-` for `target` = `…/NAME`.
fn hidden_name(target: &Path, kind: &str) -> String {
    let name = target
        .file_name()
        .map_or_else(|| "results".into(), |n| n.to_string_lossy().into_owned());
    format!(".{name}.relaysim-{kind}-")
}

/// Removes the staging and set-aside folders a killed run left beside `target`.
fn remove_leftovers(target: &Path) -> io::Result<()> {
    let prefixes = [hidden_name(target, "staging"), hidden_name(target, "old")];
    for entry in std::fs::read_dir(parent_of(target))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if prefixes.iter().any(|p| name.starts_with(p.as_str())) && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// A new run replaces the old folder whole: no file of the old run survives
    /// (an old `transactions.csv` beside a run without `--trace`).
    #[test]
    fn a_new_run_replaces_the_old_one_whole() {
        let parent = tempfile::tempdir().unwrap();
        let target = parent.path().join("run");
        let first = StagedFolder::begin(&target, false).unwrap();
        std::fs::write(first.path().join("transactions.csv"), "old").unwrap();
        std::fs::write(first.path().join("summary.json"), "old").unwrap();
        first.publish().unwrap();
        let second = StagedFolder::begin(&target, false).unwrap();
        std::fs::write(second.path().join("summary.json"), "new").unwrap();
        assert_eq!(
            files(&target),
            [MARKER, "summary.json", "transactions.csv"],
            "untouched until publish"
        );
        second.publish().unwrap();
        assert_eq!(files(&target), [MARKER, "summary.json"]);
        assert_eq!(
            std::fs::read_to_string(target.join("summary.json")).unwrap(),
            "new"
        );
        assert_eq!(files(parent.path()), ["run"], "nothing left beside it");
    }

    /// Killed before publishing (the staging folder dropped, or left by a kill): the
    /// old run is intact, and the next run removes the leftovers.
    #[test]
    fn a_killed_run_leaves_the_old_run_intact() {
        let parent = tempfile::tempdir().unwrap();
        let target = parent.path().join("run");
        let first = StagedFolder::begin(&target, false).unwrap();
        std::fs::write(first.path().join("summary.json"), "old").unwrap();
        first.publish().unwrap();
        let killed = StagedFolder::begin(&target, false).unwrap();
        std::fs::write(killed.path().join("throughput.csv"), "half").unwrap();
        let _ = killed.staging.keep(); // as a SIGKILL would leave it
        assert_eq!(files(&target), [MARKER, "summary.json"]);
        assert_eq!(files(parent.path()).len(), 2);
        let next = StagedFolder::begin(&target, false).unwrap();
        let staging: Vec<String> = files(parent.path())
            .into_iter()
            .filter(|n| n.contains("staging"))
            .collect();
        assert_eq!(staging.len(), 1, "the killed run's leftover is gone");
        assert_eq!(
            next.path().file_name().unwrap().to_string_lossy(),
            staging[0]
        );
    }

    /// A folder relaysim did not make is refused unless overwriting is asked for; an
    /// empty one is fine.
    #[test]
    fn a_foreign_folder_is_refused_unless_asked() {
        let parent = tempfile::tempdir().unwrap();
        let target = parent.path().join("photos");
        std::fs::create_dir(&target).unwrap();
        assert!(StagedFolder::begin(&target, false).is_ok(), "empty");
        std::fs::write(target.join("holiday.jpg"), "x").unwrap();
        assert!(matches!(
            StagedFolder::begin(&target, false),
            Err(FolderError::NotOurs(_))
        ));
        let f = StagedFolder::begin(&target, true).unwrap();
        f.publish().unwrap();
        assert_eq!(files(&target), [MARKER]);
    }
}
