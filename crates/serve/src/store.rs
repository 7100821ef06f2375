//! Accepted messages as files of a Maildir (`tmp/`, `new/`, `cur/`): each written to
//! `tmp/` and renamed into `new/`, so a reader never sees half a message.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub(crate) struct Maildir {
    root: PathBuf,
    next: AtomicU64,
}

impl Maildir {
    pub(crate) fn create(root: &Path) -> io::Result<Self> {
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        Ok(Maildir {
            root: root.to_path_buf(),
            next: AtomicU64::new(1),
        })
    }

    /// Writes one message (headers first: `Return-Path`, `X-Relaysim-Rcpt` per
    /// recipient, then the message as received) and returns its file name.
    pub(crate) fn deliver(
        &self,
        from: &str,
        rcpts: &[String],
        message: &[u8],
    ) -> io::Result<String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = format!("{secs}.P{}Q{n}.relaysim", std::process::id());
        let mut text = format!("Return-Path: <{from}>\r\n").into_bytes();
        for r in rcpts {
            text.extend_from_slice(format!("X-Relaysim-Rcpt: <{r}>\r\n").as_bytes());
        }
        text.extend_from_slice(message);
        let tmp = self.root.join("tmp").join(&name);
        std::fs::write(&tmp, &text)?;
        std::fs::rename(&tmp, self.root.join("new").join(&name))?;
        Ok(name)
    }
}
