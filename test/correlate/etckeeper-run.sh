#!/usr/bin/env bash
# Drives the real etckeeper on a private machine root, the way apt does on a server:
#   etckeeper pre-install; dpkg installs a package; etckeeper post-install
# The package database is ROOT/var/lib/dpkg (dpkg --root, DPKG_ADMINDIR), so no package of this machine
# is touched; etckeeper's packagelist cache is bind-mounted privately (run under `unshare -m`).
# usage: etckeeper-run.sh WORK   (WORK/root/etc becomes the etckeeper repository)
set -euo pipefail
work="$1"
root="$work/root"
mkdir -p "$work/cache" "$work/home" "$work/bin" "$root/etc" "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
mount --bind "$work/cache" /var/cache/etckeeper

export DPKG_ADMINDIR="$root/var/lib/dpkg" HOME="$work/home" GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=ubuntu GIT_AUTHOR_EMAIL=ubuntu@ip-10-206-10-174 GIT_COMMITTER_NAME=root GIT_COMMITTER_EMAIL=root@ip-10-206-10-174
unset SUDO_USER

# A real .deb of "ntp" whose conffile is an ntp.conf without 'restrict default ignore'.
pkg="$work/pkg-ntp"
mkdir -p "$pkg/DEBIAN" "$pkg/etc"
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: ntp
Version: 1:4.2.6.p5+dfsg-3ubuntu2
Architecture: all
Maintainer: billwatch tests <tests@example.org>
Description: Network Time Protocol daemon (test package)
CONTROL
echo /etc/ntp.conf > "$pkg/DEBIAN/conffiles"
printf 'driftfile /var/lib/ntp/ntp.drift\nserver 0.ubuntu.pool.ntp.org\nrestrict -4 default kod notrap nomodify nopeer noquery\nrestrict 127.0.0.1\n' > "$pkg/etc/ntp.conf"
dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$work/ntp.deb" >/dev/null

# "apt-get" as the process etckeeper names in its message; it runs the hooks the way apt does, through
# sh -c with the commands of /etc/apt/apt.conf.d/05etckeeper (etckeeper names the hook's grandparent).
# dpkg logs to ROOT/var/log/dpkg.log (never the machine's), in the machine's local time (Asia/Kolkata).
mkdir -p "$root/var/log"
export DPKG_OPTS="--root=$root --log=$root/var/log/dpkg.log --force-not-root --force-script-chrootless" TZ=Asia/Kolkata
cat > "$work/bin/apt-get" <<APT
#!/bin/bash
set -e
sh -c 'if [ -x /usr/bin/etckeeper ]; then etckeeper pre-install -d "$root/etc"; fi'
case "\$1" in
  install) dpkg \$DPKG_OPTS -i "$work/ntp.deb" >/dev/null ;;
  purge) dpkg \$DPKG_OPTS --purge ntp >/dev/null ;;
esac
sh -c 'if [ -x /usr/bin/etckeeper ]; then etckeeper post-install -d "$root/etc"; fi'
APT
chmod +x "$work/bin/apt-get"

at() { GIT_AUTHOR_DATE="$1" GIT_COMMITTER_DATE="$1"; export GIT_AUTHOR_DATE GIT_COMMITTER_DATE; }

etckeeper init -d "$root/etc" >/dev/null 2>&1
echo ip-10-206-10-174 > "$root/etc/hostname"
echo Asia/Kolkata > "$root/etc/timezone"
at '2014-03-22T09:00:00+0000'; etckeeper commit -d "$root/etc" "Initial Checkin" >/dev/null
# An edit left uncommitted: pre-install saves it before the package run.
echo '10.206.10.174 ip-10-206-10-174' > "$root/etc/hosts"
at '2014-03-29T13:41:30-0400'; "$work/bin/apt-get" install ntp >/dev/null
echo 'search ec2.internal' > "$root/etc/resolv.conf"
at '2014-03-30T07:00:01+0200'; etckeeper commit -d "$root/etc" "daily autocommit" >/dev/null
# The purge is not back-dated, so its commit and dpkg's log lines describe the same run.
unset GIT_AUTHOR_DATE GIT_COMMITTER_DATE; "$work/bin/apt-get" purge ntp >/dev/null 2>&1
