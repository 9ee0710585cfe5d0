import { Type, type Static } from '@sinclair/typebox';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const State = Type.Union([Type.Literal('healthy'), Type.Literal('cooling'), Type.Literal('dead')]);

/** One pool account as the admin status shows it: a masked label, never a secret. */
export const AdminAccountSchema = Type.Object({
  id: Type.String({ description: 'fingerprint, as in the logs; used by POST /admin/accounts/:id/recheck' }),
  label: Type.String({ description: 'device-id prefix' }),
  state: State,
  reason: Nullable(Type.String()),
  coolingUntil: Nullable(Type.String({ format: 'date-time' })),
  inflight: Type.Integer(),
  queued: Type.Integer({ description: 'requests waiting that this account could serve' }),
  successes: Type.Integer(),
  failures: Type.Integer(),
  lastErrorCode: Nullable(Type.String()),
  lastUsed: Nullable(Type.String({ format: 'date-time' })),
});
export type AdminAccount = Static<typeof AdminAccountSchema>;

export const AdminKeySchema = Type.Object({
  name: Type.String(),
  requests: Type.Integer(),
  rateLimited: Type.Integer(),
  promptTokens: Type.Integer(),
  completionTokens: Type.Integer(),
});

/** GET /admin/accounts. */
export const AdminStatusSchema = Type.Object({
  accounts: Type.Array(AdminAccountSchema),
  states: Type.Object({ healthy: Type.Integer(), cooling: Type.Integer(), dead: Type.Integer() }),
  queued: Type.Integer({ description: 'requests waiting for a free account' }),
  activeStreams: Type.Integer(),
  draining: Type.Boolean(),
  keys: Type.Array(AdminKeySchema),
});
export type AdminStatus = Static<typeof AdminStatusSchema>;
