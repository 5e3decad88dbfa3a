// The kernel backends the kernel tests run on: every one that opens here, in a fixed order.
// Those that cannot open (headlessgl without its native build, webgpu without Dawn's bindings
// or a Vulkan adapter, webgl2 without Chromium) are printed and reported as a skipped test.
import { test } from 'uvu';
import { openBackend, probeBackends, type KernelBackend } from '../kernels/runtime.ts';
import type { BackendName } from '../kernels/types.ts';

export const KERNEL_TEST_BACKENDS: readonly BackendName[] = ['webasm', 'cpu', 'webgl2', 'headlessgl', 'webgpu'];

export type BackendProbe = { name: BackendName; ok: boolean; reason: string };

/**
 * open every available backend of `names`; each unavailable one is printed and registered as a
 * skipped test. The probes (why each did or did not open) come back too.
 */
export async function availableBackends(names: readonly BackendName[] = KERNEL_TEST_BACKENDS): Promise<{ backends: KernelBackend[]; probes: BackendProbe[] }> {
  const probes = await probeBackends([...names]);
  const backends: KernelBackend[] = [];
  for (const p of probes) {
    if (p.ok) backends.push(await openBackend(p.name));
    else {
      console.log(`skipped backend ${p.name}: ${p.reason}`);
      test.skip(`${p.name}: not available`, () => {});
    }
  }
  return { backends, probes };
}
