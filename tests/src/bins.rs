//! Finding the real binaries and running them as processes: a server is started, waited for
//! until its log says `listening address=`, and killed (SIGKILL) and reaped when dropped.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Path of a workspace binary: `$SCOUT_<NAME>_BIN`, else beside the running test executable.
pub fn binary(name: &str) -> PathBuf {
    let var = format!(
        "SCOUT_{}_BIN",
        name.trim_start_matches("scout-").to_uppercase()
    );
    if let Ok(path) = std::env::var(&var) {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<test-exe> → target/<profile>/<name>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} not found: build it first (`cargo test --workspace` does), or set {var}",
        path.display()
    );
    path
}

/// Waits for `needle` in a log file and returns the rest of that line.
pub fn wait_for_log(log: &Path, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(rest) = text.split(needle).nth(1) {
            return rest.lines().next().unwrap_or("").to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} did not appear in {}:\n{text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server process (agent or collector) that logs `listening address=HOST:PORT`.
#[derive(Debug)]
pub struct Process {
    child: Child,
    /// `127.0.0.1:PORT` it listens on.
    pub addr: String,
    /// Its stderr.
    pub log: PathBuf,
}

impl Process {
    /// Runs `bin args` with `env`, stderr to a new log file in `dir`; returns once it listens.
    #[allow(clippy::zombie_processes)] // reaped in Drop
    pub fn start<I, S>(bin: &Path, args: I, env: &[(&str, &str)], dir: &Path) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let stem = bin.file_name().and_then(OsStr::to_str).unwrap_or("process");
        let log = dir.join(format!("{stem}-{}.log", uuid::Uuid::new_v4().simple()));
        let mut command = Command::new(bin);
        command
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut process = Self {
            child: command.spawn().unwrap(),
            addr: String::new(),
            log,
        };
        let line = wait_for_log(&process.log, "listening address=", Duration::from_secs(30));
        process.addr = line.split_whitespace().next().unwrap().to_owned();
        process
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a real signal (`TERM`, `INT`, ...).
    pub fn signal(&self, name: &str) {
        signal(self.pid(), name);
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait(mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status (waiting at most `limit`).
    pub fn terminate(self, limit: Duration) -> ExitStatus {
        self.signal("TERM");
        self.wait(limit)
    }

    /// SIGKILL now.
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scout-collector serve --listen <listen> <extra>` on `database_url`, logging into `dir`.
pub fn start_collector(
    bin: &Path,
    database_url: &str,
    dir: &Path,
    listen: &str,
    extra: &[&str],
) -> Process {
    let args = ["serve", "--listen", listen]
        .into_iter()
        .chain(extra.iter().copied());
    Process::start(
        bin,
        args,
        &[("DATABASE_URL", database_url), ("SCOUT_LOG", "info")],
        dir,
    )
}

/// `scout-collector device add`: returns the token.
pub fn add_device(bin: &Path, database_url: &str, device_id: &str, store_id: &str) -> String {
    let out = Command::new(bin)
        .args(["device", "add", device_id, "--store", store_id])
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "device add failed: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

/// Sends a real signal with the `kill` utility.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Peak resident memory of a process so far (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
