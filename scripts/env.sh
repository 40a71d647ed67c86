# Shared build environment for scripts/*: sourced, not run.
# The warm build lives outside the clone so that fresh clones (CI) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/opensoc/target}"
if command -v mold >/dev/null 2>&1; then
  export RUSTFLAGS="${RUSTFLAGS:--C link-arg=-fuse-ld=mold}"
fi
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
