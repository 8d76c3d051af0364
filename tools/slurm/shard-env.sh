# Sourced by the job scripts: this array task's shard "I/N" and its padded
# number, from Slurm's array variables. Tasks are numbered from the array's
# first index, so --array=0-3 and --array=1-4 both give shards 0/4 .. 3/4; the
# array must be contiguous (no :step). CELMATCH_SHARD=I/N overrides it all
# (e.g. I=$JOB_COMPLETION_INDEX on Kubernetes).
if [ -n "${CELMATCH_SHARD:-}" ]; then
  shard=$CELMATCH_SHARD
else
  : "${SLURM_ARRAY_TASK_ID:?run as an array job (sbatch --array=0-N)}"
  shard_i=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0}))
  shard_n=${SLURM_ARRAY_TASK_COUNT:?}
  shard="$shard_i/$shard_n"
fi
shard_tag=$(printf '%05d' "${shard%/*}")
celmatch=${CELMATCH:-celmatch}
jobs=${SLURM_CPUS_PER_TASK:-${CELMATCH_JOBS:-1}}
