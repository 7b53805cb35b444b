//! Files, as Go's `os` package does them: every call is a plain system
//! call made through the blocking hand-off ([`crate::blocking`]), so a
//! slow disk, a network file system or a FIFO with no writer parks the
//! calling goroutine's *thread* while its P moves on to the other
//! goroutines (see `docs/sysmon.md`).
//!
//! Why not the netpoller: regular files are always "ready" to epoll (Linux
//! refuses to register them), so Go, like us, reads them with a blocking
//! call on a thread that has given up its P. io_uring would avoid the
//! thread; it is not on every kernel nor allowed in every container, and
//! the hand-off costs a few atomic operations when the call is quick.
//!
//! The API is `std::fs`'s, with the same types where no call is hidden in
//! them ([`std::fs::Metadata`], [`std::fs::Permissions`]). Outside a
//! goroutine every function simply makes its call.
//!
//! ```
//! let rt = burrow::Runtime::builder().build().unwrap();
//! rt.run(|| {
//!     let dir = std::env::temp_dir().join(format!("burrow-fs-doc-{}", std::process::id()));
//!     burrow::fs::create_dir_all(&dir).unwrap();
//!     let p = dir.join("hello.txt");
//!     burrow::fs::write(&p, "hello world").unwrap();
//!     assert_eq!(burrow::fs::read_to_string(&p).unwrap(), "hello world");
//!     burrow::fs::remove_dir_all(&dir).unwrap();
//! });
//! ```

use std::ffi::OsString;
use std::fs::{Metadata, Permissions};
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Runs a file system call through the hand-off; a refused hand-off (the
/// thread cap) is an I/O error that names the knob.
fn call<T>(f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    burrow_sched::blocking(f)?
}

/// An open file (Go's `os.File`); each read, write and seek is a blocking
/// call that hands off the goroutine's P while it runs.
#[derive(Debug)]
pub struct File {
    inner: std::fs::File,
}

impl File {
    /// Opens a file for reading (`std::fs::File::open`).
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        call(|| std::fs::File::open(path)).map(File::from)
    }

    /// Creates or truncates a file for writing (`std::fs::File::create`).
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        call(|| std::fs::File::create(path)).map(File::from)
    }

    /// Options to open a file with, as [`std::fs::OpenOptions`].
    pub fn options() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// The file's metadata.
    pub fn metadata(&self) -> io::Result<Metadata> {
        call(|| self.inner.metadata())
    }

    /// Flushes data and metadata to the device (`fsync`).
    pub fn sync_all(&self) -> io::Result<()> {
        call(|| self.inner.sync_all())
    }

    /// Flushes data to the device (`fdatasync`).
    pub fn sync_data(&self) -> io::Result<()> {
        call(|| self.inner.sync_data())
    }

    /// Truncates or extends the file to `size` bytes.
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        call(|| self.inner.set_len(size))
    }

    /// Changes the file's permissions.
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        call(|| self.inner.set_permissions(perm))
    }

    /// A second handle to the same open file (`dup`).
    pub fn try_clone(&self) -> io::Result<File> {
        self.inner.try_clone().map(File::from)
    }

    /// The std file inside.
    pub fn into_std(self) -> std::fs::File {
        self.inner
    }
}

impl From<std::fs::File> for File {
    fn from(inner: std::fs::File) -> File {
        File { inner }
    }
}

impl From<File> for std::fs::File {
    fn from(f: File) -> std::fs::File {
        f.inner
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        call(|| (&self.inner).read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        call(|| (&self.inner).read_vectored(bufs))
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        // One hand-off for the whole file, not one per chunk.
        call(|| (&self.inner).read_to_end(buf))
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        call(|| (&self.inner).read_to_string(buf))
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        call(|| (&self.inner).write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        call(|| (&self.inner).write_vectored(bufs))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        call(|| (&self.inner).write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        // A file has no user-space buffer; `sync_all` reaches the disk.
        Ok(())
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        call(|| (&self.inner).seek(pos))
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        (&*self).read_to_string(buf)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl IntoRawFd for File {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_raw_fd()
    }
}

impl FromRawFd for File {
    /// # Safety
    ///
    /// As [`std::fs::File::from_raw_fd`]: `fd` is an open descriptor that
    /// the new `File` owns.
    unsafe fn from_raw_fd(fd: RawFd) -> File {
        // SAFETY: forwarded to the caller.
        File::from(unsafe { std::fs::File::from_raw_fd(fd) })
    }
}

impl From<File> for OwnedFd {
    fn from(f: File) -> OwnedFd {
        f.inner.into()
    }
}

/// Options to open a file with ([`std::fs::OpenOptions`]); [`Self::open`]
/// goes through the hand-off.
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// No access at all, as [`std::fs::OpenOptions::new`].
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Read access.
    pub fn read(&mut self, on: bool) -> &mut OpenOptions {
        self.0.read(on);
        self
    }

    /// Write access.
    pub fn write(&mut self, on: bool) -> &mut OpenOptions {
        self.0.write(on);
        self
    }

    /// Appends to the end.
    pub fn append(&mut self, on: bool) -> &mut OpenOptions {
        self.0.append(on);
        self
    }

    /// Truncates to zero on open.
    pub fn truncate(&mut self, on: bool) -> &mut OpenOptions {
        self.0.truncate(on);
        self
    }

    /// Creates the file if missing.
    pub fn create(&mut self, on: bool) -> &mut OpenOptions {
        self.0.create(on);
        self
    }

    /// Creates the file, failing if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut OpenOptions {
        self.0.create_new(on);
        self
    }

    /// Opens `path` with these options.
    pub fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        call(|| self.0.open(path)).map(File::from)
    }
}

/// Reads a whole file (Go's `os.ReadFile`).
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    call(|| std::fs::read(path))
}

/// Reads a whole file as UTF-8.
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref();
    call(|| std::fs::read_to_string(path))
}

/// Writes a whole file, creating or truncating it (Go's `os.WriteFile`).
pub fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let (path, contents) = (path.as_ref(), contents.as_ref());
    call(|| std::fs::write(path, contents))
}

/// Metadata of a path, following symbolic links (Go's `os.Stat`).
pub fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref();
    call(|| std::fs::metadata(path))
}

/// Metadata of a path itself (Go's `os.Lstat`).
pub fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref();
    call(|| std::fs::symlink_metadata(path))
}

/// One entry of a directory listing, read with its file type (Go's
/// `os.DirEntry`); the listing was read in one hand-off.
#[derive(Clone, Debug)]
pub struct DirEntry {
    path: PathBuf,
    name: OsString,
    file_type: std::fs::FileType,
}

impl DirEntry {
    /// The full path (the directory joined with the name).
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The file name.
    pub fn file_name(&self) -> OsString {
        self.name.clone()
    }

    /// The entry's type (not following symbolic links).
    pub fn file_type(&self) -> std::fs::FileType {
        self.file_type
    }

    /// The entry's metadata (not following symbolic links): a call of its
    /// own, through the hand-off.
    pub fn metadata(&self) -> io::Result<Metadata> {
        symlink_metadata(&self.path)
    }
}

/// The entries of a directory, in the order the file system lists them
/// (Go's `os.ReadDir` sorts them; sort by [`DirEntry::file_name`] if you
/// need that). The whole listing is read in one hand-off.
pub fn read_dir(path: impl AsRef<Path>) -> io::Result<Vec<DirEntry>> {
    let path = path.as_ref();
    call(|| {
        std::fs::read_dir(path)?
            .map(|e| {
                let e = e?;
                Ok(DirEntry {
                    path: e.path(),
                    name: e.file_name(),
                    file_type: e.file_type()?,
                })
            })
            .collect()
    })
}

/// Creates a directory.
pub fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    call(|| std::fs::create_dir(path))
}

/// Creates a directory and its missing parents (Go's `os.MkdirAll`).
pub fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    call(|| std::fs::create_dir_all(path))
}

/// Removes a file.
pub fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    call(|| std::fs::remove_file(path))
}

/// Removes an empty directory.
pub fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    call(|| std::fs::remove_dir(path))
}

/// Removes a directory and everything in it (Go's `os.RemoveAll`).
pub fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    call(|| std::fs::remove_dir_all(path))
}

/// Renames a file or directory.
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    call(|| std::fs::rename(from, to))
}

/// Copies a file's contents and permissions; returns the bytes copied.
pub fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to) = (from.as_ref(), to.as_ref());
    call(|| std::fs::copy(from, to))
}

/// The canonical, absolute form of a path.
pub fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref();
    call(|| std::fs::canonicalize(path))
}
