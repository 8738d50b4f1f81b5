#!/bin/bash
# Runs the kernel probe rows that need system settings (spec §5: X5 KSM, X6/X7 swap, X8-X13
# hugetlb) on this machine or in a VM: sets them up, runs the rows, and restores everything
# (hugetlb pool, KSM run/pages_to_scan with an unmerge, a temporary 64 MiB swapfile). Root only.
set -u
cd "$(dirname "$0")/../../.."
HP=$(cat /proc/sys/vm/nr_hugepages)
KRUN=$(cat /sys/kernel/mm/ksm/run)
KPTS=$(cat /sys/kernel/mm/ksm/pages_to_scan)
SW=${SWAPFILE:-/var/tmp/uffd-engine-swap}
restore() {
  swapoff "$SW" 2>/dev/null; rm -f "$SW"
  echo 2 > /sys/kernel/mm/ksm/run; echo "$KPTS" > /sys/kernel/mm/ksm/pages_to_scan
  echo "$KRUN" > /sys/kernel/mm/ksm/run
  echo "$HP" > /proc/sys/vm/nr_hugepages
}
trap restore EXIT
echo 4 > /proc/sys/vm/nr_hugepages
echo 5000 > /sys/kernel/mm/ksm/pages_to_scan
echo 1 > /sys/kernel/mm/ksm/run
fallocate -l 64M "$SW" && chmod 600 "$SW" && mkswap "$SW" >/dev/null && swapon "$SW"
UFFD_TEST_SYSTEM=1 npx jest test/engine/probe-table.test.ts -t '(X5|X6|X7|X8|X9|X10|X11|X12|X13) ' "$@"
