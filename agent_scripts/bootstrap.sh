#!/bin/bash
# Install or refresh the image search agent on Amazon Linux 2023.
#
# Runs as EC2 UserData on first boot and again from the refresh document; every run converges to
# the bundle named by s3://$GALLERY_BUCKET/agent/current.json and restarts the service only when
# something it runs changed (code, requirements, unit or settings).
#
# Inputs (environment first, then /etc/imagesearch.env): GALLERY_BUCKET (required), SITE_BUCKET
# (where query images are read from), AWS_REGION (else the instance's own region).
# The daemon fetches the index (s3://$GALLERY_BUCKET/index) and the weights it names by itself.
set -euo pipefail
umask 022

readonly ENV_FILE=/etc/imagesearch.env
readonly PREFIX=/usr/local/lib/imagesearch
readonly VENV="$PREFIX/venv"
readonly RELEASES="$PREFIX/releases"
readonly BIN_DIR=/usr/local/bin
readonly UNIT=/etc/systemd/system/imagesearch.service
readonly COLD_CACHE=/var/cache/imagesearch-cold
readonly SERVICE=imagesearch
readonly SERVICE_USER=imagesearch
readonly PYTHON=python3.11
readonly KEEP_RELEASES=3
readonly BUCKET_RE='^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$'
readonly REGION_RE='^[a-z]{2}(-[a-z]+)+-[0-9]+$'

log() { printf '%s imagesearch-bootstrap: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# One value from the env file, read as data (never sourced: the file is not shell).
env_file_value() {
    local name=$1
    [[ -r $ENV_FILE ]] || return 0
    awk -v name="$name" 'index($0, name "=") == 1 { v = substr($0, length(name) + 2) } END { print v }' "$ENV_FILE" \
        | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\\(.*\\)'\$/\\1/"
}

instance_region() {
    local token
    token=$(curl -fsS -m 5 -X PUT http://169.254.169.254/latest/api/token \
        -H 'X-aws-ec2-metadata-token-ttl-seconds: 60') || return 1
    curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $token" \
        http://169.254.169.254/latest/meta-data/placement/region
}

# --- inputs -----------------------------------------------------------------------------------

GALLERY_BUCKET=${GALLERY_BUCKET:-$(env_file_value GALLERY_BUCKET)}
SITE_BUCKET=${SITE_BUCKET:-$(env_file_value SITE_BUCKET)}
AWS_REGION=${AWS_REGION:-$(env_file_value AWS_REGION)}
if [[ -z $AWS_REGION ]]; then
    AWS_REGION=$(instance_region) || die "AWS_REGION is not set and the instance metadata did not say"
fi
[[ $GALLERY_BUCKET =~ $BUCKET_RE ]] || die "GALLERY_BUCKET must match $BUCKET_RE, got '${GALLERY_BUCKET:0:80}'"
[[ -z $SITE_BUCKET || $SITE_BUCKET =~ $BUCKET_RE ]] || die "SITE_BUCKET must match $BUCKET_RE"
[[ $AWS_REGION =~ $REGION_RE ]] || die "AWS_REGION must look like eu-west-1, got '${AWS_REGION:0:40}'"
export AWS_REGION AWS_DEFAULT_REGION=$AWS_REGION

# UserData and the refresh document may overlap; one run at a time.
mkdir -p /run/lock
exec 9>/run/lock/imagesearch-bootstrap.lock
flock -w 900 9 || die "another bootstrap run holds the lock"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
restart=0

# --- system packages and the service user --------------------------------------------------------

# The shared libraries the wheels link against and do not bundle (ELF DT_NEEDED), each with the
# AL2023 package that provides it. `python -m publish.wheelhouse needs` lists them from the wheels;
# a test fails when one is missing here. Everything else comes from the bundle's wheelhouse.
readonly SYSTEM_LIBS=(
    ld-linux-x86-64.so.2=glibc
    libc.so.6=glibc
    libdl.so.2=glibc
    libm.so.6=glibc
    libmvec.so.1=glibc
    libpthread.so.0=glibc
    librt.so.1=glibc
    libgcc_s.so.1=libgcc
    libgomp.so.1=libgomp
    libquadmath.so.0=libquadmath
    libstdc++.so.6=libstdc++
    libz.so.1=zlib
)

install_packages() {
    local missing=() entry package
    command -v "$PYTHON" >/dev/null || missing+=(python3.11 python3.11-pip)
    command -v aws >/dev/null || missing+=(awscli-2)
    command -v flock >/dev/null || missing+=(util-linux)
    for entry in "${SYSTEM_LIBS[@]}"; do
        package=${entry#*=}
        rpm -q --quiet "$package" || missing+=("$package")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        dnf install -y -q "${missing[@]}"
    fi
}

ensure_user() {
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
        log "creating system user $SERVICE_USER"
        useradd --system --user-group --home-dir /var/lib/imagesearch --no-create-home \
            --shell /sbin/nologin "$SERVICE_USER"
    fi
    install -d -m 0700 -o root -g root "$COLD_CACHE"
}

# Replace $2 with $1 when they differ; return 0 when it changed.
install_if_changed() {
    local src=$1 dest=$2 mode=$3
    if [[ -f $dest ]] && cmp -s "$src" "$dest"; then
        return 1
    fi
    install -D -m "$mode" "$src" "$dest.new"
    mv -f "$dest.new" "$dest"
    return 0
}

# --- settings ------------------------------------------------------------------------------------

write_env_file() {
    local managed='^(GALLERY_BUCKET|SITE_BUCKET|AWS_REGION|AWS_DEFAULT_REGION|IMAGESEARCH_INDEX|IMAGESEARCH_ALLOWED_BUCKETS|IMAGESEARCH_SOCKET|IMAGESEARCH_CACHE_DIR|IMAGESEARCH_COLD_CACHE_DIR|MXNET_HOME)='
    {
        echo "# Written by the imagesearch bootstrap; lines it does not manage are kept."
        echo "GALLERY_BUCKET=$GALLERY_BUCKET"
        echo "SITE_BUCKET=$SITE_BUCKET"
        echo "AWS_REGION=$AWS_REGION"
        echo "AWS_DEFAULT_REGION=$AWS_REGION"
        echo "IMAGESEARCH_INDEX=s3://$GALLERY_BUCKET/index"
        # Every query image is in the gallery (album keys name gallery images; the site bucket holds
        # only display copies, which `imagesearch ingest` writes, never reads as a query).
        echo "IMAGESEARCH_ALLOWED_BUCKETS=$GALLERY_BUCKET"
        echo "IMAGESEARCH_SOCKET=/run/imagesearch/daemon.sock"
        echo "IMAGESEARCH_CACHE_DIR=/var/lib/imagesearch/cache"
        echo "IMAGESEARCH_COLD_CACHE_DIR=$COLD_CACHE"
        echo "MXNET_HOME=/var/lib/imagesearch/mxnet"
        if [[ -f $ENV_FILE ]]; then
            grep -Ev "$managed" "$ENV_FILE" | grep -Ev '^# Written by the imagesearch bootstrap' || true
        fi
    } >"$WORK/imagesearch.env"
    if install_if_changed "$WORK/imagesearch.env" "$ENV_FILE" 0644; then
        log "settings changed: $ENV_FILE"
        restart=1
    fi
}

# --- the agent bundle ----------------------------------------------------------------------------

# Sets BUNDLE_VERSION and BUNDLE_DIR; downloads and unpacks only a release not yet on disk.
fetch_bundle() {
    aws s3 cp --only-show-errors "s3://$GALLERY_BUCKET/agent/current.json" "$WORK/current.json" \
        || die "cannot read s3://$GALLERY_BUCKET/agent/current.json (was the agent published?)"
    local fields key sha256
    fields=$("$PYTHON" -I -c '
import json, sys
p = json.load(open(sys.argv[1]))
print(p["version"], p["key"], p["sha256"])
' "$WORK/current.json") || die "agent/current.json is not a bundle pointer"
    read -r BUNDLE_VERSION key sha256 <<<"$fields"
    [[ $BUNDLE_VERSION =~ ^[0-9a-f]{16,64}$ ]] || die "bad bundle version in agent/current.json"
    [[ $key == "agent/agent-$BUNDLE_VERSION.tar.gz" ]] || die "bad bundle key in agent/current.json"
    [[ $sha256 =~ ^[0-9a-f]{64}$ && $sha256 == "$BUNDLE_VERSION"* ]] || die "bad sha256 in agent/current.json"
    BUNDLE_DIR="$RELEASES/$BUNDLE_VERSION"
    if [[ -f $BUNDLE_DIR/.complete ]]; then
        return 0
    fi
    log "fetching agent bundle $BUNDLE_VERSION"
    aws s3 cp --only-show-errors "s3://$GALLERY_BUCKET/$key" "$WORK/bundle.tar.gz"
    echo "$sha256  $WORK/bundle.tar.gz" | sha256sum --check --status \
        || die "agent bundle $key does not match the sha256 in agent/current.json"
    rm -rf "$BUNDLE_DIR.tmp"
    mkdir -p "$BUNDLE_DIR.tmp"
    tar -xzf "$WORK/bundle.tar.gz" -C "$BUNDLE_DIR.tmp" --no-same-owner --no-same-permissions
    touch "$BUNDLE_DIR.tmp/.complete"
    rm -rf "$BUNDLE_DIR"
    mv "$BUNDLE_DIR.tmp" "$BUNDLE_DIR"
}

# Only from the bundle's wheelhouse, every wheel checked against the lock's sha256: the instance
# never reaches a package index.
install_venv() {
    if [[ ! -x $VENV/bin/python ]]; then
        log "creating $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.requirements.sha256" want
    want=$(sha256sum "$BUNDLE_DIR/requirements.lock" | cut -d' ' -f1)
    if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
        log "installing the locked wheels from the bundle"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir \
            --no-index --find-links "$BUNDLE_DIR/wheels" --only-binary=:all: --require-hashes \
            -r "$BUNDLE_DIR/requirements.lock"
        echo "$want" >"$stamp"
        restart=1
    fi
}

# The package is used in place from $PREFIX/current (a .pth entry), so switching releases is one
# symlink swap and needs no build step on the instance.
activate_release() {
    local site
    site=$("$VENV/bin/python" -I -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$PREFIX/current" >"$WORK/imagesearch-agent.pth"
    install_if_changed "$WORK/imagesearch-agent.pth" "$site/imagesearch-agent.pth" 0644 || true
    local target
    target=$(readlink "$PREFIX/current" 2>/dev/null || true)
    if [[ $target != "$BUNDLE_DIR" ]]; then
        log "activating agent $BUNDLE_VERSION (was ${target:-none})"
        ln -sfn "$BUNDLE_DIR" "$PREFIX/current.new"
        mv -T "$PREFIX/current.new" "$PREFIX/current"
        restart=1
    fi
    # -I: a root-run command ignores PYTHONPATH and friends from whoever calls it.
    local name module
    for name in imagesearch imagesearch-query; do
        if [[ $name == imagesearch ]]; then module=imagesearch.cli; else module=imagesearch.agent.client; fi
        printf '#!%s -I\nimport sys\nfrom %s import main\nsys.exit(main())\n' "$VENV/bin/python" "$module" \
            >"$WORK/$name"
        install_if_changed "$WORK/$name" "$BIN_DIR/$name" 0755 || true
    done
    if install_if_changed "$BUNDLE_DIR/systemd/imagesearch.service" "$UNIT" 0644; then
        log "unit file changed"
        systemctl daemon-reload
        restart=1
    fi
}

prune_releases() {
    local old
    # Newest first by modification time; keep the active one and the few before it for rollback.
    while IFS= read -r old; do
        [[ $old == "$BUNDLE_DIR" ]] || rm -rf "$old"
    done < <(find "$RELEASES" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn \
        | tail -n "+$((KEEP_RELEASES + 1))" | cut -d' ' -f2-)
}

start_service() {
    systemctl enable --quiet "$SERVICE"
    if ((restart)) || ! systemctl is-active --quiet "$SERVICE"; then
        log "restarting $SERVICE"
        systemctl restart "$SERVICE"
    else
        log "agent $BUNDLE_VERSION already running; nothing changed"
    fi
    local i
    for i in $(seq 1 90); do
        if "$BIN_DIR/imagesearch" health --timeout 5 >"$WORK/health.json" 2>/dev/null; then
            log "daemon healthy: $(tr -d '\n ' <"$WORK/health.json" | cut -c1-300)"
            return 0
        fi
        sleep 2
        if ((i % 15 == 0)); then log "waiting for the daemon to answer ($((i * 2)) s)"; fi
    done
    journalctl -u "$SERVICE" -n 50 --no-pager >&2 || true
    die "the daemon did not answer its health check"
}

install_packages
ensure_user
write_env_file
fetch_bundle
install_venv
activate_release
prune_releases
start_service
