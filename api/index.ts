// Vercel Node function: every path is rewritten here (vercel.json); the same Fastify app serves it.
import { createRequestHandler } from '../src/vercel.js';

export default createRequestHandler();
