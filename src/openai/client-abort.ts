import type { ServerResponse } from 'node:http';

/** An AbortSignal that fires when the client goes away before the response is complete. */
export function abortOnClose(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
