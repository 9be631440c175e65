//! Reading blueprint files with bounds: only regular files, never more than a fixed number of
//! bytes, and never an open that can block.
//!
//! A blueprint names its imports, so whoever writes one chooses what moat opens: `/dev/zero` or
//! `/dev/urandom` would otherwise be read until memory runs out, a FIFO would block forever, and a
//! directory or socket gives confusing errors. The file type is checked before opening (through
//! symlinks), the file is opened non-blocking (so a FIFO swapped in after the check cannot block
//! the open), the type is checked again on the open handle, and at most `limit + 1` bytes are read
//! (so a file that grows while it is read is still bounded).

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Largest blueprint file (the top-level file or one import) moat reads: 1 MiB. The largest real
/// blueprint in this repository is a few kB; a fleet of hundreds of instances fits many times over.
pub const MAX_BLUEPRINT_BYTES: u64 = 1024 * 1024;

/// Largest total of a blueprint and everything it imports: 8 MiB. Imports are deduplicated and
/// nested at most 16 deep, but a file may list many; this bounds the memory a load can take.
pub const MAX_TOTAL_BYTES: u64 = 8 * 1024 * 1024;

/// Why a file was not read; `Display` is the message shown after "cannot read …".
#[derive(Debug)]
pub enum ReadError {
    /// A device, FIFO, socket or directory.
    NotRegular(&'static str),
    /// Larger than `limit` bytes.
    TooLarge {
        limit: u64,
    },
    NotUtf8,
    Io(std::io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotRegular(what) => write!(f, "it is {what}, not a regular file"),
            ReadError::TooLarge { limit } => write!(f, "it is larger than {limit} bytes"),
            ReadError::NotUtf8 => write!(f, "it is not UTF-8 text"),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn file_kind(ft: std::fs::FileType) -> Option<&'static str> {
    if ft.is_file() {
        return None;
    }
    if ft.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return Some("a FIFO");
        }
        if ft.is_socket() {
            return Some("a socket");
        }
        if ft.is_char_device() || ft.is_block_device() {
            return Some("a device");
        }
    }
    Some("not a regular file")
}

#[cfg(unix)]
fn open(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. Reads of a
    // regular file are not affected by it.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// Reads `path` as UTF-8 text when it is a regular file of at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<String, ReadError> {
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if let Some(what) = file_kind(meta.file_type()) {
        return Err(ReadError::NotRegular(what));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let file = open(path).map_err(ReadError::Io)?;
    // The path may have been replaced between the check and the open: check the handle too.
    let meta = file.metadata().map_err(ReadError::Io)?;
    if let Some(what) = file_kind(meta.file_type()) {
        return Err(ReadError::NotRegular(what));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused_before_reading() {
        for (path, what) in [("/dev/zero", "a device"), ("/", "a directory")] {
            let p = Path::new(path);
            if p.exists() {
                let e = read_bounded(p, MAX_BLUEPRINT_BYTES).unwrap_err();
                assert_eq!(e.to_string(), format!("it is {what}, not a regular file"));
            }
        }
    }
}
