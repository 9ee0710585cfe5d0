import { Type, type Static } from '@sinclair/typebox';

export const TokenCheckRequestSchema = Type.Object({ token: Type.String() });
export type TokenCheckRequest = Static<typeof TokenCheckRequestSchema>;
export const TokenCheckResponseSchema = Type.Object({ live: Type.Boolean() });
