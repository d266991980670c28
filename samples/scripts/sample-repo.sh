# Sourced by the make-*-repo.sh sample scripts: takes DIR from their arguments, recreates it if (and only
# if) a sample script made it, and shuts out the user's git configuration so hashes are the same everywhere.
# Sets: dir, marker. After `git init`, the caller writes "$dir/$marker".

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR   (DIR must be absent, empty, or a repository this script made)" >&2
  exit 2
fi
dir="$1"
marker=".git/billwatch-sample"

# Never delete a directory this script did not make (think: make-etc-repo.sh /etc).
if [ -e "$dir" ]; then
  if [ -f "$dir/$marker" ]; then
    rm -rf "$dir"
  elif [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then
    rmdir "$dir"
  else
    echo "$0: $dir exists and was not made by this script; refusing to replace it" >&2
    exit 1
  fi
fi
mkdir -p "$dir"

# Ignore the user's git configuration (signing, hooks, templates) so hashes do not depend on it.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C TZ=UTC
