// Why this exists: every chunk read from a socket or a file is a fresh ArrayBuffer, freed only
// when V8 scavenges, and V8 schedules a scavenge for ArrayBuffer memory alone only past a fixed
// 32 MiB (twice its default semi-space; no flag changes it). A relay of a large file allocates
// little else, so ~30 MiB of spent chunks float before each collection (bench/attachment-memory.ts
// measures 29-30 MiB of RSS growth for 100 MiB without this, 2-10 MiB with it). A synchronous
// minor GC costs about a millisecond with this service's small young generation; chunks still in
// flight survive it, and an asynchronous one runs too late to keep up with a fast origin.
// Without --expose-gc (tests, `npm run dev`) there is no hint and memory merely peaks higher.

type MinorGc = (options: { type: 'minor'; execution: 'sync' }) => void;

/** Present when node was started with --expose-gc, as `npm start` and the Docker image do. */
const gc = (globalThis as { gc?: MinorGc }).gc;

/** Counts bytes relayed through the process and asks for a minor GC after every `everyBytes` (0: never). */
export function createGcHint(everyBytes: number): (bytes: number) => void {
  let since = 0;
  return (bytes) => {
    if (everyBytes <= 0 || !gc) return;
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    gc({ type: 'minor', execution: 'sync' });
  };
}
