import createError from '@fastify/error';
import underPressure from '@fastify/under-pressure';
import fp from 'fastify-plugin';

const OverloadedError = createError('STEP_OVERLOADED', 'the service is overloaded; retry after the Retry-After seconds', 503);

/**
 * Sheds load with 503 and Retry-After (through the error handler, so in the OpenAI error shape)
 * while the event loop is saturated; thresholds from PRESSURE_* config, 0 = that check off.
 * Routes may opt out with `config: { pressureHandler: () => undefined }` (the probes do).
 */
export default fp(
  async (app) => {
    const c = app.config;
    await app.register(underPressure, {
      maxEventLoopDelay: c.PRESSURE_MAX_EVENT_LOOP_DELAY_MS,
      maxEventLoopUtilization: c.PRESSURE_MAX_EVENT_LOOP_UTILIZATION,
      sampleInterval: c.PRESSURE_SAMPLE_INTERVAL_MS,
      pressureHandler: async (request, reply, type, value) => {
        request.log.warn({ type, value }, 'shedding load');
        void reply.header('retry-after', String(c.PRESSURE_RETRY_AFTER_S));
        throw new OverloadedError();
      },
    });
  },
  { name: 'under-pressure-shedding', dependencies: ['config', 'error-handler'] },
);
