//! `opensoc stack`: local stand-ins for the cloud path without Docker — the
//! moto server as a plain process, with the stream and the lake bucket
//! created in it; or, with `--docker`, `localstack/docker-compose.yml`
//! (LocalStack and MinIO) through `docker compose`.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::exit;

#[derive(Debug, clap::Args)]
pub struct StackArgs {
    #[command(subcommand)]
    pub action: StackAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum StackAction {
    /// Start the moto server (if not running) and create the stream and bucket.
    ///
    /// Prints the environment to export so every OpenSOC binary (and any AWS
    /// SDK client) talks to it.
    Up(UpArgs),
    /// Stop the moto server this command started.
    Down(StateArgs),
    /// Say whether the server answers.
    Status(StateArgs),
}

#[derive(Debug, clap::Args)]
pub struct StateArgs {
    /// Use LocalStack and MinIO in Docker (localstack/docker-compose.yml)
    /// instead of the moto server.
    #[arg(long)]
    pub docker: bool,
    /// The compose file for --docker.
    #[arg(long, default_value = "localstack/docker-compose.yml")]
    pub compose_file: PathBuf,
    /// Port of the moto server.
    #[arg(long, default_value_t = 5055)]
    pub port: u16,
    /// Folder for the server's pid file and log [default: $XDG_STATE_HOME/opensoc/stack].
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// Kinesis stream to create.
    #[arg(long, default_value = "opensoc")]
    pub stream: String,
    /// Its shard count.
    #[arg(long, default_value_t = 4)]
    pub shards: i32,
    /// S3 bucket to create for the lake.
    #[arg(long, default_value = "opensoc-lake")]
    pub bucket: String,
    /// The moto_server program [default: on PATH, else ~/.cache/opensoc/venv/bin/moto_server].
    #[arg(long, env = "OPENSOC_MOTO_SERVER")]
    pub moto_server: Option<PathBuf>,
}

fn state_dir(a: &StateArgs) -> PathBuf {
    a.state_dir.clone().unwrap_or_else(|| super::config::state_dir().join("stack"))
}

fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

fn find_moto(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("moto_server");
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    let venv = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/opensoc/venv/bin/moto_server"));
    match venv {
        Some(p) if p.is_file() => Ok(p),
        _ => bail!(
            "moto_server not found: install it with `python3 -m venv ~/.cache/opensoc/venv && \
             ~/.cache/opensoc/venv/bin/pip install 'moto[server]'` (scripts/test does this), or pass --moto-server"
        ),
    }
}

/// The environment that points AWS SDK clients at the local server.
pub fn env_for(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
}

/// The environment for the Docker stack: LocalStack for everything; MinIO
/// is there for whoever sets `AWS_ENDPOINT_URL_S3` to it.
fn docker_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "opensoc".into()),
        ("AWS_SECRET_ACCESS_KEY", "opensoc-secret".into()),
    ]
}

/// `docker compose -f FILE ARGS…`, with the stream and bucket names for the
/// init hooks; a missing Docker is a clear error, not a stack trace.
fn compose(file: &std::path::Path, args: &[&str], names: Option<&UpArgs>) -> anyhow::Result<bool> {
    if !file.is_file() {
        bail!("{} not found: run this from the repository's root or pass --compose-file", file.display());
    }
    let mut cmd = Command::new("docker");
    cmd.arg("compose").arg("-f").arg(file).args(args);
    if let Some(a) = names {
        cmd.env("OPENSOC_STREAM", &a.stream)
            .env("OPENSOC_SHARDS", a.shards.to_string())
            .env("OPENSOC_BUCKET", &a.bucket);
    }
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "docker is not installed: install Docker (with the compose plugin), or use `opensoc stack up` without \
             --docker, which runs the moto server as a plain process"
        ),
        Err(e) => return Err(e).context("running docker compose"),
    };
    Ok(status.success())
}

pub async fn run(args: StackArgs) -> anyhow::Result<u8> {
    let docker = match &args.action {
        StackAction::Up(a) => a.state.docker,
        StackAction::Down(a) | StackAction::Status(a) => a.docker,
    };
    if docker {
        return run_docker(args.action);
    }
    match args.action {
        StackAction::Up(a) => up(a).await,
        StackAction::Down(a) => down(&a),
        StackAction::Status(a) => {
            let up = answers(a.port);
            println!("moto server on port {}: {}", a.port, if up { "up" } else { "down" });
            Ok(if up { exit::OK } else { exit::FAILURE })
        }
    }
}

fn run_docker(action: StackAction) -> anyhow::Result<u8> {
    match action {
        StackAction::Up(a) => {
            if !compose(&a.state.compose_file, &["up", "-d", "--wait"], Some(&a))? {
                bail!("docker compose up failed (see its output above)");
            }
            println!("# LocalStack and MinIO up; stream {} ({} shards), bucket {}", a.stream, a.shards, a.bucket);
            for (k, v) in docker_env() {
                println!("export {k}={v}");
            }
            println!(
                "# lake: s3://{}/lake (LocalStack); for MinIO also: export AWS_ENDPOINT_URL_S3=http://127.0.0.1:9000",
                a.bucket
            );
            Ok(exit::OK)
        }
        StackAction::Down(a) => Ok(if compose(&a.compose_file, &["down"], None)? { exit::OK } else { exit::FAILURE }),
        StackAction::Status(a) => {
            Ok(if compose(&a.compose_file, &["ps", "--status", "running"], None)? { exit::OK } else { exit::FAILURE })
        }
    }
}

async fn up(a: UpArgs) -> anyhow::Result<u8> {
    let port = a.state.port;
    if !answers(port) {
        let moto = find_moto(a.moto_server.clone())?;
        let dir = state_dir(&a.state);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let log = std::fs::File::create(dir.join("moto.log"))?;
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", moto.display()))?;
        std::fs::write(dir.join("moto.pid"), child.id().to_string())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !answers(port) {
            if Instant::now() > deadline {
                bail!(
                    "the moto server did not answer on port {port} within 30 s; see {}",
                    dir.join("moto.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let endpoint = format!("http://127.0.0.1:{port}");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "opensoc-stack"))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build());
    if let Err(e) = s3.create_bucket().bucket(&a.bucket).send().await {
        let msg = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
        if !msg.contains("BucketAlreadyOwnedByYou") && !msg.contains("BucketAlreadyExists") {
            bail!("creating bucket {}: {msg}", a.bucket);
        }
    }
    let kinesis = aws_sdk_kinesis::Client::new(&conf);
    if let Err(e) = kinesis.create_stream().stream_name(&a.stream).shard_count(a.shards).send().await {
        let msg = aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string();
        if !msg.contains("ResourceInUse") {
            bail!("creating stream {}: {msg}", a.stream);
        }
    }
    println!("# moto server up; stream {} ({} shards), bucket {}", a.stream, a.shards, a.bucket);
    for (k, v) in env_for(port) {
        println!("export {k}={v}");
    }
    println!("# lake: s3://{}/lake", a.bucket);
    Ok(exit::OK)
}

fn down(a: &StateArgs) -> anyhow::Result<u8> {
    let pid_file = state_dir(a).join("moto.pid");
    let Ok(pid) = std::fs::read_to_string(&pid_file) else {
        println!("no moto server started by `opensoc stack up` ({} missing)", pid_file.display());
        return Ok(exit::OK);
    };
    let pid: i32 = pid.trim().parse().context("damaged pid file")?;
    // SAFETY: sending SIGTERM to the process this command started.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    let _ = std::fs::remove_file(&pid_file);
    if rc == 0 {
        println!("moto server (pid {pid}) stopped");
    } else {
        println!("moto server (pid {pid}) was not running");
    }
    Ok(exit::OK)
}
