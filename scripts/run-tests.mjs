#!/usr/bin/env node
// `npm test [-- file…]`: every suite once per upstream dialect (capy, then yuewen), each run
// labelled; a suite pinned to one dialect (test/emulator/*, a name ending in -capy/-yuewen, or a
// first line `// @dialect capy`) runs in that dialect's pass only. Given files, only those run;
// STEP_TEST_DIALECT=yuewen limits it to one dialect. The full run measures coverage (c8, .c8rc.json)
// over src/, plugins/ and routes/, prints it and fails below the floor. TEST_CONCURRENCY (default 2)
// suites run at once.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIALECTS = ['capy', 'yuewen'];
const CONCURRENCY = Number(process.env.TEST_CONCURRENCY ?? 2);
const args = process.argv.slice(2);
const files = args.length > 0 ? args : [...list('test'), ...list('test/emulator')];
const only = process.env.STEP_TEST_DIALECT;
if (only && !DIALECTS.includes(only)) fail(`STEP_TEST_DIALECT must be one of ${DIALECTS.join(', ')}`);

function list(dir) {
  return readdirSync(dir).filter((f) => f.endsWith('.test.ts')).sort().map((f) => `${dir}/${f}`);
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

/** The dialect a suite is pinned to, or undefined when it runs in both. */
function pinned(file) {
  if (file.includes('test/emulator/')) return 'capy';
  const byName = /-(capy|yuewen)\.test\.ts$/.exec(file)?.[1];
  if (byName) return byName;
  return /^\/\/ @dialect (capy|yuewen)\b/.exec(readFileSync(file, 'utf8'))?.[1];
}

const coverage = args.length === 0 && process.env.TEST_COVERAGE !== '0';
const coverageDir = coverage ? mkdtempSync(join(tmpdir(), 'step-gateway-coverage-')) : undefined;
let failed = false;
for (const dialect of only ? [only] : DIALECTS) {
  const run = files.filter((f) => (pinned(f) ?? dialect) === dialect);
  if (run.length === 0) continue;
  console.log(`\n===== dialect ${dialect}: ${run.length} suite(s) =====\n`);
  const env = { ...process.env, STEP_TEST_DIALECT: dialect, ...(coverageDir ? { NODE_V8_COVERAGE: coverageDir } : {}) };
  // Two suites at a time (node's default on 2 cores is one): most of a suite's time is spent
  // waiting on its emulator, sockets and child processes; every suite uses its own ports.
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${CONCURRENCY}`, '--test-reporter=spec', ...run], { stdio: 'inherit', env });
  console.log(`\n===== dialect ${dialect}: ${result.status === 0 ? 'passed' : 'FAILED'} =====`);
  if (result.status !== 0) failed = true;
}

if (coverageDir) {
  console.log('\n===== coverage of src/, plugins/, routes/ (lines floor in .c8rc.json) =====\n');
  const c8 = spawnSync(process.execPath, ['node_modules/c8/bin/c8.js', 'report', '--temp-directory', coverageDir], { stdio: 'inherit' });
  rmSync(coverageDir, { recursive: true, force: true });
  if (c8.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
