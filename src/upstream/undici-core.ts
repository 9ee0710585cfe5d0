import { createRequire } from 'node:module';
import type * as Undici from 'undici';

// The parts of undici the service runs (Agent with `request`, its errors, the TCP connector),
// loaded from their own files: undici's index loads all 110 of its modules (mock agents, caches,
// fetch, WebSocket, interceptors), ≈ 3.3 MB more live heap in every process. Mind the paths when
// updating undici (package.json pins the major): a moved file fails at start, in every test.
const require = createRequire(import.meta.url);
const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
// What undici's index does for `request` and the other calls on every dispatcher.
Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js'));

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export const errors = require('undici/lib/core/errors.js') as typeof Undici.errors;
export const buildConnector = require('undici/lib/core/connect.js') as typeof Undici.buildConnector;
