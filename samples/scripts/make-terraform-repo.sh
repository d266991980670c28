#!/usr/bin/env bash
# Builds the NTP pool server incident as a Terraform repository in DIR (a real git repository), the way
# the team that ran i-0a1b2c3d recorded its infrastructure:
#   2014-03-20 09:02:11 +0000 import the NTP host          (import block: aws_instance.ntp is i-0a1b2c3d)
#   2014-03-24 16:20:05 +0000 tag the NTP host             (tags only: changes nothing that moves traffic)
#   2014-03-26 13:58:40 +0000 ssh from the office          (tcp 22 from 203.0.113.0/24 on the base group)
#   2014-03-29 18:31:09 +0000 serve time to the NTP pool   (new group ntp-server: udp 123 from 0.0.0.0/0, on the instance)
# samples/cloudtrail and samples/aws-config record the same changes being applied.
# Deterministic (same hashes on every run) and idempotent: DIR is recreated. A nested .git cannot be
# committed, so README and tests run this first:  samples/scripts/make-terraform-repo.sh /tmp/infra
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=sample-repo.sh
. "$here/sample-repo.sh"
export GIT_AUTHOR_NAME=ops GIT_AUTHOR_EMAIL=ops@example.com
export GIT_COMMITTER_NAME=ops GIT_COMMITTER_EMAIL=ops@example.com

git init -q -b main --template= "$dir"
echo "made by samples/scripts/make-terraform-repo.sh; safe to delete" > "$dir/$marker"
mkdir -p "$dir/ntp"

commit() {
  local date="$1" message="$2"
  git -C "$dir" add -A
  GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" git -C "$dir" commit -q --no-verify -m "$message"
}

cat > "$dir/ntp/providers.tf" <<'EOF'
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = "us-east-1"
}
EOF

instance() {
  local groups="$1" tags="$2"
  cat > "$dir/ntp/instance.tf" <<EOF
import {
  to = aws_instance.ntp
  id = "i-0a1b2c3d"
}

resource "aws_instance" "ntp" {
  ami                    = "ami-5c3b2a19"
  instance_type          = "m1.small"
  subnet_id              = "subnet-0c1d2e3f"
  vpc_security_group_ids = [$groups]
$tags
}
EOF
}

base_group() {
  local ssh_cidrs="$1"
  cat > "$dir/ntp/security.tf" <<EOF
import {
  to = aws_security_group.base
  id = "sg-0a0a0a0a11112222"
}

resource "aws_security_group" "base" {
  name   = "base"
  vpc_id = "vpc-0b1c2d3e"

  ingress {
    description = "ssh"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [$ssh_cidrs]
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
EOF
}

instance 'aws_security_group.base.id' ''
base_group '"198.51.100.0/24"'
commit '2014-03-20T09:02:11+0000' 'import the NTP host'

tags='
  tags = {
    Name  = "ntp"
    owner = "ops"
  }'
instance 'aws_security_group.base.id' "$tags"
commit '2014-03-24T16:20:05+0000' 'tag the NTP host'

base_group '"198.51.100.0/24", "203.0.113.0/24"'
commit '2014-03-26T13:58:40+0000' 'ssh from the office'

instance 'aws_security_group.base.id, aws_security_group.ntp.id' "$tags"
cat > "$dir/ntp/ntp.tf" <<'EOF'
# Let the NTP pool's clients reach ntpd.
resource "aws_security_group" "ntp" {
  name        = "ntp-server"
  description = "ntp-server"
  vpc_id      = "vpc-0b1c2d3e"
}

resource "aws_vpc_security_group_ingress_rule" "ntp" {
  security_group_id = aws_security_group.ntp.id
  description       = "NTP from anywhere"
  ip_protocol       = "udp"
  from_port         = 123
  to_port           = 123
  cidr_ipv4         = "0.0.0.0/0"
}
EOF
commit '2014-03-29T18:31:09+0000' 'serve time to the NTP pool'

echo "$dir: $(git -C "$dir" rev-list --count HEAD) commits, HEAD $(git -C "$dir" rev-parse HEAD)"
