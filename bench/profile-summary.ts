import { callersOf, printProfile, summarizeProfile } from './lib/profile.js';

// Summarizes any .cpuprofile (node --cpu-prof), or shows who calls one function:
//   npx tsx bench/profile-summary.ts <file.cpuprofile> [startUs endUs] [--top N] [--callers functionName]
// The optional window (monotonic µs; bench/results.json records one per scenario as windowUs)
// leaves start-up and idle time out.

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args.splice(i, 2)[1];
};
const top = Number(flag('--top') ?? 25);
const callers = flag('--callers');
const [file, start, end] = args;
if (!file) {
  console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [startUs endUs] [--top N] [--callers functionName]');
  process.exit(2);
}
const window: [number, number] | undefined = start && end ? [Number(start), Number(end)] : undefined;
if (callers) {
  for (const c of callersOf(file, callers, window).slice(0, top)) console.log(`${String(c.ms).padStart(6)} ms  ${callers}\n    < ${c.path}\n`);
} else {
  printProfile(summarizeProfile(file, top, window), top);
}
