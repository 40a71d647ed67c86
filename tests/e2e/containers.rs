//! Container backends for the cloud-path tests (`--features docker`):
//! the same cases as on the moto server, on LocalStack (Kinesis and S3) or
//! on MinIO (S3; Kinesis stays in moto, which MinIO does not offer).
//! Chosen with `OPENSOC_TEST_BACKEND=localstack|minio`; `scripts/test-docker`
//! runs both.

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage, ImageExt};

use crate::cloud::{ACCESS_KEY, Moto, SECRET_KEY};
use crate::support::tempdir;

/// The running containers; removed on drop.
pub struct Containers {
    _s3_or_all: Container<GenericImage>,
}

fn docker_hint(e: impl std::fmt::Display, what: &str) -> ! {
    panic!("starting {what} with testcontainers failed: {e} — these tests need a running Docker engine")
}

/// Start the backend `name` and wrap it as the tests' server.
pub fn start(name: &str) -> Moto {
    match name {
        "localstack" => {
            let c = GenericImage::new("localstack/localstack", "4")
                .with_exposed_port(4566.tcp())
                .with_wait_for(WaitFor::message_on_stdout("Ready."))
                .with_env_var("SERVICES", "kinesis,s3")
                .start()
                .unwrap_or_else(|e| docker_hint(e, "LocalStack"));
            let port = c.get_host_port_ipv4(4566).unwrap_or_else(|e| docker_hint(e, "LocalStack"));
            Moto::assemble(None, port, None, tempdir()).with_containers(Containers { _s3_or_all: c })
        }
        "minio" => {
            let c = GenericImage::new("minio/minio", "latest")
                .with_exposed_port(9000.tcp())
                .with_wait_for(WaitFor::message_on_stdout("API:"))
                .with_env_var("MINIO_ROOT_USER", ACCESS_KEY)
                .with_env_var("MINIO_ROOT_PASSWORD", SECRET_KEY)
                .with_cmd(["server", "/data"])
                .start()
                .unwrap_or_else(|e| docker_hint(e, "MinIO"));
            let s3 = c.get_host_port_ipv4(9000).unwrap_or_else(|e| docker_hint(e, "MinIO"));
            let moto = Moto::start_moto();
            let (child, port, state) = moto.into_parts();
            Moto::assemble(child, port, Some(s3), state).with_containers(Containers { _s3_or_all: c })
        }
        other => panic!("OPENSOC_TEST_BACKEND={other}: expected moto, localstack or minio"),
    }
}
