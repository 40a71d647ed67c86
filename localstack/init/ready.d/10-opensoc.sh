#!/bin/sh
# LocalStack ready hook: the stream the sensor writes and the bucket the lake
# lives in. Idempotent (a restarted container keeps going).
set -eu
STREAM="${OPENSOC_STREAM:-opensoc}"
SHARDS="${OPENSOC_SHARDS:-4}"
BUCKET="${OPENSOC_BUCKET:-opensoc-lake}"

awslocal s3api head-bucket --bucket "$BUCKET" 2>/dev/null || awslocal s3 mb "s3://$BUCKET"
if ! awslocal kinesis describe-stream-summary --stream-name "$STREAM" >/dev/null 2>&1; then
  awslocal kinesis create-stream --stream-name "$STREAM" --shard-count "$SHARDS"
fi
awslocal kinesis wait stream-exists --stream-name "$STREAM"
echo "opensoc: stream $STREAM ($SHARDS shards) and bucket $BUCKET ready"
touch /tmp/opensoc-ready
