//! Everything the benchmark changes outside itself is undone, whatever happens: sysctls it set
//! are written back and temporary files removed when their guards drop (normal end, error,
//! panic), and by [`run_all`] when the program is ended early — by `SIGINT`, `SIGTERM` or
//! `SIGHUP` ([`install_signal_thread`]) or by the [`Watchdog`] when a case overruns its time.

use std::{
    fs, io,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Mutex,
    },
    thread,
    time::Duration,
};

/// Something to undo.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Write `old` back to the sysctl file at `path`.
    Sysctl { path: PathBuf, old: String },
    /// Remove the file at this path.
    Remove(PathBuf),
}

impl Action {
    fn perform(&self) {
        match self {
            Action::Sysctl { path, old } => {
                if let Err(e) = fs::write(path, old) {
                    eprintln!(
                        "sysmsg-bench: restoring {} to {}: {e}",
                        path.display(),
                        old.trim()
                    );
                }
            }
            Action::Remove(path) => {
                let _ = fs::remove_file(path);
            }
        }
    }
}

static REGISTRY: Mutex<Vec<(u64, Action)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn registry() -> std::sync::MutexGuard<'static, Vec<(u64, Action)>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn register(action: Action) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    registry().push((id, action));
    id
}

/// Performs and forgets the action registered as `id` (if [`run_all`] has not already).
fn settle(id: u64) {
    let action = {
        let mut r = registry();
        r.iter()
            .position(|(i, _)| *i == id)
            .map(|pos| r.remove(pos).1)
    };
    if let Some(a) = action {
        a.perform();
    }
}

/// Undoes everything still registered, newest first (for an early exit).
pub fn run_all() {
    let actions: Vec<Action> = registry().drain(..).rev().map(|(_, a)| a).collect();
    for a in actions {
        a.perform();
    }
}

/// A sysctl set by [`SysctlGuard::set`]; its old value is written back when this drops.
#[derive(Debug)]
pub struct SysctlGuard {
    id: u64,
}

impl SysctlGuard {
    /// Sets the sysctl file `path` (e.g. `/proc/sys/kernel/sysmsg/per_process_limits`) to
    /// `value`, remembering the old value first.
    pub fn set(path: impl AsRef<Path>, value: i64) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let old = fs::read_to_string(&path)?;
        let id = register(Action::Sysctl {
            path: path.clone(),
            old,
        });
        if let Err(e) = fs::write(&path, format!("{value}\n")) {
            // Nothing changed: forget it without writing.
            registry().retain(|(i, _)| *i != id);
            return Err(e);
        }
        Ok(Self { id })
    }

    /// Sets `kernel.sysmsg.NAME`.
    pub fn sysmsg(name: &str, value: i64) -> io::Result<Self> {
        Self::set(format!("/proc/sys/kernel/sysmsg/{name}"), value)
    }
}

impl Drop for SysctlGuard {
    fn drop(&mut self) {
        settle(self.id);
    }
}

/// A temporary file, removed when this drops.
#[derive(Debug)]
pub struct TempFile {
    id: u64,
    path: PathBuf,
    /// The file, open for reading and writing.
    pub file: fs::File,
}

impl TempFile {
    /// Creates `DIR/sysmsg-bench-PID-NAME` (truncated if it exists).
    pub fn create(dir: &Path, name: &str) -> io::Result<Self> {
        let path = dir.join(format!("sysmsg-bench-{}-{name}", std::process::id()));
        let id = register(Action::Remove(path.clone()));
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path);
        match file {
            Ok(file) => Ok(Self { id, path, file }),
            Err(e) => {
                registry().retain(|(i, _)| *i != id);
                Err(e)
            }
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        settle(self.id);
    }
}

/// What an early exit writes before it goes: set by the program after each case (the report so
/// far, as JSON, and where `--out` wants it).
static PARTIAL: Mutex<Option<(String, Option<PathBuf>)>> = Mutex::new(None);

/// Records the report so far, written by an early exit.
pub fn set_partial(json: String, out: Option<PathBuf>) {
    *PARTIAL.lock().unwrap_or_else(|e| e.into_inner()) = Some((json, out));
}

/// Ends the program early: undoes everything, writes the partial report if `--out` was given,
/// and exits with `code`.
pub fn emergency_exit(why: &str, code: i32) -> ! {
    eprintln!("sysmsg-bench: {why}: cleaning up and exiting");
    run_all();
    let partial = PARTIAL.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some((json, Some(out))) = partial {
        match fs::write(&out, json) {
            Ok(()) => eprintln!(
                "sysmsg-bench: the cases finished so far are in {}",
                out.display()
            ),
            Err(e) => eprintln!("sysmsg-bench: writing {}: {e}", out.display()),
        }
    }
    std::process::exit(code)
}

/// Blocks `SIGINT`, `SIGTERM` and `SIGHUP` in the calling thread (call it first in `main`, so
/// every thread inherits the mask) and starts a thread that waits for them with `sigwait` and
/// then ends the program through [`emergency_exit`] (status 130).
pub fn install_signal_thread() {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to our sigset; pthread_sigmask changes this thread's mask only.
    let blocked = unsafe {
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) == 0
    };
    if !blocked {
        return;
    }
    let _ = thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let mut sig = 0;
            // SAFETY: a valid set and a place for the signal number.
            if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                emergency_exit(&format!("signal {sig}"), 130);
            }
        });
}

/// Ends the program if a case runs longer than its time: every wait in the cases is bounded
/// where the API allows, and this bounds the rest (a blocking reap that a bug would never
/// satisfy).
#[derive(Debug)]
pub struct Watchdog {
    tx: mpsc::Sender<Option<(String, Duration)>>,
}

impl Watchdog {
    /// Starts the watchdog thread.
    pub fn start() -> Self {
        let (tx, rx) = mpsc::channel::<Option<(String, Duration)>>();
        let _ = thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let mut armed: Option<(String, Duration)> = None;
                loop {
                    let msg = match &armed {
                        None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                        Some((_, limit)) => rx.recv_timeout(*limit),
                    };
                    match msg {
                        Ok(next) => armed = next,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            let (name, limit) = armed.take().unwrap_or_default();
                            emergency_exit(
                                &format!("case {name} ran longer than {} s", limit.as_secs()),
                                3,
                            );
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            });
        Self { tx }
    }

    /// Arms it for a case: the program ends if [`disarm`](Self::disarm) or the next `arm` do
    /// not come within `limit`.
    pub fn arm(&self, case: &str, limit: Duration) {
        let _ = self.tx.send(Some((case.to_string(), limit)));
    }

    /// Disarms it.
    pub fn disarm(&self) {
        let _ = self.tx.send(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry is global: tests that use it run one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn temp_files_go_away() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir();
        let t = TempFile::create(&dir, "cleanup-test").unwrap();
        let path = t.path().to_path_buf();
        assert!(path.exists());
        drop(t);
        assert!(!path.exists());
        // run_all removes what is still registered.
        let t = TempFile::create(&dir, "cleanup-test-2").unwrap();
        let path = t.path().to_path_buf();
        std::mem::forget(t);
        run_all();
        assert!(!path.exists());
    }

    #[test]
    fn sysctl_guard_restores() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        // A stand-in for a sysctl file.
        let t = TempFile::create(&std::env::temp_dir(), "cleanup-sysctl").unwrap();
        fs::write(t.path(), "4\n").unwrap();
        let g = SysctlGuard::set(t.path(), 9).unwrap();
        assert_eq!(fs::read_to_string(t.path()).unwrap(), "9\n");
        drop(g);
        assert_eq!(fs::read_to_string(t.path()).unwrap(), "4\n");
        assert!(SysctlGuard::set("/nonexistent/sysctl", 1).is_err());
    }

    #[test]
    fn watchdog_disarms() {
        let w = Watchdog::start();
        w.arm("test", Duration::from_secs(3600));
        w.disarm();
    }
}
