// The memory this process may use: the machine's, or the container's (cgroup) limit when that
// is lower — a CI runner or a Kubernetes pod often has far less than the host reports.

import { totalmem } from 'node:os';

/** bytes of memory available to this process */
export function usableMemory(): number {
  const total = totalmem();
  // Node ≥ 19.6: the cgroup limit, or a huge number / 0 / undefined when there is none
  const limit = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  return typeof limit === 'number' && limit > 0 && limit < total ? limit : total;
}
