/**
 * Firecracker's snapshot-restore page-fault handshake (Firecracker
 * docs/snapshotting/handling-page-faults-on-snapshot-resume.md), handler side.
 *
 * When a snapshot is loaded with `mem_backend: { backend_type: 'Uffd', backend_path }`, the VMM
 * maps guest memory, creates a userfaultfd, registers the memory for missing faults, connects
 * to the Unix socket at `backend_path` and sends ONE message: a JSON array describing each guest
 * memory region, with the userfaultfd attached as SCM_RIGHTS:
 *
 *   [{ "base_host_virt_addr": 140..., "size": 134217728, "offset": 0, "page_size": 4096 }, ...]
 *
 * A fault at host address `a` inside region r is served with the bytes at file offset
 * `r.offset + (a - r.base_host_virt_addr)` of the memory snapshot file, one `page_size` page at a
 * time (UFFDIO_COPY: the handler is another process, so MOVE cannot be used). After a REMOVE
 * event (balloon inflation, MADV_DONTNEED) the removed pages must be served as zero pages, not
 * from the snapshot. If the handler dies, the guest hangs: the doc recommends the handler
 * watch the VMM (SO_PEERCRED) and the orchestrator kill one when the other goes.
 */
import { UffdError } from './errors';
import type { FeatureName } from './features';
import { type ReceiveFdOptions, type SocketLike, closeFd, receiveFd } from './fdpass';
import type { FaultServer, ServeOptions } from './serve';
import { Userfaultfd } from './userfaultfd';
import { checkOptions } from './validate';

/** One guest memory region as Firecracker describes it (field names as in its JSON). */
export interface GuestRegionUffdMapping {
  /** Where the VMM mapped the region in its own address space. */
  base_host_virt_addr: number;
  /** Region size in bytes. */
  size: number;
  /** Offset of the region in the memory snapshot file. */
  offset: number;
  /** The page size backing the region, in bytes (4096, or 2 MiB with hugepages). */
  page_size: number;
}

export interface FirecrackerHandshake {
  uffd: Userfaultfd;
  mappings: GuestRegionUffdMapping[];
}

function handshakeError(message: string, cause?: unknown): UffdError {
  return new UffdError('ERR_UFFD_HANDSHAKE', `Firecracker handshake: ${message}`, undefined, {
    cause,
  });
}

function field(o: Record<string, unknown>, name: string, i: number): number {
  const v = o[name];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw handshakeError(`region ${i}: "${name}" must be a non-negative integer`);
  }
  return v;
}

/**
 * Parses and checks the JSON payload. Accepts the older `page_size_kib` in place of
 * `page_size`.
 * @throws {UffdError} ERR_UFFD_HANDSHAKE for anything that is not such an array
 */
export function parseGuestRegionMappings(payload: string | Uint8Array): GuestRegionUffdMapping[] {
  const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/\0+$/, ''));
  } catch (e) {
    throw handshakeError('the payload is not JSON', e);
  }
  if (!Array.isArray(json)) throw handshakeError('the payload is not a JSON array');
  return json.map((r: unknown, i) => {
    if (r === null || typeof r !== 'object') throw handshakeError(`region ${i} is not an object`);
    const o = r as Record<string, unknown>;
    const pageSize =
      o.page_size === undefined && o.page_size_kib !== undefined
        ? field(o, 'page_size_kib', i) * 1024
        : field(o, 'page_size', i);
    if (pageSize === 0 || (pageSize & (pageSize - 1)) !== 0) {
      throw handshakeError(`region ${i}: page_size must be a power of two`);
    }
    return {
      base_host_virt_addr: field(o, 'base_host_virt_addr', i),
      size: field(o, 'size', i),
      offset: field(o, 'offset', i),
      page_size: pageSize,
    };
  });
}

/**
 * Waits for the VMM's handshake on a connected Unix socket (an fd, or a `net.Socket` from a
 * server created with `pauseOnConnect: true`) and wraps the received userfaultfd.
 * `features`: what the VMM enabled with UFFDIO_API, if known (it cannot be read back).
 * @throws {UffdError} ERR_UFFD_HANDSHAKE (no fd, bad JSON, connection closed), ETIMEDOUT
 */
export async function receiveFirecrackerHandshake(
  socket: SocketLike,
  options?: ReceiveFdOptions & { features?: FeatureName[] },
): Promise<FirecrackerHandshake> {
  const o = checkOptions<ReceiveFdOptions & { features: FeatureName[] }>(options, 'options', [
    'maxPayload',
    'timeout',
    'features',
  ]);
  const msg = await receiveFd(socket, { maxPayload: o.maxPayload, timeout: o.timeout });
  if (msg.end) throw handshakeError('the VMM closed the connection before sending');
  if (msg.fd === undefined) throw handshakeError('the message carried no file descriptor');
  for (const extra of msg.fds.slice(1)) closeFd(extra);
  let mappings: GuestRegionUffdMapping[];
  try {
    mappings = parseGuestRegionMappings(msg.payload);
  } catch (e) {
    closeFd(msg.fd);
    throw e;
  }
  const uffd = Userfaultfd.fromFd(msg.fd, { features: o.features ?? [] });
  return { uffd, mappings };
}

/** The region containing a host address and the snapshot file offset of that address. */
export function guestRegionOf(
  mappings: readonly GuestRegionUffdMapping[],
  address: number,
): { mapping: GuestRegionUffdMapping; fileOffset: number } | undefined {
  for (const m of mappings) {
    if (address >= m.base_host_virt_addr && address - m.base_host_virt_addr < m.size) {
      return { mapping: m, fileOffset: m.offset + (address - m.base_host_virt_addr) };
    }
  }
  return undefined;
}

/**
 * Serves the VMM's faults from a memory snapshot (`snapshot`: the whole file's bytes, e.g.
 * `fs.readFileSync(path)` or a mapped view), the way Firecracker's example handler does: each
 * fault is served with a COPY of its page from the snapshot, except pages removed since (REMOVE
 * events), which get a zero page. A fault outside every region fails its handler (and is
 * poisoned by default: see `serve`).
 */
export function serveGuestMemory(
  handshake: FirecrackerHandshake,
  snapshot: Uint8Array,
  options?: Omit<ServeOptions, 'onEvent'>,
): FaultServer {
  const { uffd, mappings } = handshake;
  const removed: [number, number][] = []; // [start, end) host ranges removed since the restore
  const isRemoved = (a: number): boolean => removed.some(([s, e]) => a >= s && a < e);
  return uffd.serve(
    (ev) => {
      const hit = guestRegionOf(mappings, ev.address);
      if (hit === undefined) {
        throw new UffdError(
          'ERR_UFFD_HANDSHAKE',
          `fault at 0x${ev.address.toString(16)} is outside every guest region`,
        );
      }
      const ps = hit.mapping.page_size;
      const inRegion = ev.address - hit.mapping.base_host_virt_addr;
      const page = hit.mapping.base_host_virt_addr + inRegion - (inRegion % ps);
      if (isRemoved(page)) {
        uffd.zeropage(page, ps);
        return;
      }
      const off = hit.mapping.offset + (page - hit.mapping.base_host_virt_addr);
      if (off + ps > snapshot.length) {
        throw new RangeError(`snapshot too short for file offset ${off} + ${ps}`);
      }
      uffd.copy(page, snapshot.subarray(off, off + ps), ps);
    },
    {
      ...options,
      onEvent: (ev) => {
        if (ev.type === 'remove' || ev.type === 'unmap') removed.push([ev.start, ev.end]);
        else if (ev.type === 'fork') ev.uffd.close();
      },
    },
  );
}
