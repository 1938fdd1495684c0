//! The `holdfast` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use holdfast::{Config, Server};

#[derive(Parser)]
#[command(
    name = "holdfast",
    version,
    about = "Self-hosted Durable Objects for WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where `serve` and `dev` get their config, address and data.
#[derive(clap::Args)]
struct ServeArgs {
    /// The config file: a holdfast.toml or a Cloudflare project's wrangler.toml /
    /// wrangler.jsonc (default: the first of holdfast.toml, wrangler.toml, wrangler.jsonc,
    /// wrangler.json in the current directory).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (overrides the config; default 127.0.0.1:8787).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory (overrides the config; default .holdfast next to the config).
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the classes of a config file over HTTP (SIGHUP or POST /_/admin/reload updates
    /// the code without a restart).
    Serve(ServeArgs),
    /// Build every class, serve, and rebuild and update the code whenever a source changes.
    Dev(ServeArgs),
    /// Make a new project NAME in the current directory: a counter class (for JavaScript and
    /// TypeScript, a wrangler project with a Worker) that builds, serves and passes its own test.
    New {
        /// The project's name (its directory, package and component).
        name: String,
        /// Its language.
        #[arg(long, value_enum)]
        lang: holdfast::Lang,
    },
    /// Run every class's `build` command (what `holdfast dev` does before it serves).
    Build {
        /// The config file (default: found in the current directory, as for `serve`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Follow the log lines of a running server's objects: everything, one namespace
    /// (BINDING) or one object (BINDING/NAME, or BINDING --id ID). Needs the admin token in
    /// HOLDFAST_ADMIN_TOKEN.
    Tail {
        /// BINDING or BINDING/NAME (default: every object and the worker).
        object: Option<String>,
        /// The object's ID (with its BINDING before it).
        #[arg(long)]
        id: Option<String>,
        /// The server (default http://127.0.0.1:8787).
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        url: String,
        /// Print the feed's JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a consistent backup of a data directory's database to FILE, without stopping the
    /// server that has it open (the backup is then asked of that server, with the admin token
    /// in HOLDFAST_ADMIN_TOKEN).
    Backup {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// The backup file to write.
        #[arg(long)]
        to: PathBuf,
        /// The running server's admin address (default: from DATA/server.json).
        #[arg(long)]
        url: Option<String>,
    },
    /// List an object's commits, newest first, with the bookmark of the state before each
    /// (needs the admin token in HOLDFAST_ADMIN_TOKEN, as the other history commands).
    Bookmarks {
        #[command(flatten)]
        object: ObjectArgs,
        /// At most this many commits.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Restore an object to a bookmark or a time (ms since the Unix epoch, or -90s, -15m, -2h,
    /// -3d); prints the bookmark that undoes it.
    RestoreObject {
        #[command(flatten)]
        object: ObjectArgs,
        /// A bookmark, or a time.
        #[arg(long, allow_hyphen_values = true)]
        to: String,
    },
    /// Make another object of the same class ([BINDING/]NAME) a copy of this one, now or as it
    /// was at a bookmark or a time; prints the bookmark that undoes it in the destination.
    Fork {
        #[command(flatten)]
        object: ObjectArgs,
        /// The destination: NAME in the same binding, or BINDING/NAME.
        #[arg(long)]
        to: String,
        /// The source's state to copy: a bookmark or a time (default: now).
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
    },
    /// Make a backup the database of a data directory (refused if it holds one, unless --force;
    /// never while a server has it open).
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// Replace the database the data directory holds.
        #[arg(long)]
        force: bool,
    },
    /// Compile every class of a config file into the code cache (servers started afterwards
    /// load them in milliseconds; `holdfast serve` compiles on its own what is not cached).
    Compile {
        /// The config file: a holdfast.toml or a Cloudflare project's wrangler.toml /
        /// wrangler.jsonc (default: the first of holdfast.toml, wrangler.toml, wrangler.jsonc,
        /// wrangler.json in the current directory).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOLDFAST_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Compile { config } => {
            let config = Config::load(&config_path(config)?)?;
            let started = std::time::Instant::now();
            let n = holdfast::compile(&config)?;
            let classes = if n == 1 {
                "1 class".to_owned()
            } else {
                format!("{n} classes")
            };
            eprintln!(
                "{classes} of {} ready in the code cache ({:.1} s)",
                config.path.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::New { name, lang } => {
            let here = std::env::current_dir().context("cannot read the current directory")?;
            let dir = holdfast::new_project(&here, &name, lang)?;
            println!(
                "made {}; next:\n\n{}",
                dir.display(),
                lang.next_steps(&name)
            );
            Ok(())
        }
        Command::Build { config } => {
            let config = Config::load(&config_path(config)?)?;
            holdfast::build_all(&config)?;
            Ok(())
        }
        Command::Tail {
            object,
            id,
            url,
            json,
        } => {
            let token = std::env::var("HOLDFAST_ADMIN_TOKEN")
                .context("holdfast tail needs the server's admin token in HOLDFAST_ADMIN_TOKEN")?;
            let opts = holdfast::TailOptions {
                url,
                token,
                object,
                id,
                json,
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the tokio runtime")?;
            let what = opts.object.clone().unwrap_or_else(|| "every object".into());
            rt.block_on(holdfast::tail(&opts, &mut std::io::stdout(), || {
                eprintln!("[tail] following {what} at {}", opts.url)
            }))?;
            Ok(())
        }
        Command::Backup { data, to, url } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the tokio runtime")?;
            let token = std::env::var("HOLDFAST_ADMIN_TOKEN").ok();
            let info = rt.block_on(holdfast::backup(&data, &to, url.as_deref(), token))?;
            println!(
                "backed up {} rows ({} bytes, the state after batch {}) to {}",
                info.rows,
                info.file_bytes,
                info.seq,
                to.display()
            );
            Ok(())
        }
        Command::Restore { file, data, force } => {
            let info = holdfast::restore(&file, &data, force)?;
            println!(
                "restored {} (the state after batch {}, taken at {} ms) into {}",
                file.display(),
                info.seq,
                info.taken_ms,
                data.display()
            );
            Ok(())
        }
        Command::Bookmarks { object, limit } => {
            let at = object.resolve()?;
            runtime()?.block_on(holdfast::bookmarks(&at, limit, &mut std::io::stdout()))?;
            Ok(())
        }
        Command::RestoreObject { object, to } => {
            let at = object.resolve()?;
            let to = holdfast::At::parse(&to, now_ms())?;
            let undo = runtime()?.block_on(holdfast::restore_object(&at, to))?;
            println!("restored {}; to undo: --to {undo}", at.object);
            Ok(())
        }
        Command::Fork {
            object,
            to,
            at: from,
        } => {
            let at = object.resolve()?;
            let from = from
                .map(|f| holdfast::At::parse(&f, now_ms()))
                .transpose()?;
            let undo = runtime()?.block_on(holdfast::fork(&at, &to, from))?;
            println!("forked {} into {to}; its state before: {undo}", at.object);
            Ok(())
        }
        Command::Serve(args) => serve(args, false),
        Command::Dev(args) => serve(args, true),
    }
}

/// The object a history command is about, on which server.
#[derive(clap::Args)]
struct ObjectArgs {
    /// BINDING/NAME (or BINDING/ID with --id).
    object: String,
    /// The object is named by its ID.
    #[arg(long)]
    id: bool,
    /// The server's admin address.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    url: String,
}

impl ObjectArgs {
    fn resolve(self) -> anyhow::Result<holdfast::ObjectAt> {
        let token = std::env::var("HOLDFAST_ADMIN_TOKEN").context(
            "the history commands need the server's admin token in HOLDFAST_ADMIN_TOKEN",
        )?;
        Ok(holdfast::ObjectAt {
            url: self.url,
            token,
            object: self.object,
            id: self.id,
        })
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `serve`, or with `dev` set `dev`: builds first, then watches the sources while serving.
fn serve(args: ServeArgs, dev: bool) -> anyhow::Result<()> {
    let mut config = Config::load(&config_path(args.config)?)?;
    if let Some(l) = args.listen {
        config.server.listen = l;
    }
    if let Some(d) = args.data {
        config.server.data = d;
    }
    config.server.fault_injection =
        std::env::var("HOLDFAST_FAULT_INJECTION").is_ok_and(|v| v == "1");
    if let Ok(token) = std::env::var("HOLDFAST_ADMIN_TOKEN") {
        anyhow::ensure!(
            token.len() >= 16,
            "HOLDFAST_ADMIN_TOKEN must be at least 16 characters"
        );
        config.admin.token = Some(token);
    }
    let watch = if dev {
        holdfast::build_all(&config)?;
        Some(holdfast::DevWatch::start(config.clone())?)
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Guests yield to the scheduler at every epoch tick; look for new I/O and for
        // tasks woken from other threads after a few polls instead of tokio's default
        // 61, so that a spinning guest delays other objects by ticks, not tens of ms.
        .event_interval(4)
        .global_queue_interval(4)
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async {
        let server = Server::start(&config).await?;
        let addr = server.local_addr()?;
        // Printed (and logged) before the line tests and scripts wait for.
        if let Some(admin) = server.admin_addr() {
            let admin = admin?;
            println!("holdfast admin API listening on http://{admin}");
            tracing::info!(addr = %admin, "admin API and inspector listening");
        }
        // Tests and scripts wait for this exact line.
        println!("holdfast listening on http://{addr}");
        tracing::info!(%addr, classes = config.classes.len(), "serving");
        tokio::spawn(reload_on_sighup(server.reloader()));
        if let Some(watch) = watch {
            let (reloader, handle) = (server.reloader(), tokio::runtime::Handle::current());
            std::thread::Builder::new()
                .name("holdfast-dev".into())
                .spawn(move || watch.run(reloader, handle))
                .context("cannot start the watcher")?;
        }
        server.serve(shutdown_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}

/// The config file named, or the one found in the current directory.
fn config_path(named: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = named {
        return Ok(p);
    }
    let dir = std::env::current_dir().context("cannot read the current directory")?;
    Config::find(&dir).with_context(|| {
        format!(
            "no holdfast.toml, wrangler.toml, wrangler.jsonc or wrangler.json in {} (pass --config FILE)",
            dir.display()
        )
    })
}

/// Applies a code update on every SIGHUP (as `POST /_/admin/reload` does).
async fn reload_on_sighup(reloader: std::sync::Arc<holdfast::Reloader>) {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .expect("install the SIGHUP handler");
    while hup.recv().await.is_some() {
        if let Err(e) = reloader.reload().await {
            tracing::error!("the code update was refused (the running code keeps serving): {e}");
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
