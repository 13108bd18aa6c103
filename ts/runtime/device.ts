/**
 * Execution devices: the names, which are GPUs, and what a machine needs for WebGPU. Kept apart
 * from the session code so that configuration parsing does not load onnxruntime.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync } from 'node:fs';
import path from 'node:path';

/** Where the network runs. */
export type Device = 'cpu' | 'cuda' | 'webgpu';

/** Every device, in the order they are documented. */
export const DEVICES: readonly Device[] = ['cpu', 'webgpu', 'cuda'];

/** Whether a device is a GPU (one session holds the weights there: one worker by default). */
export function isGpuDevice(device: Device | undefined): boolean {
  return device === 'cuda' || device === 'webgpu';
}

/** The GPU provider a list asks for first, if any. */
export function gpuProviderOf(
  providers: ReadonlyArray<string | { name: string }> | undefined,
): 'cuda' | 'webgpu' | null {
  for (const p of providers ?? []) {
    const name = typeof p === 'string' ? p : p.name;
    if (name === 'cuda' || name === 'webgpu') return name;
  }
  return null;
}

const MULTIARCH: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/** Whether `file` is an ELF shared object (not merely a name that exists). */
function isElf(file: string): boolean {
  let fd: number | null = null;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.readUInt32BE(0) === 0x7f454c46;
  } catch {
    return false;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Whether the Vulkan loader (`libvulkan.so.1`) is in a folder the dynamic linker searches. */
function vulkanLoaderPresent(): boolean {
  const dirs = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter((d) => d !== '');
  const multiarch = MULTIARCH[process.arch];
  if (multiarch !== undefined) dirs.push(`/usr/lib/${multiarch}`, `/lib/${multiarch}`);
  dirs.push('/usr/local/lib', '/usr/lib64', '/lib64', '/usr/lib', '/lib');
  return dirs.some((d) => isElf(path.join(d, 'libvulkan.so.1')));
}

/** The variable naming the Vulkan driver manifests, when one is set. */
function driverVariable(): string | null {
  for (const name of ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES']) {
    if ((process.env[name] ?? '') !== '') return name;
  }
  return null;
}

/** The Vulkan driver manifests (ICDs) the loader would read. */
function vulkanDrivers(): string[] {
  const variable = driverVariable();
  if (variable !== null) {
    return (process.env[variable] ?? '').split(':').filter((f) => f !== '' && existsSync(f));
  }
  const data = (process.env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':');
  const dirs = ['/etc/vulkan/icd.d', ...data.map((d) => path.join(d, 'vulkan', 'icd.d'))];
  const found: string[] = [];
  for (const dir of dirs) {
    try {
      for (const f of readdirSync(dir)) if (f.endsWith('.json')) found.push(f);
    } catch {
      // No such folder.
    }
  }
  return [...new Set(found)];
}

/** What a machine needs for WebGPU, and what it lacks as far as can be seen from here. */
export function webgpuRequirements(): string {
  if (process.platform === 'win32') return 'WebGPU needs a GPU whose driver supports Direct3D 12';
  if (process.platform === 'darwin') return 'WebGPU needs a Metal GPU';
  const drivers = vulkanDrivers().map((d) => path.basename(d));
  const variable = driverVariable();
  let seen: string;
  if (!vulkanLoaderPresent()) seen = 'the Vulkan loader libvulkan.so.1 is not in the library folders';
  else if (drivers.length === 0 && variable !== null)
    seen = `${variable} names no driver manifest that exists`;
  else if (drivers.length === 0) seen = 'no Vulkan driver manifest is installed';
  else {
    const lavapipe = drivers.some((d) => d.startsWith('lvp_icd'));
    seen = `the Vulkan drivers installed (${drivers.join(', ')}) offer no adapter${lavapipe ? ' (a lavapipe older than Mesa 25 is refused)' : ''}`;
  }
  return (
    `on Linux WebGPU runs over Vulkan: it needs the Vulkan loader (package libvulkan1) and the GPU ` +
    `driver's Vulkan component (NVIDIA: the driver's Vulkan ICD; AMD, Intel: mesa-vulkan-drivers), ` +
    `or for a CPU-only machine Mesa >= 25 lavapipe (Debian bookworm: ` +
    `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1); here ${seen}`
  );
}
