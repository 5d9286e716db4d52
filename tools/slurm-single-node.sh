#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, from Debian's packages, for CI and for trying the slurm
# launcher (`ampbench reproduce PHASE --launcher slurm`) without a cluster. As root. Idempotent: a
# cluster already answering `sinfo` is left as it is.
#
#   tools/slurm-single-node.sh            # install (apt) if needed, write the config, start the daemons
#
# What it sets up: munge with a fresh key, slurmctld and slurmd on localhost, one partition `debug` of
# this machine's CPUs, no accounting (submitit then warns that `sacct` fails; ampbench reads job states
# from `squeue`), requeue allowed (preempted training jobs come back and resume, about 30 s later).
set -euo pipefail

if sinfo --noheader --responding 2>/dev/null | grep -q .; then
  echo "slurm already answers: $(sinfo --noheader --format='%P %D %t %c' | head -1)"
  exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
fi

host=$(hostname -s)
cpus=$(nproc)

install -d -o munge -g munge -m 700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- munged --force

install -d /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=ampbench-ci
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits out its old credential before it may start again (default 120 s); 30 s is plenty
# for one local node and keeps the preemption test short.
AuthInfo=cred_expire=30
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
NodeName=${host} CPUs=${cpus} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 30); do
  if sinfo --noheader --responding --states=idle,mixed,allocated 2>/dev/null | grep -q .; then
    echo "slurm up: $(sinfo --noheader --format='%P %D %t %c' | head -1)"
    exit 0
  fi
  sleep 1
done
echo "slurm did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
exit 1
