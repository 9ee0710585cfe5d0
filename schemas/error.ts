import { Type, type Static } from '@sinclair/typebox';

/** The OpenAI error body every failure is answered with. */
export const ErrorSchema = Type.Object({
  error: Type.Object({
    message: Type.String(),
    type: Type.String(),
    param: Type.Union([Type.String(), Type.Null()]),
    code: Type.Union([Type.String(), Type.Null()]),
  }),
});
export type ErrorBody = Static<typeof ErrorSchema>;

/** Response schemas for the error statuses, for every route. */
export const ErrorResponses = { '4xx': ErrorSchema, '5xx': ErrorSchema } as const;
