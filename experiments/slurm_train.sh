#!/usr/bin/env bash
# One gru_jax ensemble across several machines with SLURM (sbatch experiments/slurm_train.sh).
#
# srun starts the same command once per task. jax.distributed finds the coordinator (the first
# task's node), the number of processes and each task's id in SLURM's environment, so no
# --coordinator / --num-processes / --process-id flags are needed. Task i trains the i-th
# contiguous block of the seeds into $OUT/processes/process_<i>; task 0 joins the blocks into
# the run at $OUT (same seeds, same numbers as one machine training them all).
#
# $OUT must be on a file system every node sees (home or scratch, not /tmp): the parts meet
# there. If the job is killed or preempted, submit it again with RESUME=1: every task continues
# its own block from its last checkpoint.
#
#SBATCH --job-name=gru-jax
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --time=02:00:00
#SBATCH --output=gru-jax-%j.out
# One GPU per task instead: add  #SBATCH --gpus-per-task=1  (jax then finds its local device).
set -euo pipefail

OUT=${OUT:-$HOME/gru_jax_runs/blog-100k}
SEEDS=${SEEDS:-100000}
EPOCHS=${EPOCHS:-3000}
RESUME_FLAG=${RESUME:+--resume}

# Activate the environment gru_jax is installed in (pip install "gru_jax[export]"), e.g.
# source "$HOME/venvs/gru_jax/bin/activate"

srun gru-jax train --seeds "$SEEDS" --epochs "$EPOCHS" --out "$OUT" $RESUME_FLAG

# Without SLURM's detection (another launcher, or to pick the port), name everything:
#   COORD="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1):29500"
#   srun bash -c "gru-jax train --seeds $SEEDS --epochs $EPOCHS --out $OUT \
#       --coordinator $COORD --num-processes \$SLURM_NTASKS --process-id \$SLURM_PROCID"
#
# Then, on any machine that sees $OUT:
#   gru-jax info "$OUT"          # seeds, epochs, final-loss quantiles, diverged count
