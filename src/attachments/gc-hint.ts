import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// Why this exists: every chunk read from a socket or a file is a fresh ArrayBuffer, freed only
// when V8 scavenges, and V8 schedules a scavenge for ArrayBuffer memory alone only past a fixed
// 32 MiB (twice its default semi-space; no flag changes it). A relay of a large file allocates
// little else, so ~30 MiB of spent chunks float before each collection (bench/attachment-memory.ts
// measures 29-30 MiB of RSS growth for 100 MiB without this, 2-10 MiB with it). A synchronous
// minor GC costs about a millisecond with this service's small young generation; chunks still in
// flight survive it, and an asynchronous one runs too late to keep up with a fast origin.

type MinorGc = (options: { type: 'minor'; execution: 'sync' }) => void;

let gc: MinorGc | undefined | null = null;

function minorGc(): MinorGc | undefined {
  if (gc === null) {
    try {
      const exposed = (globalThis as { gc?: MinorGc }).gc;
      // The same way Jest obtains gc in a process not started with --expose-gc.
      if (!exposed) setFlagsFromString('--expose-gc');
      gc = exposed ?? (runInNewContext('gc') as MinorGc);
    } catch {
      gc = undefined;
    }
  }
  return gc;
}

/** Counts bytes relayed through the process and asks for a minor GC after every `everyBytes` (0: never). */
export function createGcHint(everyBytes: number): (bytes: number) => void {
  let since = 0;
  return (bytes) => {
    if (everyBytes <= 0) return;
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    minorGc()?.({ type: 'minor', execution: 'sync' });
  };
}
