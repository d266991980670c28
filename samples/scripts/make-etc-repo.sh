#!/usr/bin/env bash
# Builds the NTP pool server incident's /etc history ("Why is my NTP server costing $500/year?") as a real git
# repository in DIR, as etckeeper on that instance recorded it:
#   2013-05-02 05:26:25 +0000 Initial Checkin
#   2014-03-29 17:19:31 +0000 pre-ntpd checkin
#   2014-03-29 18:41:36 +0000 ntp installed                     (+ntp, ntp.conf without 'restrict default ignore')
#   2014-06-11 14:38:57 +0000 apt-get update; apt-get upgrade
# Deterministic (same hashes on every run) and idempotent: DIR is recreated. A nested .git cannot be
# committed, so README and tests run this first:  samples/scripts/make-etc-repo.sh /tmp/etc-history
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
stages="$here/../etc-history"
# shellcheck source=sample-repo.sh
. "$here/sample-repo.sh"
export GIT_AUTHOR_NAME=ubuntu GIT_AUTHOR_EMAIL=ubuntu@ip-10-206-10-174
export GIT_COMMITTER_NAME=ubuntu GIT_COMMITTER_EMAIL=ubuntu@ip-10-206-10-174

git init -q -b master --template= "$dir"
echo "made by samples/scripts/make-etc-repo.sh; safe to delete" > "$dir/$marker"

# commit STAGE DATE MESSAGE: copy a stage's files over the tree and commit them at DATE.
commit() {
  local stage="$1" date="$2" message="$3"
  cp -R "$stages/$stage/." "$dir/"
  # git records only the executable bit; make it independent of the checkout's modes and umask.
  find "$dir" -path "$dir/.git" -prune -o -type f -exec chmod 0644 {} +
  git -C "$dir" add -A
  GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" git -C "$dir" commit -q --no-verify --cleanup=verbatim -m "$message"
}

commit 1-initial '2013-05-02T05:26:25+0000' 'Initial Checkin'
commit 2-pre-ntpd '2014-03-29T17:19:31+0000' 'pre-ntpd checkin'
# etckeeper of that era listed packages as "name version" (dpkg-query ${Package} ${Version}).
commit 3-ntp-installed '2014-03-29T18:41:36+0000' 'ntp installed

Package changes:
+libopts25 1:5.18-2ubuntu2
+ntp 1:4.2.6.p5+dfsg-3ubuntu2'
commit 4-upgrade '2014-06-11T14:38:57+0000' 'apt-get update; apt-get upgrade

Package changes:
-libssl1.0.0 1.0.1-4ubuntu5.14
+libssl1.0.0 1.0.1-4ubuntu5.16
-openssl 1.0.1-4ubuntu5.14
+openssl 1.0.1-4ubuntu5.16
-tzdata 2014b-0ubuntu0.12.04
+tzdata 2014c-0ubuntu0.12.04'

echo "$dir: $(git -C "$dir" rev-list --count HEAD) commits, HEAD $(git -C "$dir" rev-parse HEAD)"
