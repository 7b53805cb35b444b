//! `burrow::fs`: std's file API through the blocking hand-off. The FIFO
//! test is the one that tells: with one P, a goroutine blocked opening a
//! FIFO must not stop the goroutine that will open its other end.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use burrow::{Runtime, fs, go};

/// Runs `f` on a thread, failing the test if it takes over `secs`.
fn bounded<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => h.join().expect("test body panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(_) => unreachable!(),
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: not done within {secs} s"),
    }
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("burrow-fs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_goroutine_blocked_in_a_file_call_does_not_stop_its_p() {
    let dir = scratch("fifo");
    let fifo = dir.join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let got = bounded(30, "FIFO reader and writer on one P", move || {
        Runtime::builder()
            .maxprocs(1)
            .build()
            .unwrap()
            .run(move || {
                let f2 = fifo.clone();
                // Opening a FIFO for reading blocks until a writer opens it.
                let reader = go(move || fs::read_to_string(&f2));
                // Runs on the same (only) P while the reader is blocked.
                let writer = go(move || fs::write(&fifo, "through the pipe"));
                writer.join().unwrap().unwrap();
                let text = reader.join().unwrap().unwrap();
                // The reader's P was handed off (not merely lent a spare
                // as to a long computation).
                (text, burrow::runtime::stats().unwrap().handoffs)
            })
    });
    assert_eq!(got.0, "through the pipe");
    assert!(got.1 >= 1, "sysmon handed the blocked reader's P off");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_read_write_seek_and_list_like_std() {
    let dir = scratch("api");
    let d2 = dir.clone();
    bounded(30, "file API", move || {
        Runtime::builder()
            .maxprocs(1)
            .build()
            .unwrap()
            .run(move || {
                let p = d2.join("a.txt");
                let mut f = fs::File::create(&p).unwrap();
                f.write_all(b"hello, world").unwrap();
                f.sync_all().unwrap();
                drop(f);
                assert_eq!(fs::metadata(&p).unwrap().len(), 12);

                let mut f = fs::File::open(&p).unwrap();
                f.seek(SeekFrom::Start(7)).unwrap();
                let mut s = String::new();
                f.read_to_string(&mut s).unwrap();
                assert_eq!(s, "world");

                let mut f = fs::File::options().append(true).open(&p).unwrap();
                f.write_all(b"!").unwrap();
                assert_eq!(fs::read(&p).unwrap(), b"hello, world!");

                fs::create_dir_all(d2.join("sub/deeper")).unwrap();
                fs::copy(&p, d2.join("sub/b.txt")).unwrap();
                fs::rename(d2.join("sub/b.txt"), d2.join("sub/c.txt")).unwrap();
                let mut names: Vec<_> = fs::read_dir(d2.join("sub"))
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.file_name().into_string().unwrap(), e.file_type().is_dir()))
                    .collect();
                names.sort();
                assert_eq!(names, [("c.txt".into(), false), ("deeper".into(), true)]);

                let e = fs::read(d2.join("missing")).unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
                fs::remove_dir_all(&d2).unwrap();
                assert!(fs::metadata(&d2).is_err());
            })
    });
}

#[test]
fn outside_a_goroutine_files_just_work() {
    let dir = scratch("plain");
    let p = dir.join("x");
    fs::write(&p, [1u8, 2, 3]).unwrap();
    assert_eq!(fs::read(&p).unwrap(), [1, 2, 3]);
    fs::remove_dir_all(&dir).unwrap();
}
