//! `opensoc esm`: the local event-source runner — a Kinesis stream into the
//! lake through the ingest function's handler, as Lambda would run it.

use std::path::PathBuf;
use std::sync::Arc;

use clap::ValueEnum;
use opensoc_kinesis::{EsmConfig, KinesisEvent, KinesisEventResponse, KinesisHandler, StartPosition};
use opensoc_lake::stream::lambda::handle_kinesis_event;
use opensoc_lake::{Lake, LakeLocation};

use super::{Config, Format, LakeArg, exit};

#[derive(Debug, clap::Args)]
pub struct EsmArgs {
    /// The Kinesis stream to read.
    #[arg(long, env = "OPENSOC_STREAM")]
    pub stream: String,
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub pipeline: super::PipelineArg,
    /// Where to start: the saved checkpoints, the oldest record (redelivers
    /// everything; exactly-once ingest adds no row twice), or new records only.
    #[arg(long, value_enum, default_value = "checkpoint")]
    pub from: From,
    /// Exit once every shard is drained, instead of polling forever.
    #[arg(long)]
    pub until_idle: bool,
    /// Most records per event (Lambda allows 10 000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub batch_size: i32,
    /// Checkpoint file [default: $XDG_STATE_HOME/opensoc/esm-STREAM.json].
    #[arg(long)]
    pub checkpoint_file: Option<PathBuf>,
    /// Attempts per batch before giving up on a shard.
    #[arg(long, default_value_t = 5)]
    pub max_attempts: u32,
    /// Read only this shard (repeatable): one worker per shard, as Lambda runs them.
    #[arg(long = "shard")]
    pub shards: Vec<String>,
    /// Invoke this Lambda function (name or ARN) with each event, as Lambda's
    /// event source mapping does, instead of running the ingest handler in
    /// this process. `AWS_ENDPOINT_URL_LAMBDA` points it at a local runtime
    /// emulator (`cargo lambda watch --only-lambda-apis`); `--lake` is then
    /// the function's business, not this command's.
    #[arg(long, env = "OPENSOC_FUNCTION")]
    pub function: Option<String>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum From {
    /// Saved checkpoints, else the oldest record.
    Checkpoint,
    /// The oldest record, ignoring checkpoints.
    TrimHorizon,
    /// New records only (when there is no checkpoint).
    Latest,
}

struct IngestHandler {
    lake: Arc<Lake>,
}

impl KinesisHandler for IngestHandler {
    async fn handle(&self, event: KinesisEvent) -> Result<KinesisEventResponse, String> {
        let (response, _) = handle_kinesis_event(&self.lake, event).await;
        opensoc_lake::stream::fault_point("after-response-built");
        Ok(response)
    }
}

/// Invokes a Lambda function with each event (RequestResponse) and reads
/// its `batchItemFailures`; a function error (`FunctionError` set, or an
/// invocation that fails) is a function error to the runner, which bisects.
struct LambdaInvoker {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl KinesisHandler for LambdaInvoker {
    async fn handle(&self, event: KinesisEvent) -> Result<KinesisEventResponse, String> {
        use aws_sdk_lambda::primitives::Blob;
        use aws_sdk_lambda::types::InvocationType;
        let payload = serde_json::to_vec(&event).map_err(|e| format!("encoding the event: {e}"))?;
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| format!("invoking {}: {}", self.function, opensoc_kinesis::describe_sdk_error(&e)))?;
        let body = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        if let Some(kind) = out.function_error() {
            return Err(format!("{} failed ({kind}): {}", self.function, String::from_utf8_lossy(body)));
        }
        serde_json::from_slice(body).map_err(|e| {
            format!(
                "{} answered something that is not a Kinesis batch response ({e}): {}",
                self.function,
                String::from_utf8_lossy(body)
            )
        })
    }
}

fn default_checkpoint_file(stream: &str) -> PathBuf {
    super::config::state_dir().join(format!("esm-{stream}.json"))
}

pub async fn run(args: EsmArgs, config: &Config) -> anyhow::Result<u8> {
    let client = opensoc_kinesis::client().await;
    let mut cfg = EsmConfig::new(&args.stream);
    cfg.start = match args.from {
        From::Checkpoint => StartPosition::Checkpoint,
        From::TrimHorizon => StartPosition::TrimHorizon,
        From::Latest => StartPosition::Latest,
    };
    cfg.until_idle = args.until_idle;
    cfg.batch_size = args.batch_size;
    cfg.max_attempts = args.max_attempts;
    cfg.shards = args.shards;
    cfg.checkpoint_file = Some(args.checkpoint_file.unwrap_or_else(|| default_checkpoint_file(&args.stream)));
    let report = match &args.function {
        Some(function) => {
            let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let lambda = aws_sdk_lambda::Client::new(&conf);
            let invoker = LambdaInvoker { client: lambda, function: function.clone() };
            opensoc_kinesis::esm::run(client, cfg, Arc::new(invoker)).await?
        }
        None => {
            let location = LakeLocation::parse(&config.lake(args.lake.lake.as_deref())?)?;
            let lake = Arc::new(super::open_lake(location, &args.pipeline, config).await?);
            opensoc_kinesis::esm::run(client, cfg, Arc::new(IngestHandler { lake })).await?
        }
    };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&report)?),
        Format::Csv => {
            println!("shards,records,invocations,item_failure_retries,bisections");
            println!(
                "{},{},{},{},{}",
                report.shards, report.records, report.invocations, report.item_failure_retries, report.bisections
            );
        }
        Format::Table => println!(
            "{} shards, {} records delivered in {} events ({} retried after item failures, {} bisections)",
            report.shards, report.records, report.invocations, report.item_failure_retries, report.bisections
        ),
    }
    Ok(exit::OK)
}
