//! Cluster-mode harness: a real PostgreSQL server per test ([`Postgres`]), several test hosts on
//! one machine as network namespaces on a Linux bridge ([`Netns`]), and `holdfast serve`
//! processes inside them ([`Node`]).
//!
//! Needs Debian's `postgresql` package, and root with iproute2 for the namespaces (tests skip
//! when [`Netns::available`] says no). As root, PostgreSQL runs as the `postgres` system user.
//!
//! Namespaces reach each other over the bridge (layer 2) and the root namespace at the bridge's
//! IP, so no IP forwarding is needed. With `br_netfilter` loaded and
//! `net.bridge.bridge-nf-call-iptables = 1`, bridged traffic between namespaces passes the
//! iptables FORWARD chain: a DROP policy there would cut nodes off from each other (not from the
//! root namespace).

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};

/// A TCP port that was free on 127.0.0.1 a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// Whether this process runs as root (effective uid 0).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            Some(line.split_whitespace().nth(2)? == "0")
        })
        .unwrap_or(false)
}

/// Runs `cmd` to completion (stdin closed); its stdout, or an error with its stderr.
fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip` with `args`.
fn ip(args: &[&str]) -> Result<String> {
    run(Command::new("ip").args(args))
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// A PostgreSQL server of its own (trust authentication, user `postgres`, database `holdfast`)
/// in a temporary directory; stopped (`-m immediate`) and deleted on drop.
pub struct Postgres {
    /// Holds `data/` (PGDATA), `sock/` (its Unix socket) and `postgres.log`.
    dir: tempfile::TempDir,
    /// The directory of `initdb`, `pg_ctl`, `postgres` (and usually `psql`).
    bin: PathBuf,
    port: u16,
    /// Run PostgreSQL's programs as the `postgres` user (we are root).
    as_postgres: bool,
}

impl Postgres {
    /// Initialises a cluster in a fresh temporary directory and starts it on a free port,
    /// listening on 127.0.0.1 and on `listen` (addresses that must exist already, e.g. a
    /// [`Netns::bridge_ip`]); `fsync` and `synchronous_commit` on, `max_connections = 200`,
    /// host connections from 127.0.0.1/32 and 10.0.0.0/8 trusted. Returns once it answers on
    /// every address, with the database `holdfast` created.
    pub fn start(listen: &[&str]) -> Result<Postgres> {
        let bin = pg_bin_dir()?;
        let as_postgres = is_root();
        let base = if as_postgres {
            // Reachable by the `postgres` user whatever TMPDIR is, and short enough for a
            // Unix socket path.
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("holdfast-pg-")
            .tempdir_in(base)?;
        std::fs::create_dir(dir.path().join("sock"))?;
        if as_postgres {
            let id = |flag: &str| -> Result<u32> {
                let out = run(Command::new("id").args([flag, "postgres"])).context(
                    "running as root, PostgreSQL needs the `postgres` system user: install \
                     Debian's `postgresql` package",
                )?;
                Ok(out.trim().parse()?)
            };
            let (uid, gid) = (id("-u")?, id("-g")?);
            for p in [dir.path().to_owned(), dir.path().join("sock")] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid))
                    .with_context(|| format!("chown postgres {}", p.display()))?;
            }
        }
        let mut pg = Postgres {
            dir,
            bin,
            port: 0,
            as_postgres,
        };
        pg.init(listen)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match pg.start_on(free_port(), listen)? {
                Ok(()) => break,
                Err(why) if attempt < 5 => eprintln!("postgres: {why}; retrying on another port"),
                Err(why) => bail!("postgres did not start after {attempt} attempts: {why}"),
            }
        }
        pg.psql_in("postgres", "create database holdfast")?;
        Ok(pg)
    }

    /// Crashes the server (`pg_ctl stop -m immediate`: no checkpoint, as a power cut; what
    /// was committed is in its WAL).
    pub fn crash(&self) {
        self.stop();
    }

    /// Starts the server again on the same port and addresses (after [`Postgres::crash`]).
    pub fn restart(&mut self, listen: &[&str]) -> Result<()> {
        let port = self.port;
        match self.start_on(port, listen)? {
            Ok(()) => Ok(()),
            Err(why) => bail!("postgres did not start again on port {port}: {why}"),
        }
    }

    /// A libpq key/value connection string to the `holdfast` database at `host`.
    pub fn url(&self, host: &str) -> String {
        format!(
            "host={host} port={} user=postgres dbname=holdfast",
            self.port
        )
    }

    /// The TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` in the database `holdfast` with `psql -At` over TCP at 127.0.0.1 (stopping at
    /// the first error); its output (rows one a line, columns `|`-separated) without the final
    /// newline.
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.psql_in("holdfast", sql)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A command running PostgreSQL's `program` (as the `postgres` user when we are root).
    fn command(&self, program: &str) -> Command {
        let mut path = self.bin.join(program);
        if !path.is_file() {
            // psql may live elsewhere (Debian's wrapper in /usr/bin).
            path = PathBuf::from(program);
        }
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// initdb, then the server's settings and pg_hba.conf.
    fn init(&self, listen: &[&str]) -> Result<()> {
        run(self
            .command("initdb")
            .arg("-D")
            .arg(self.data())
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
            // Durability of the freshly initialised files does not matter (a crash of the
            // machine loses the temporary directory anyway); the server itself syncs.
            .args(["--no-sync", "--no-instructions"]))
        .context("initdb")?;
        let mut addrs = vec!["127.0.0.1"];
        for a in listen {
            if !addrs.contains(a) {
                addrs.push(a);
            }
        }
        let conf = format!(
            "\n# holdfast-tests\nlisten_addresses = '{}'\nunix_socket_directories = '{}'\n\
             fsync = on\nsynchronous_commit = on\nmax_connections = 200\n",
            addrs.join(","),
            self.dir.path().join("sock").display()
        );
        let mut f = OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))?;
        std::io::Write::write_all(&mut f, conf.as_bytes())?;
        // initdb made these files as the server's user; rewriting keeps their owner.
        std::fs::write(
            self.data().join("pg_hba.conf"),
            "local all all trust\n\
             host all all 127.0.0.1/32 trust\n\
             host all all 10.0.0.0/8 trust\n\
             host all all ::1/128 trust\n",
        )?;
        Ok(())
    }

    /// Starts the server on `port`. The inner error is a port already taken (worth another
    /// port); the outer one anything else.
    fn start_on(&mut self, port: u16, listen: &[&str]) -> Result<Result<(), String>> {
        let log_start = std::fs::metadata(self.log_path())
            .map(|m| m.len())
            .unwrap_or(0) as usize;
        let started = run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "60", "-o", &format!("-p {port}"), "start"]));
        let log = self.log().get(log_start..).unwrap_or_default().to_owned();
        // A listen address that cannot be bound is only a warning when another one was bound.
        if started.is_ok() && log.contains("could not bind") {
            self.stop();
        }
        if log.contains("Address already in use") {
            return Ok(Err(format!("port {port} is taken")));
        }
        if let Err(e) = started {
            bail!("{e:#}\n{log}");
        }
        ensure!(
            !log.contains("could not bind"),
            "postgres cannot listen on every address of {listen:?} (they must exist already, \
             e.g. a Netns's bridge): {log}"
        );
        self.port = port;
        // Check it is this server that answers on each address.
        let want = self.data().display().to_string();
        for host in std::iter::once(&"127.0.0.1").chain(listen) {
            if ["*", "0.0.0.0", "::", ""].contains(host) {
                continue;
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let got = run(self
                    .psql_command(host, "postgres")
                    .arg("-c")
                    .arg("show data_directory"));
                match got {
                    Ok(d) if d.trim() == want => break,
                    Ok(d) => {
                        self.stop();
                        return Ok(Err(format!("{host}:{port} is another server's ({d})")));
                    }
                    Err(e) if Instant::now() > deadline => {
                        return Err(e.context(format!("postgres at {host}:{port}: {}", self.log())));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }
        Ok(Ok(()))
    }

    /// `psql -X -At -v ON_ERROR_STOP=1` to `db` at `host` on our port.
    fn psql_command(&self, host: &str, db: &str) -> Command {
        let mut cmd = self.command("psql");
        cmd.args([
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            host,
            "-U",
            "postgres",
        ])
        .arg("-p")
        .arg(self.port.to_string())
        .arg("-d")
        .arg(db);
        cmd
    }

    fn psql_in(&self, db: &str, sql: &str) -> Result<String> {
        let mut out = run(self.psql_command("127.0.0.1", db).arg("-c").arg(sql))
            .with_context(|| format!("psql {sql:?}"))?;
        if out.ends_with('\n') {
            out.pop();
        }
        Ok(out)
    }

    /// `pg_ctl stop -m immediate`, then SIGKILL to the postmaster if it is still there.
    fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "-t", "30", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Ok(pidfile) = std::fs::read_to_string(self.data().join("postmaster.pid"))
            && let Some(pid) = pidfile.lines().next()
            && pid.trim().parse::<u32>().is_ok()
        {
            let _ = Command::new("kill")
                .args(["-KILL", pid.trim()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The directory of PostgreSQL's server programs: that of `initdb` on PATH (symlinks
/// resolved), else the newest `/usr/lib/postgresql/*/bin/`.
fn pg_bin_dir() -> Result<PathBuf> {
    let complete = |d: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|p| d.join(p).is_file())
    };
    for d in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let initdb = d.join("initdb");
        if !initdb.is_file() {
            continue;
        }
        if let Ok(real) = initdb.canonicalize()
            && let Some(dir) = real.parent()
            && complete(dir)
        {
            return Ok(dir.to_owned());
        }
        if complete(&d) {
            return Ok(d);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!(
            "PostgreSQL's server programs (initdb, pg_ctl, postgres) are neither on PATH nor in \
             /usr/lib/postgresql/*/bin/: install Debian's `postgresql` package \
             (apt-get install postgresql)"
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Network namespaces

/// Where the subnet locks live (one machine-wide place, whatever TMPDIR is).
const LOCK_DIR: &str = "/run/holdfast-netns";

/// Per-process counter of [`Netns::create`] calls (the start of the subnet search).
static NEXT_NETNS: AtomicUsize = AtomicUsize::new(0);

/// `n` test hosts: network namespaces `i` in `0..n` with the IP `10.A.B.(10+i)/24`, each on a
/// veth pair whose root end is a port of a bridge with the IP `10.A.B.1/24` in the root
/// namespace (also the namespaces' default route). The subnet `10.A.B.0/24` (and with it every
/// name) is held under an exclusive lock in `/run/holdfast-netns/` while the value lives, so
/// that parallel tests and test processes get distinct ones. Drop deletes it all, killing any
/// process left inside.
pub struct Netns {
    a: u8,
    b: u8,
    n: usize,
    /// The subnet's lock (an flock held by the open file).
    _lock: File,
}

impl Netns {
    /// Whether network namespaces can be made here (root, iproute2, namespace and bridge
    /// support); prints why not when they cannot, for a test to skip.
    pub fn available() -> bool {
        static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
        let probe = PROBE.get_or_init(|| {
            if !is_root() {
                return Err("not running as root".into());
            }
            ip(&["-V"]).map_err(|e| format!("iproute2 (`ip`) does not run: {e:#}"))?;
            let name = format!("hfq-{}", std::process::id());
            let netns = ip(&["netns", "add", &name]);
            let _ = ip(&["netns", "del", &name]);
            netns.map_err(|e| format!("`ip netns add` fails: {e:#}"))?;
            let bridge = ip(&["link", "add", &name, "type", "bridge"]);
            let _ = ip(&["link", "del", &name]);
            bridge.map_err(|e| format!("cannot make a bridge: {e:#}"))?;
            Ok(())
        });
        match probe {
            Ok(()) => true,
            Err(why) => {
                eprintln!("network namespaces unavailable, skipping: {why}");
                false
            }
        }
    }

    /// Makes `n` namespaces (1 to 245) on a new bridge, after deleting the leftovers of test
    /// processes that died holding a subnet.
    pub fn create(n: usize) -> Result<Netns> {
        ensure!(
            (1..=245).contains(&n),
            "{n} namespaces: 1 to 245 fit in a /24"
        );
        let net = Self::lock_subnet(n)?;
        net.build()
            .with_context(|| format!("making namespaces on {}", net.bridge()))?;
        Ok(net)
    }

    /// The bridge's IP in the root namespace, as the namespaces reach it.
    pub fn bridge_ip(&self) -> String {
        format!("10.{}.{}.1", self.a, self.b)
    }

    /// The IP of namespace `i`.
    pub fn node_ip(&self, i: usize) -> String {
        assert!(i < self.n, "namespace {i} of {}", self.n);
        format!("10.{}.{}.{}", self.a, self.b, 10 + i)
    }

    /// The name of namespace `i` (for `ip netns exec`).
    pub fn ns_name(&self, i: usize) -> String {
        assert!(i < self.n, "namespace {i} of {}", self.n);
        format!("hfns-{}-{}-{i}", self.a, self.b)
    }

    /// A command running `program` inside namespace `i` (`ip netns exec`).
    pub fn command(&self, i: usize, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns_name(i)]).arg(program);
        cmd
    }

    /// Partitions namespace `i` off: its veth's root end goes down, so it reaches nothing and
    /// nothing reaches it (its open TCP connections hang rather than reset).
    pub fn cut(&self, i: usize) -> Result<()> {
        ip(&["link", "set", &self.veth(i), "down"])?;
        Ok(())
    }

    /// Undoes [`Netns::cut`]: the veth's root end back on the bridge and up; returns once the
    /// bridge forwards on it.
    pub fn heal(&self, i: usize) -> Result<()> {
        let veth = self.veth(i);
        if !ip(&["-o", "link", "show", &veth])?.contains(&format!(" master {} ", self.bridge())) {
            ip(&["link", "set", &veth, "master", &self.bridge()])?;
        }
        ip(&["link", "set", &veth, "up"])?;
        let state = format!("/sys/class/net/{veth}/brport/state");
        let deadline = Instant::now() + Duration::from_secs(5);
        // 3 is BR_STATE_FORWARDING.
        while std::fs::read_to_string(&state).unwrap_or_default().trim() != "3" {
            ensure!(Instant::now() < deadline, "{veth} is not forwarding");
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    fn bridge(&self) -> String {
        format!("hfb-{}-{}", self.a, self.b)
    }

    /// The root end of namespace `i`'s veth (at most 15 characters: `hfv-199-255-244`).
    fn veth(&self, i: usize) -> String {
        format!("hfv-{}-{}-{i}", self.a, self.b)
    }

    /// Takes the first free subnet from `10.(100 + pid % 100).(call counter).0/24` on: one
    /// whose lock nobody holds and that no interface of this machine uses. Deletes leftovers
    /// of crashed holders of any subnet first.
    fn lock_subnet(n: usize) -> Result<Netns> {
        std::fs::create_dir_all(LOCK_DIR).with_context(|| format!("creating {LOCK_DIR}"))?;
        sweep_orphans();
        let first =
            (std::process::id() as usize % 100) * 256 + NEXT_NETNS.fetch_add(1, Ordering::Relaxed);
        for k in 0..100 * 256 {
            let slot = (first + k) % (100 * 256);
            let (a, b) = ((100 + slot / 256) as u8, (slot % 256) as u8);
            let Some(lock) = try_lock_subnet(a, b)? else {
                continue;
            };
            remove_subnet(a, b);
            if ip(&["-o", "-4", "addr", "show"])?.contains(&format!(" 10.{a}.{b}.")) {
                // Someone else's network.
                continue;
            }
            return Ok(Netns {
                a,
                b,
                n,
                _lock: lock,
            });
        }
        bail!("no free subnet in 10.100.0.0 - 10.199.255.0")
    }

    fn build(&self) -> Result<()> {
        let bridge = self.bridge();
        ip(&[
            "link",
            "add",
            &bridge,
            "type",
            "bridge",
            "forward_delay",
            "0",
        ])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", self.bridge_ip()),
            "dev",
            &bridge,
        ])?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 0..self.n {
            let ns = self.ns_name(i);
            let veth = self.veth(i);
            let peer = format!("hfp-{}-{}-{i}", self.a, self.b);
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", &peer, "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "master", &bridge])?;
            ip(&["link", "set", &veth, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "link", "set", &peer, "name", "eth0"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", self.node_ip(i)),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&[
                "-n",
                &ns,
                "route",
                "add",
                "default",
                "via",
                &self.bridge_ip(),
            ])?;
        }
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        remove_subnet(self.a, self.b);
    }
}

/// The lock of subnet `10.a.b.0/24`, if nobody else holds it.
fn try_lock_subnet(a: u8, b: u8) -> Result<Option<File>> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(format!("{LOCK_DIR}/10.{a}.{b}.lock"))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// Our namespaces (`hfns-A-B-i`) and links (bridge `hfb-A-B`, veth ends `hfv-A-B-i` and
/// `hfp-A-B-i`): (name, A, B, is a namespace).
fn our_names() -> Vec<(String, u8, u8, bool)> {
    let namespaces = ip(&["netns", "list"]).unwrap_or_default();
    // "7: hfv-100-3-1@if2: <...> ..."
    let links = ip(&["-o", "link", "show"]).unwrap_or_default();
    let namespaces = namespaces
        .lines()
        .filter_map(|l| Some((l.split_whitespace().next()?, true)));
    let links = links.lines().filter_map(|l| {
        let name = l.split(": ").nth(1)?;
        Some((name.split('@').next()?, false))
    });
    namespaces
        .chain(links)
        .filter_map(|(name, is_ns)| {
            let rest = ["hfns-", "hfb-", "hfv-", "hfp-"]
                .iter()
                .find_map(|p| name.strip_prefix(p))?;
            let mut parts = rest.split('-');
            let a = parts.next()?.parse().ok()?;
            let b = parts.next()?.parse().ok()?;
            Some((name.to_owned(), a, b, is_ns))
        })
        .collect()
}

/// Deletes the namespaces (killing the processes inside) and links of subnet `10.a.b.0/24`.
fn remove_subnet(a: u8, b: u8) {
    let names = our_names();
    let mine = || names.iter().filter(|(_, na, nb, _)| (*na, *nb) == (a, b));
    for (name, _, _, _) in mine().filter(|n| n.3) {
        kill_inside(name);
        let _ = ip(&["netns", "del", name]);
    }
    // Deleting a namespace deletes its veth pair; what is left is the bridge, or veths of a
    // namespace that could not be deleted.
    for (name, _, _, _) in mine().filter(|n| !n.3) {
        let _ = Command::new("ip")
            .args(["link", "del", name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Deletes the leftovers of subnets whose holders died without cleaning up (their locks are
/// free).
fn sweep_orphans() {
    let mut subnets: Vec<(u8, u8)> = our_names().iter().map(|n| (n.1, n.2)).collect();
    subnets.sort();
    subnets.dedup();
    for (a, b) in subnets {
        if let Ok(Some(_lock)) = try_lock_subnet(a, b) {
            remove_subnet(a, b);
        }
    }
}

/// SIGKILLs every process in the namespace `ns`.
fn kill_inside(ns: &str) {
    for pid in ip(&["netns", "pids", ns])
        .unwrap_or_default()
        .split_whitespace()
    {
        let _ = Command::new("kill")
            .args(["-KILL", pid])
            .stderr(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes

/// A `holdfast serve` process inside a namespace of a [`Netns`], listening on `0.0.0.0:{port}`
/// there, with its config, data and log in a temporary directory of its own; SIGKILLed on drop.
pub struct Node {
    /// None while killed.
    child: Option<Child>,
    ns: String,
    ip: String,
    port: u16,
    config: PathBuf,
    data: PathBuf,
    log: PathBuf,
    /// Keeps the config, data and log alive.
    _dir: tempfile::TempDir,
}

impl Node {
    /// Starts `holdfast serve` with `config_toml` and a fresh data directory in namespace `i` of
    /// `ns`, and waits (up to 120 s) until it listens.
    pub fn start(ns: &Netns, i: usize, config_toml: &str, port: u16) -> Result<Node> {
        let dir = tempfile::Builder::new()
            .prefix("holdfast-node-")
            .tempdir()?;
        let config = dir.path().join("holdfast.toml");
        std::fs::write(&config, config_toml)?;
        let mut node = Node {
            child: None,
            ns: ns.ns_name(i),
            ip: ns.node_ip(i),
            port,
            config,
            data: dir.path().join("data"),
            log: dir.path().join("holdfast.log"),
            _dir: dir,
        };
        node.spawn()?;
        Ok(node)
    }

    /// The full URL of `path` (which starts with `/`) at the node's IP and port.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.ip, self.port)
    }

    /// The node's IP.
    pub fn ip(&self) -> &str {
        &self.ip
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The holdfast process's ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The data directory (kept across restarts).
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// Everything it has logged (stderr), across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILLs the holdfast process and waits for it (nothing if it is not running).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same config, data and port (SIGKILLing it first if it runs), and
    /// waits until it listens.
    pub fn restart(&mut self) -> Result<()> {
        self.kill9();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(crate::holdfast_bin())
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .arg("--listen")
            .arg(format!("0.0.0.0:{}", self.port))
            .arg("--data")
            .arg(&self.data)
            .env("HOLDFAST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting holdfast in its namespace")?;
        let (mut child, _, _) = crate::wait_listening(child, &self.log)
            .with_context(|| format!("node {} in {}", self.ip, self.ns))?;
        // `ip netns exec` execs into the program, so the child is holdfast itself (which
        // kill9 relies on).
        let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap_or_default();
        if exe.file_name() == Some(OsStr::new("ip")) {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "`ip netns exec` did not exec into holdfast (the child is {})",
                exe.display()
            );
        }
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The config of node `i` (named `n{i}`, advertised at its namespace's address on `port`) over
/// `pg`, serving `classes`; `extra` goes into its `[cluster]` section.
pub fn node_config(
    net: &Netns,
    pg: &Postgres,
    i: usize,
    port: u16,
    lease_ms: u64,
    extra: &str,
    classes: &str,
) -> String {
    format!(
        "[cluster]\ndatabase_url = \"{}\"\nnode = \"n{i}\"\nadvertise = \"http://{}:{port}\"\nlease_ms = {lease_ms}\n{extra}\n{classes}",
        pg.url(&net.bridge_ip()),
        net.node_ip(i),
    )
}

/// Waits (up to `within`) until every node sees `n` live members and its own lease.
pub async fn wait_members(nodes: &[Node], n: usize, within: std::time::Duration) -> Result<()> {
    let c = reqwest::Client::builder().no_proxy().build()?;
    let deadline = std::time::Instant::now() + within;
    'again: loop {
        ensure!(
            std::time::Instant::now() < deadline,
            "the nodes did not all see {n} members within {within:?}"
        );
        for node in nodes {
            let view = match c.get(node.url("/_/cluster")).send().await {
                Ok(r) => r.json::<serde_json::Value>().await.ok(),
                Err(_) => None,
            };
            let ok = view.as_ref().is_some_and(|v| {
                v["members"].as_array().map_or(0, Vec::len) == n && v["lease_held"] == true
            });
            if !ok {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue 'again;
            }
        }
        return Ok(());
    }
}
