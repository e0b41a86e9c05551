//! The processes the fault suite owns: a PostgreSQL cluster and a Redis of
//! its own in a scratch directory, on free loopback ports, and Patron's
//! services as `patron serve` processes. Everything is killed, and the
//! directory removed, when its value is dropped: on success, on a failed
//! invariant and on a panic alike.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A directory of the suite's own, removed on drop (kept when
/// `PATRON_FAULTS_KEEP=1`, to read the logs).
pub struct Scratch {
    pub path: PathBuf,
    keep: bool,
}

impl Scratch {
    pub fn create() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path =
            std::env::temp_dir().join(format!("patron-faults-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            path,
            keep: std::env::var("PATRON_FAULTS_KEEP").is_ok_and(|v| v == "1"),
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("fault suite: kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A loopback port nothing listened on a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The last lines of a log, for a failure message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn append_log(path: &Path) -> anyhow::Result<(Stdio, Stdio)> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok((file.try_clone()?.into(), file.into()))
}

/// Sends `signal` (`KILL`, `STOP`, `CONT`) to `pid` with kill(1): the crate
/// forbids the unsafe code a direct call would need.
pub async fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await
        .context("running kill")?;
    anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
    Ok(())
}

/// PostgreSQL refuses to run as root: as root, its programs run as this user.
fn postgres_user() -> Option<String> {
    let uid = std::process::Command::new("id").arg("-u").output().ok()?;
    (String::from_utf8_lossy(&uid.stdout).trim() == "0")
        .then(|| std::env::var("PATRON_FAULTS_PG_USER").unwrap_or_else(|_| "postgres".to_owned()))
}

/// The directory of `initdb` and `pg_ctl`: `PATRON_FAULTS_PG_BIN`, else the
/// newest `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`.
fn postgres_bin() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("PATRON_FAULTS_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let out = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .context("no /usr/lib/postgresql/*/bin and no pg_config: set PATRON_FAULTS_PG_BIN")?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// A PostgreSQL cluster in the scratch directory, stopped (immediately) on drop.
pub struct Postgres {
    bin: PathBuf,
    user: Option<String>,
    data: PathBuf,
    sockets: PathBuf,
    pub log: PathBuf,
    pub port: u16,
}

impl Postgres {
    /// Makes the cluster (trust authentication on loopback, superuser
    /// `postgres`).
    pub async fn init(scratch: &Path) -> anyhow::Result<Self> {
        let home = scratch.join("pg");
        std::fs::create_dir_all(&home)?;
        let user = postgres_user();
        if let Some(user) = &user {
            let status = Command::new("chown")
                .arg("-R")
                .arg(user)
                .arg(&home)
                .status()
                .await?;
            anyhow::ensure!(status.success(), "chown {user} {}", home.display());
        }
        let pg = Self {
            bin: postgres_bin()?,
            user,
            data: home.join("data"),
            sockets: home.clone(),
            log: home.join("postgres.log"),
            port: free_port()?,
        };
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(&pg.data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .output()
            .await
            .context("running initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(pg)
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// Starts the cluster and waits until it accepts connections (after
    /// crash recovery, when it was stopped in immediate mode).
    pub async fn start(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 \
             -c shared_buffers=32MB",
            self.port,
            self.sockets.display()
        );
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "120", "-o", &options, "start"])
            .output()
            .await
            .context("running pg_ctl start")?;
        if !out.status.success() {
            bail!(
                "pg_ctl start failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                log_tail(&self.log, 20)
            );
        }
        Ok(())
    }

    /// `pg_ctl stop -m immediate`: every backend is killed, nothing is
    /// flushed; the next start recovers from the WAL.
    pub async fn stop_immediately(&self) -> anyhow::Result<()> {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-m", "immediate", "stop"])
            .output()
            .await
            .context("running pg_ctl stop")?;
        anyhow::ensure!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// The administrator's URL, on the cluster's `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The services' database (each connects as its own role).
    pub fn database_url(&self) -> String {
        format!("postgres://127.0.0.1:{}/patron", self.port)
    }

    /// The services' database as the administrator (for the checks).
    pub fn database_admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/patron", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if !self.data.join("postmaster.pid").exists() {
            return;
        }
        let program = self.bin.join("pg_ctl");
        let mut command = match &self.user {
            Some(user) => {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => std::process::Command::new(program),
        };
        let _ = command
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A Redis with append-only persistence in the scratch directory; killed on
/// drop.
pub struct Redis {
    dir: PathBuf,
    pub log: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn new(scratch: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            dir: scratch.join("redis"),
            log: scratch.join("redis.log"),
            port: free_port()?,
            child: None,
        })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts Redis on its directory (what it holds there is loaded) and
    /// waits until it answers PING.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let (out, err) = append_log(&self.log)?;
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            // For the script's clean-up, should the suite itself be killed.
            .arg("--pidfile")
            .arg(self.log.with_extension("pid"))
            .args([
                "--appendonly",
                "yes",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
            ])
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server")?;
        self.child = Some(child);
        let client = redis::Client::open(self.url())?;
        for _ in 0..200 {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "redis did not answer within 10 s:\n{}",
            log_tail(&self.log, 20)
        )
    }

    /// SIGKILL: nothing is flushed beyond what the AOF already holds.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Removes everything Redis kept on disk.
    pub fn wipe(&self) -> anyhow::Result<()> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)?;
        }
        Ok(())
    }
}

/// One `patron serve SERVICE` process, killed on drop.
pub struct Service {
    /// Its label in messages (`tiering-a`).
    pub label: String,
    /// The command-line name (`profile`, `tiering`...).
    service: &'static str,
    env: Vec<(String, String)>,
    patron: PathBuf,
    pub port: u16,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Service {
    pub fn new(
        patron: &Path,
        scratch: &Path,
        label: &str,
        service: &'static str,
        port: u16,
        env: Vec<(String, String)>,
    ) -> Self {
        Self {
            label: label.to_owned(),
            service,
            env,
            patron: patron.to_owned(),
            port,
            log: scratch.join(format!("{label}.log")),
            child: None,
        }
    }

    /// With one more variable set.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self) -> anyhow::Result<()> {
        let (out, err) = append_log(&self.log)?;
        let mut command = patron_command(&self.patron, &self.env);
        let child = command
            .args(["serve", self.service])
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.label))?;
        // For the script's clean-up, should the suite itself be killed.
        if let Some(pid) = child.id() {
            std::fs::write(self.log.with_extension("pid"), pid.to_string())?;
        }
        self.child = Some(child);
        Ok(())
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .as_ref()
            .and_then(Child::id)
            .with_context(|| format!("{} is not running", self.label))
    }

    /// SIGKILL, and waits until it is gone.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Waits until it reports itself ready (migrated, its database and
    /// Redis answering); fails early when the process ended.
    pub async fn wait_ready(&mut self, patience: Duration) -> anyhow::Result<()> {
        let started = tokio::time::Instant::now();
        while started.elapsed() < patience {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "{} exited ({status}) while starting:\n{}",
                    self.label,
                    log_tail(&self.log, 30)
                );
            }
            if crate::is_ready(&self.url()).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "{} was not ready within {} s:\n{}",
            self.label,
            patience.as_secs(),
            log_tail(&self.log, 30)
        )
    }
}

/// `patron` with the suite's environment only: every `PATRON_*` and `OTEL_*`
/// variable of the caller's is removed, so nothing reaches the machine's own
/// PostgreSQL or Redis.
pub fn patron_command(patron: &Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new(patron);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("PATRON_") || name.starts_with("OTEL_") {
            command.env_remove(name.as_ref());
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command
}
