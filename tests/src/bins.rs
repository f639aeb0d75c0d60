//! Finding the real binaries, and running the collector as a process on 127.0.0.1:0.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// A `scout-collector serve` process; killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct CollectorProcess {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub log: PathBuf,
}

impl CollectorProcess {
    /// Starts `scout-collector serve --listen <listen>` on `database_url`, logging to a file
    /// in `dir`; returns once it listens.
    #[allow(clippy::zombie_processes)] // reaped in Drop
    pub fn start(database_url: &str, dir: &Path, listen: &str, extra: &[&str]) -> Self {
        let log = dir.join(format!("collector-{}.log", uuid::Uuid::new_v4().simple()));
        let child = Command::new(binary("scout-collector"))
            .args(["serve", "--listen", listen])
            .args(extra)
            .env("DATABASE_URL", database_url)
            .env("SCOUT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut process = Self {
            child,
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

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL now.
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scout-collector device add`: returns the token.
pub fn add_device(database_url: &str, device_id: &str, store_id: &str) -> String {
    let out = Command::new(binary("scout-collector"))
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
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid} failed");
}
