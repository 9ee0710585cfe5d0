// @dialect capy
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../src/config.js';
import { startStack, type Stack } from './helpers.js';

// render.yaml is read by Render, not by us: check it against what the service really does, so a
// renamed route, script or variable breaks this test instead of a user's deploy.

interface RenderService {
  type: string;
  runtime: string;
  buildCommand: string;
  startCommand: string;
  healthCheckPath: string;
  envVars: { key: string; value?: string; sync?: boolean }[];
  disk?: { mountPath: string };
}

const blueprint = parse(readFileSync('render.yaml', 'utf8')) as { services: RenderService[] };
const [service] = blueprint.services;
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
const readme = readFileSync('README.md', 'utf8');

describe('render.yaml', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  test('is one web service built and started the way package.json does it', () => {
    assert.equal(blueprint.services.length, 1);
    assert.equal(service!.type, 'web');
    assert.equal(service!.runtime, 'node');
    assert.match(service!.buildCommand, /npm ci && npm run build/);
    assert.equal(`node ${service!.startCommand.replace(/^node /, '')}`, pkg.scripts.start, 'startCommand is what `npm start` runs after building');
  });

  test('its health check path exists and answers 200 without a token', async () => {
    const res = await fetch(`${stack.baseUrl}${service!.healthCheckPath}`);
    assert.equal(res.status, 200);
  });

  test('every variable it sets is one the service reads, with a value the service accepts', () => {
    const known = loadConfig({ STEP_TOKENS: 'dev@tok' }) as Record<string, unknown>;
    const set: Record<string, string> = {};
    for (const v of service!.envVars) {
      if (v.key === 'NODE_VERSION') continue; // Render's own
      assert.ok(v.key in known, `${v.key} is a config variable`);
      if (v.value !== undefined) set[v.key] = v.value;
    }
    assert.doesNotThrow(() => loadConfig({ ...set, STEP_TOKENS: 'dev@tok' }));
    assert.ok(!service!.envVars.some((v) => v.key === 'PORT'), 'PORT is left to the platform');
  });

  test('secrets are asked for in the dashboard, never written in the file', () => {
    for (const key of ['STEP_TOKENS', 'API_KEYS']) {
      const v = service!.envVars.find((e) => e.key === key);
      assert.ok(v, `${key} is declared`);
      assert.equal(v.sync, false, `${key} is marked sync: false`);
      assert.equal(v.value, undefined);
    }
  });

  test('DATA_DIR lives on the persistent disk', () => {
    const dataDir = service!.envVars.find((v) => v.key === 'DATA_DIR')?.value;
    assert.ok(service!.disk, 'a disk is declared');
    assert.ok(dataDir?.startsWith(service!.disk.mountPath), `DATA_DIR ${dataDir} is under ${service!.disk.mountPath}`);
  });

  test("the README's Render section names the same health check, disk and secrets", () => {
    const section = /#+ Render\b[\s\S]*?(?=\n#+ )/.exec(readme)?.[0];
    assert.ok(section, 'README has a Render section');
    assert.ok(section.includes(service!.healthCheckPath), 'health check path');
    assert.ok(section.includes(service!.disk!.mountPath), 'disk mount path');
    assert.ok(section.includes('STEP_TOKENS'), 'the secret to fill in');
  });
});
