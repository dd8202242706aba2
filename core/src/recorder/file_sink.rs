//! Writes a muxer's output to a file so that the file is valid after every write.
//!
//! Each write is a whole unit (the header or one cluster) handed straight to
//! the kernel (no user-space buffer), so a killed process loses at most the
//! cluster being built. When a write fails (disk full, I/O error) the file is
//! cut back to the end of the last whole unit and the sink refuses further
//! writes: what was written stays a valid file.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::matroska::Finish;

/// An output file that only ever holds whole units.
pub(crate) struct FileSink {
    file: File,
    path: PathBuf,
    valid_len: u64,
    failed: bool,
}

impl FileSink {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> std::io::Result<FileSink> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        Ok(FileSink {
            file,
            path: path.to_owned(),
            valid_len: 0,
            failed: false,
        })
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of whole units written so far.
    pub fn len(&self) -> u64 {
        self.valid_len
    }

    /// Appends one whole unit. On error the partial unit is cut off again and
    /// the sink stops accepting writes.
    pub fn append(&mut self, unit: &[u8]) -> std::io::Result<()> {
        if self.failed {
            return Err(std::io::Error::other("an earlier write failed"));
        }
        match self.file.write_all(unit) {
            Ok(()) => {
                self.valid_len += unit.len() as u64;
                Ok(())
            }
            Err(error) => {
                self.fail();
                Err(error)
            }
        }
    }

    /// Writes the tail and the in-place patches of a cleanly closed file,
    /// then syncs it. Without room for the tail the file stays as it is
    /// (valid, without cues).
    pub fn finish(&mut self, finish: &Finish) -> std::io::Result<()> {
        if self.failed {
            return Err(std::io::Error::other("an earlier write failed"));
        }
        self.append(&finish.tail)?;
        for (offset, bytes) in &finish.patches {
            self.file.seek(SeekFrom::Start(*offset))?;
            self.file.write_all(bytes)?;
        }
        self.file.seek(SeekFrom::End(0))?;
        self.file.sync_data()
    }

    fn fail(&mut self) {
        self.failed = true;
        if let Err(error) = self.file.set_len(self.valid_len) {
            tracing::warn!(path = %self.path.display(), %error, "could not cut back a partial write");
        }
        let _ = self.file.seek(SeekFrom::Start(self.valid_len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_only_whole_units() {
        let dir = std::env::temp_dir().join(format!("rtcgate-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.bin");
        let mut sink = FileSink::create(&path).unwrap();
        sink.append(b"header").unwrap();
        sink.append(b"cluster").unwrap();
        // Simulate a failure part way through a unit.
        sink.file.write_all(b"half").unwrap();
        sink.fail();
        assert_eq!(std::fs::read(&path).unwrap(), b"headercluster");
        assert!(sink.append(b"more").is_err());
        assert_eq!(sink.len(), 13);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
